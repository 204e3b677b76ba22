"""Acoustic cavity with nonlinear scatterers, fitted to real measurements.

The PhyLL experiments (Momeni, Rahmani, Mallejac, del Hougne, Fleury, "Backpropagation-free
training of deep physical neural networks", *Science* 382, 1297 (2023)) drive a reverberant
acoustic cavity containing nonlinear scatterers with 20 input values and record 20 output
values. The 10 000 measured pairs shipped with that work (``phyll_acoustic/x_data.csv``,
``y_data.csv``) are the closest thing here to the device. :class:`AcousticCavity` is a small
neural surrogate fitted to them, as the authors did, used as a black-box physical layer.
:func:`acoustic_cavity_from_physics` builds the same kind of system from first principles
instead: a reverberant, chaotic 2-D cavity with nonlinear scatterers on the wave simulator.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from physnn._threads import one_blas_thread
from physnn.data import data_dir, require_data
from physnn.physical import PhysicalLayer

from ._mlp import MLP, fit_mlp
from .wave_cavity import CavityGeometry, WaveCavity

__all__ = ["AcousticCavity", "AcousticFit", "AcousticParams", "acoustic_cavity_from_physics",
           "load_acoustic_measurements", "variance_weighted_r2"]

_SPLIT = (9000, 300, 700)  # train / validation / test rows, in file order after the blank row
_CACHE: dict[tuple, tuple[MLP, AcousticFit, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}


def default_data_dir() -> Path:
    """The physnn data folder (:func:`physnn.data.data_dir`: ``$PHYSNN_DATA``, else a
    source checkout's ``../shared/data``)."""
    return data_dir()


def _measurement_folder(path: str | os.PathLike | None) -> Path:
    """The folder holding ``x_data.csv`` / ``y_data.csv``: ``path``, else ``phyll_acoustic``
    in the data folder; :class:`physnn.data.DataNotFoundError` when a file is missing."""
    if path is not None:
        return require_data("x_data.csv", "y_data.csv", path=path)
    names = ("phyll_acoustic/x_data.csv", "phyll_acoustic/y_data.csv")
    return require_data(*names) / "phyll_acoustic"


def load_acoustic_measurements(path: str | os.PathLike | None = None
                               ) -> tuple[np.ndarray, np.ndarray]:
    """Load the measured acoustic input/output pairs.

    Parameters
    ----------
    path : path-like, optional
        Folder holding ``x_data.csv`` and ``y_data.csv`` (10 001 rows x 20 columns each, row 0
        a blank measurement). Default: ``phyll_acoustic`` in the data folder
        (:func:`physnn.data.data_dir`).

    Returns
    -------
    x, y : ndarray, shape (10000, 20), float32
        Inputs in [0, 1] and measured outputs, the blank row 0 dropped.
    """
    folder = _measurement_folder(path)
    fx, fy = folder / "x_data.csv", folder / "y_data.csv"
    x = np.loadtxt(fx, delimiter=",", dtype=np.float64)
    y = np.loadtxt(fy, delimiter=",", dtype=np.float64)
    if x.ndim != 2 or x.shape != y.shape or x.shape[1] != 20 or len(x) < sum(_SPLIT) + 1:
        raise ValueError(
            f"{folder}: expected two tables of >= {sum(_SPLIT) + 1} rows x 20 columns, got "
            f"{x.shape} and {y.shape}")
    return x[1:].astype(np.float32), y[1:].astype(np.float32)


def variance_weighted_r2(pred: np.ndarray, target: np.ndarray) -> float:
    r"""Variance-weighted coefficient of determination over all outputs.

    .. math:: R^2 = 1 - \frac{\sum_{i,j} (\hat y_{ij} - y_{ij})^2}
                             {\sum_{i,j} (y_{ij} - \bar y_j)^2}

    (``sklearn.metrics.r2_score(..., multioutput="variance_weighted")``).
    """
    pred = np.asarray(pred, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    sse = np.sum((pred - target) ** 2)
    sst = np.sum((target - target.mean(axis=0)) ** 2)
    return float(1.0 - sse / sst)


@dataclass(frozen=True)
class AcousticFit:
    """How well the surrogate reproduces the held-out measurements.

    ``r2_test`` / ``r2_val``: variance-weighted R² of the surrogate on the 700 test / 300
    validation rows (rows 9301..10000 / 9001..9300 of the files); ``r2_test_linear``: the same
    for an affine least-squares fit on the 9000 training rows; ``r2_test_channel_mean``: the
    unweighted mean over the 20 outputs of the per-output R².
    """

    r2_test: float
    r2_val: float
    r2_test_linear: float
    r2_test_channel_mean: float
    hidden: tuple[int, ...]
    epochs: int
    seed: int


@dataclass(frozen=True)
class AcousticParams:
    """Physical parameters of :class:`AcousticCavity` that may drift.

    Parameters
    ----------
    input_gain : float
        Gain of the drive chain (loudspeaker amplifier); the drive is ``clip(g x, 0, 1)``.
    output_gain : float
        Gain of the receive chain (microphone preamplifier).
    noise : float
        Measurement-noise level, in units of the surrogate's per-output residual standard
        deviation on the validation rows (0: deterministic).
    """

    input_gain: float = 1.0
    output_gain: float = 1.0
    noise: float = 0.0


def _fit(folder: Path, seed: int, hidden: tuple[int, ...], epochs: int):
    x, y = load_acoustic_measurements(folder)
    n_tr, n_va, _ = _SPLIT
    xtr, ytr = x[:n_tr], y[:n_tr]
    xva, yva = x[n_tr:n_tr + n_va], y[n_tr:n_tr + n_va]
    xte, yte = x[n_tr + n_va:], y[n_tr + n_va:]
    # Outputs span four decades of variance. Scaling each by sqrt(std_j * std_all) balances
    # fidelity on the strong outputs (what variance-weighted R^2 measures) with the weak ones.
    y_mean = ytr.mean(axis=0)
    y_scale = np.sqrt(ytr.std(axis=0) * ytr.std()).astype(np.float32)
    rng = np.random.default_rng(seed)
    model = fit_mlp(2.0 * xtr - 1.0, (ytr - y_mean) / y_scale, hidden=hidden, epochs=epochs,
                    rng=rng, x_val=2.0 * xva - 1.0, t_val=(yva - y_mean) / y_scale)

    def predict(xx: np.ndarray) -> np.ndarray:
        return np.maximum(model(2.0 * xx - 1.0) * y_scale + y_mean, 0.0)

    a_tr = np.c_[xtr, np.ones(len(xtr))]
    w_lin = np.linalg.lstsq(a_tr, ytr, rcond=None)[0]
    pred_te = predict(xte)
    per_channel = 1.0 - ((pred_te - yte) ** 2).sum(0) / ((yte - yte.mean(0)) ** 2).sum(0)
    fit = AcousticFit(
        r2_test=variance_weighted_r2(pred_te, yte),
        r2_val=variance_weighted_r2(predict(xva), yva),
        r2_test_linear=variance_weighted_r2(np.c_[xte, np.ones(len(xte))] @ w_lin, yte),
        r2_test_channel_mean=float(np.mean(per_channel)),
        hidden=hidden, epochs=epochs, seed=seed,
    )
    resid_sd = (predict(xva) - yva).std(axis=0).astype(np.float32)
    for arr in (*model.params, y_mean, y_scale, resid_sd):  # shared by cached instances
        arr.flags.writeable = False
    return model, fit, y_mean, y_scale, resid_sd


class AcousticCavity(PhysicalLayer):
    r"""Real acoustic cavity with nonlinear scatterers, as a surrogate fitted to measurements.

    Example: ``layer = AcousticCavity.from_measurements(seed=0)``; ``y = layer(x)`` with
    ``x`` of shape (batch, 20) in [0, 1].

    Model. With the drive ``u = clip(g_in x, 0, 1)`` the output is

    .. math:: y = g_{out} \max\!\big(0,\; \mu + s \odot f_\theta(2u - 1)\big) + \sigma\,\xi,

    ``f_theta`` a tanh MLP (20 -> hidden -> hidden -> 20) fitted by Adam on 9000 measured
    rows (300 rows for model selection, 700 held out), ``mu`` and ``s`` the output offsets and
    scales of the training data, ``xi ~ N(0, 1)`` and ``sigma`` the ``noise`` parameter times
    the per-output validation residual. Outputs are the measured amplitudes (0 .. ~2,
    arbitrary units of the PhyLL data). :attr:`fit` reports the held-out R².

    Parameters
    ----------
    model, fit, y_mean, y_scale, resid_sd
        As built by :meth:`from_measurements`; use that constructor.
    params : AcousticParams, optional
        Drive / receive gains and measurement noise.
    seed : int
        Seed of the measurement-noise generator.
    """

    in_features = 20
    out_features = 20

    def __init__(self, model: MLP, fit: AcousticFit, y_mean: np.ndarray, y_scale: np.ndarray,
                 resid_sd: np.ndarray, *, params: AcousticParams | None = None,
                 seed: int = 0) -> None:
        super().__init__()
        self._model = model
        self.fit = fit
        self._y_mean = y_mean
        self._y_scale = y_scale
        self.residual_std = resid_sd
        self.seed = seed
        self._rng = np.random.default_rng(np.random.SeedSequence([seed, 1]))
        self.params = params if params is not None else AcousticParams()
        self._params_changed()

    @classmethod
    def from_measurements(
        cls,
        path: str | os.PathLike | None = None,
        *,
        seed: int = 0,
        hidden: tuple[int, ...] = (64, 64),
        epochs: int = 60,
        params: AcousticParams | None = None,
    ) -> AcousticCavity:
        """Fit the surrogate to the measurements (about a second; cached in memory).

        Parameters
        ----------
        path : path-like, optional
            Folder with ``x_data.csv`` / ``y_data.csv``; default ``phyll_acoustic`` in the
            data folder (``$PHYSNN_DATA``, else a source checkout's ``../shared/data``).
        seed : int
            Seeds the fit (initialisation, minibatch order) and the measurement noise.
        hidden : tuple of int
            Hidden-layer widths of the MLP.
        epochs : int
            Training epochs over the 9000 training rows.
        params : AcousticParams, optional
            Initial physical parameters.
        """
        hidden = tuple(int(h) for h in hidden)
        if not hidden or min(hidden) < 1:
            raise ValueError(f"hidden must be a non-empty tuple of positive ints, got {hidden}")
        if int(epochs) < 1:
            raise ValueError(f"epochs must be >= 1, got {epochs}")
        folder = _measurement_folder(path).resolve()
        stats = tuple((f.stat().st_size, f.stat().st_mtime_ns)
                      for f in (folder / "x_data.csv", folder / "y_data.csv"))
        key = (str(folder), stats, int(seed), hidden, int(epochs))
        if key not in _CACHE:
            with one_blas_thread():
                _CACHE[key] = _fit(folder, int(seed), hidden, int(epochs))
        model, fit, y_mean, y_scale, resid_sd = _CACHE[key]
        return cls(model, fit, y_mean, y_scale, resid_sd, params=params, seed=seed)

    def _params_changed(self) -> None:
        p = self.params
        if not isinstance(p, AcousticParams):
            raise TypeError(f"params must be AcousticParams, got {type(p).__name__}")
        for name in ("input_gain", "output_gain", "noise"):
            val = getattr(p, name)
            if not (math.isfinite(val) and val >= 0):
                raise ValueError(f"{name} must be finite and >= 0, got {val}")

    def _forward(self, x: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        p = self.params
        u = np.clip(x * np.float32(p.input_gain), 0.0, 1.0)
        with one_blas_thread():
            f = self._model(2.0 * u - 1.0)
        y = np.maximum(f * self._y_scale + self._y_mean, 0.0)
        y = y * np.float32(p.output_gain)
        if p.noise > 0:
            rng = self._rng if rng is None else rng
            y = y + np.float32(p.noise) * self.residual_std * rng.standard_normal(
                y.shape, dtype=np.float32)
        return y.astype(np.float32, copy=False)

    def __repr__(self) -> str:
        return (f"AcousticCavity(in_features=20, out_features=20, hidden={self.fit.hidden}, "
                f"r2_test={self.fit.r2_test:.4f}, seed={self.seed})")


def acoustic_cavity_from_physics(
    in_features: int = 20,
    *,
    n_probes: int = 10,
    n_windows: int = 2,
    shape: tuple[int, int] = (64, 64),
    n_scatterers: int = 10,
    n_nonlinear: int = 4,
    amplitude: float = 6.0,
    damping: float = 0.004,
    n_steps: int = 600,
    noise: float = 0.0,
    backend: str = "cpu",
    seed: int = 0,
) -> WaveCavity:
    r"""A chaotic acoustic cavity with nonlinear scatterers, simulated from the wave equation.

    Example: ``layer = acoustic_cavity_from_physics(20, seed=0)``; ``y = layer(x)`` maps 20
    inputs in [0, 1] to 20 outputs (10 microphones x 2 time windows: while the speakers play
    and while the room rings down).

    The cavity is a closed rectangle with rigid walls (no absorbing layer: a reverberant
    room, losses only through the weak background damping ``b``) holding ``n_scatterers``
    disks of another sound speed (0.6 or 1.5 times the background) at seeded random
    positions, which make the ray dynamics chaotic as in a Sinai billiard, and
    ``n_nonlinear`` disks of nonlinear material (speed
    :math:`c + 0.5 \min(u^2, 1)`, saturable damping :math:`0.05 / (1 + u^2 / 0.25)`). The
    field obeys (:mod:`physnn.wave`)

    .. math:: u_{tt} + 2 b\, u_t = c(x, y, u)^2 \nabla^2 u + s(x, y, t).

    Four loudspeakers on the left play the inputs as tones (feature ``k`` on speaker
    ``k mod 4``, amplitude ``amplitude * x_k``, 8 to 20 cells per wavelength) during the
    first half of the run; ``n_probes`` microphones at seeded random places in the right
    two thirds of the room integrate the intensity
    :math:`u^2` over ``n_windows`` windows (:class:`~hardware_models.wave_cavity.WaveCavity`
    with ``readout="windows"``). The nonlinear material and the quadratic readout make the
    response nonlinear, as in the measured cavity of the PhyLL experiments (Momeni et al.,
    *Science* 382, 1297 (2023)); with the default drive the field inside the nonlinear
    disks exceeds their saturation amplitude.

    Parameters
    ----------
    in_features : int
        Number of input tones.
    n_probes, n_windows : int
        Microphones and time windows; ``out_features = n_probes * n_windows``.
    shape : (ny, nx)
        Grid size in cells (cell size 1, background speed 1).
    n_scatterers, n_nonlinear : int
        Numbers of linear and nonlinear scatterers.
    amplitude : float
        Drive amplitude for a unit input.
    damping : float
        Background damping ``b`` (1/time).
    n_steps : int
        Time steps per query.
    noise : float
        Std of additive measurement noise on each output.
    backend : {"cpu", "cuda", "auto"}
        Where the wave simulation runs.
    seed : int
        Seeds the geometry and the measurement noise.
    """
    ny, nx = (int(s) for s in shape)
    if min(ny, nx) < 32:
        raise ValueError(f"shape must be at least 32 x 32 cells, got {shape}")
    for name, val in (("n_probes", n_probes), ("n_scatterers", n_scatterers),
                      ("n_nonlinear", n_nonlinear)):
        if int(val) < (1 if name == "n_probes" else 0):
            raise ValueError(f"{name} must be {'>= 1' if name == 'n_probes' else '>= 0'}, "
                             f"got {val}")
    rng = np.random.default_rng(np.random.SeedSequence([seed, 7]))
    scatterers = tuple(
        (float(rng.uniform(8, ny - 8)), float(rng.uniform(12, nx - 12)),
         float(rng.uniform(2.0, 4.0)), float(rng.choice([0.6, 1.5])))
        for _ in range(int(n_scatterers)))
    nonlinear = tuple(
        (float(rng.uniform(10, ny - 10)), float(rng.uniform(16, nx - 16)), 4.0)
        for _ in range(int(n_nonlinear)))
    has_nl = bool(nonlinear)
    geometry = CavityGeometry(
        shape=(ny, nx), damping=float(damping), scatterers=scatterers, nonlinear=nonlinear,
        c_nl=0.5 if has_nl else 0.0, b_nl=0.05 if has_nl else 0.0,
        u_sat=0.5 if has_nl else None, u_max=1.0,
        sources=tuple((int(y), 5) for y in np.linspace(10, ny - 11, 4)),
        probes=tuple((int(rng.integers(3, ny - 3)), int(rng.integers(nx // 3, nx - 3)))
                     for _ in range(int(n_probes))),
        absorb_width=0)
    return WaveCavity(geometry, int(in_features), n_steps=int(n_steps), amplitude=amplitude,
                      readout="windows", n_windows=int(n_windows), noise=noise,
                      backend=backend, seed=seed)
