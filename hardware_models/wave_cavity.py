"""A nonlinear wave cavity as a physical layer: sources -> scattering cavity -> probes.

The cavity is a 2-D medium simulated by :func:`physnn.wave.simulate_wave`: scatterers of
another wave speed, regions of nonlinear material (intensity-dependent speed, saturable
damping), optional rigid walls, and a graded absorbing layer along the border (or none, for a
reverberant cavity with rigid walls). Inputs are sent in as source waveforms, the field is
run for a fixed time, and the output is read at the probes. This is the wave-based recurrent
"physical neural network" of Hughes et al., *Sci. Adv.* 5, eaay6946 (2019) (the wavetorch
project), used here as a black box.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from physnn._io import atomic_savefig, atomic_write_json
from physnn.physical import PhysicalLayer
from physnn.wave import WaveMedium, simulate_wave

__all__ = ["CavityGeometry", "WaveCavity", "WaveCavityParams"]


def _pairs(name: str, value, n: int, kind=float) -> tuple[tuple, ...]:
    try:
        items = tuple(tuple(kind(v) for v in item) for item in value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a sequence of {n}-tuples of numbers: {exc}") from None
    for item in items:
        if len(item) != n:
            raise ValueError(f"each entry of {name} must have {n} numbers, got {item}")
    return items


@dataclass(frozen=True)
class CavityGeometry:
    """An immutable description of a wave cavity: grid, materials, sources and probes.

    Lengths and positions are in grid cells (cell ``(y, x)``; the physical length of a cell is
    ``h``); speeds in length per time; damping in 1/time. Saved and loaded as JSON
    (:meth:`save`, :meth:`load`), drawn as a PNG (:meth:`draw`), turned into the simulator's
    :class:`~physnn.wave.WaveMedium` by :meth:`medium`.

    Parameters
    ----------
    shape : (ny, nx)
        Grid size in cells; the outer ring of cells is a rigid wall.
    h : float
        Grid step (length of a cell).
    c0 : float
        Background wave speed.
    damping : float
        Background damping ``b0`` (1/time).
    scatterers : sequence of (y, x, radius, c)
        Disks of linear material of speed ``c``.
    nonlinear : sequence of (y, x, radius)
        Disks of nonlinear material: speed ``c_lin + c_nl min(u^2, u_max^2)``, damping
        ``b_nl / (1 + u^2 / u_sat^2)``.
    c_nl, b_nl, u_sat, u_max : float
        Parameters of the nonlinear material (``u_sat=None``: the damping does not saturate).
    walls : sequence of (y0, y1, x0, x1)
        Rigid boxes (cells ``y0 <= y < y1``, ``x0 <= x < x1``) held at ``u = 0``.
    sources, probes : sequence of (y, x)
        Cells of the point sources and of the probes.
    absorb_width : int
        Cells of the graded absorbing layer along the border (0: rigid, reverberant walls).
    absorb_power : float
        Power law of the layer's damping profile.
    """

    shape: tuple[int, int] = (100, 160)
    h: float = 1.0
    c0: float = 1.0
    damping: float = 0.0
    scatterers: tuple[tuple[float, float, float, float], ...] = ()
    nonlinear: tuple[tuple[float, float, float], ...] = ()
    c_nl: float = 0.0
    b_nl: float = 0.0
    u_sat: float | None = None
    u_max: float = 1.0
    walls: tuple[tuple[int, int, int, int], ...] = ()
    sources: tuple[tuple[int, int], ...] = ((50, 30),)
    probes: tuple[tuple[int, int], ...] = ((30, 130), (50, 130), (70, 130))
    absorb_width: int = 20
    absorb_power: float = 4.0

    def __post_init__(self) -> None:
        shape = tuple(int(s) for s in self.shape)
        if len(shape) != 2 or min(shape) < 3:
            raise ValueError(f"shape must be (ny, nx) with both >= 3, got {self.shape}")
        set_ = object.__setattr__
        set_(self, "shape", shape)
        set_(self, "scatterers", _pairs("scatterers", self.scatterers, 4))
        set_(self, "nonlinear", _pairs("nonlinear", self.nonlinear, 3))
        set_(self, "walls", _pairs("walls", self.walls, 4, int))
        set_(self, "sources", _pairs("sources", self.sources, 2, int))
        set_(self, "probes", _pairs("probes", self.probes, 2, int))
        if not self.sources or not self.probes:
            raise ValueError("a cavity needs at least one source and one probe")
        ny, nx = shape
        for name in ("sources", "probes"):
            for y, x in getattr(self, name):
                if not (1 <= y <= ny - 2 and 1 <= x <= nx - 2):
                    raise ValueError(
                        f"{name} cell (y={y}, x={x}) is outside the interior of the "
                        f"{ny} x {nx} grid (use 1 <= y <= {ny - 2}, 1 <= x <= {nx - 2})"
                    )
        for r in self.scatterers:
            if not r[3] > 0:
                raise ValueError(f"scatterer speed must be > 0, got {r}")
        if self.u_sat is not None and not self.u_sat > 0:
            raise ValueError(f"u_sat must be > 0 or None, got {self.u_sat}")

    # --- maps ---------------------------------------------------------------------------------

    def _disk(self, y: float, x: float, radius: float) -> np.ndarray:
        yy, xx = np.indices(self.shape)
        return (yy - y) ** 2 + (xx - x) ** 2 <= radius**2

    def maps(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(c, nonlinear, walls)``: linear speed map and the two boolean masks, (ny, nx)."""
        c = np.full(self.shape, float(self.c0))
        for y, x, r, speed in self.scatterers:
            c[self._disk(y, x, r)] = speed
        nl = np.zeros(self.shape, bool)
        for y, x, r in self.nonlinear:
            nl |= self._disk(y, x, r)
        walls = np.zeros(self.shape, bool)
        for y0, y1, x0, x1 in self.walls:
            walls[max(y0, 0):y1, max(x0, 0):x1] = True
        return c, nl, walls

    def medium(self, speed_scale: float = 1.0) -> WaveMedium:
        """The simulator's medium (all wave speeds multiplied by ``speed_scale``)."""
        c, nl, walls = self.maps()
        damping = np.full(self.shape, float(self.damping))
        damping[nl] = self.b_nl
        return WaveMedium.build(
            c * speed_scale, h=self.h, damping=damping, nonlinear=nl,
            c_nl=self.c_nl * speed_scale,
            u_sat=math.inf if self.u_sat is None else self.u_sat, u_max=self.u_max,
            walls=walls, absorb_width=self.absorb_width, absorb_power=self.absorb_power,
        )

    # --- persistence --------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary (tuples become lists)."""
        d = dataclasses.asdict(self)
        return json.loads(json.dumps(d))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CavityGeometry:
        """Inverse of :meth:`to_dict`; unknown keys are an error."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown cavity geometry field(s) {unknown}; valid: {sorted(names)}")
        return cls(**d)

    def save(self, path: str | os.PathLike) -> None:
        """Write the geometry as JSON (atomically)."""
        atomic_write_json(path, {"cavity_geometry": self.to_dict()})

    @classmethod
    def load(cls, path: str | os.PathLike) -> CavityGeometry:
        """Read a geometry written by :meth:`save`."""
        with open(path) as fh:
            data = json.load(fh)
        if not isinstance(data, dict) or "cavity_geometry" not in data:
            raise ValueError(f"{path} does not hold a cavity geometry (no 'cavity_geometry' key)")
        return cls.from_dict(data["cavity_geometry"])

    @classmethod
    def example(cls, shape: tuple[int, int] = (100, 160), *, n_scatterers: int = 12,
                nonlinear: bool = True, seed: int = 0) -> CavityGeometry:
        """A cavity with random scatterers between one source (left) and three probes (right),
        and (optionally) a disk of nonlinear material in the middle."""
        ny, nx = shape
        rng = np.random.default_rng(seed)
        w = 20 if min(shape) >= 60 else max(1, min(shape) // 6)
        scat = tuple(
            (float(rng.uniform(w + 5, ny - w - 5)), float(rng.uniform(0.3 * nx, 0.7 * nx)),
             float(rng.uniform(2.0, 4.0)), float(rng.choice([0.6, 1.5])))
            for _ in range(n_scatterers)
        )
        nl = ((ny / 2, nx / 2, 0.12 * min(shape)),) if nonlinear else ()
        px = nx - w - 8
        return cls(shape=shape, scatterers=scat, nonlinear=nl, c_nl=0.5 if nonlinear else 0.0,
                   b_nl=0.05 if nonlinear else 0.0, u_sat=0.5 if nonlinear else None,
                   sources=((ny // 2, w + 8),),
                   probes=((ny // 2 - ny // 5, px), (ny // 2, px), (ny // 2 + ny // 5, px)),
                   absorb_width=w)

    # --- drawing ------------------------------------------------------------------------------

    def plot(self, ax, field: np.ndarray | None = None) -> None:
        """Draw the geometry (and optionally a field snapshot under it) on a matplotlib axis."""
        from matplotlib.colors import TwoSlopeNorm

        c, nl, walls = self.maps()
        if field is not None:
            lim = float(np.abs(field).max()) or 1.0
            ax.imshow(field, cmap="RdBu_r", norm=TwoSlopeNorm(0, -lim, lim), origin="upper")
            scat = c != self.c0
            if scat.any():
                ax.contour(scat.astype(float), levels=[0.5], colors="k", linewidths=0.6)
        else:
            ax.imshow(c, cmap="Greys", origin="upper")
        if nl.any():
            ax.contour(nl.astype(float), levels=[0.5], colors="tab:green", linewidths=1.2)
        if walls.any():
            ax.imshow(np.ma.masked_where(~walls, walls), cmap="Greys_r", origin="upper",
                      alpha=0.8)
        if self.absorb_width:
            w = self.absorb_width
            ny, nx = self.shape
            ax.plot([w, nx - 1 - w, nx - 1 - w, w, w], [w, w, ny - 1 - w, ny - 1 - w, w],
                    ls="--", color="0.5", lw=0.8)
        sy, sx = np.array(self.sources).T
        py, px = np.array(self.probes).T
        ax.plot(sx, sy, "o", color="tab:orange", ms=6, label="source")
        ax.plot(px, py, "s", color="tab:purple", ms=6, label="probe")
        ax.set_xlabel("x [cells]")
        ax.set_ylabel("y [cells]")

    def draw(self, path: str | os.PathLike) -> None:
        """Write a PNG of the geometry: speed map, nonlinear material (green), rigid walls,
        absorbing layer (dashed), sources and probes."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 6 * self.shape[0] / self.shape[1] + 0.8))
        self.plot(ax)
        ax.legend(loc="upper right", fontsize=8)
        ax.set_title("wave cavity")
        fig.tight_layout()
        atomic_savefig(fig, path, dpi=120)
        plt.close(fig)


@dataclass(frozen=True)
class WaveCavityParams:
    """Physical parameters of :class:`WaveCavity` that may drift.

    Parameters
    ----------
    drive : float
        Source gain (amplitude of the drive for a unit input), relative to nominal.
    speed_scale : float
        All wave speeds relative to nominal (e.g. temperature).
    """

    drive: float = 1.0
    speed_scale: float = 1.0


class WaveCavity(PhysicalLayer):
    r"""A (nonlinear) wave cavity as a black-box physical layer.

    Encoding (``encoding="tones"``): feature ``k`` drives source ``k mod S`` with a tone of
    frequency :math:`f_k`, amplitude-modulated by the input and shaped by a Hann window over
    the first ``drive_fraction`` of the run,

    .. math:: s_j(t) = A \sum_{k:\,k \bmod S = j} x_k \sin(2\pi f_k t)\, w(t).

    With ``encoding="waveform"`` the input *is* the source waveform (e.g. audio resampled to
    ``1/dt``): sample ``n`` of ``x`` drives every source at step ``n``, times ``A``.

    Readout: ``"windows"`` integrates the probes' intensity :math:`u^2` over ``n_windows``
    equal windows of the run (``out_features = n_probes * n_windows``); ``"spectrum"`` gives
    the magnitude of each probe's spectrum at ``readout_frequencies``,
    :math:`|\sum_n u(n\,dt)\, e^{-2\pi i f n dt}|\,dt` (``n_probes * n_frequencies``);
    ``"bands"`` gives the power of each probe's signal in the frequency bands between
    consecutive ``band_edges`` (a band-pass filter bank and power detector at each probe),
    :math:`\sum_{f_a \le f_m < f_{a+1}} |\hat u(f_m)|^2 \, dt / N` with :math:`\hat u` the
    DFT of the Hann-windowed signal over the last ``band_steps`` steps
    (``n_probes * (len(band_edges) - 1)``). Outputs are probe-major. Optional additive
    Gaussian measurement noise of std ``noise``.

    Parameters
    ----------
    geometry : CavityGeometry
    in_features : int
        Number of input features (tones) or waveform samples.
    encoding : {"tones", "waveform"}
    n_steps : int
        Time steps per query (for ``"waveform"``, at least ``in_features``).
    dt : float, optional
        Time step; default ``0.8 * h / (c_max sqrt(2))`` (room for a 25 % speed drift).
    frequencies : sequence of float, optional
        Tone frequencies (1/time), one per feature; default evenly spaced between
        ``c0 / (20 h)`` and ``c0 / (8 h)`` (8 to 20 cells per wavelength).
    drive_fraction : float
        Part of the run during which the tones are on.
    amplitude : float
        Drive amplitude ``A`` (field / time^2) for a unit input.
    readout : {"windows", "spectrum", "bands"}
    n_windows : int
        Time windows of the ``"windows"`` readout.
    readout_frequencies : sequence of float, optional
        Frequencies of the ``"spectrum"`` readout; default the tone frequencies.
    band_edges : sequence of float, optional
        Increasing band edges (1/time) of the ``"bands"`` readout, within ``(0, 1/(2 dt)]``;
        default 8 log-spaced bands from ``c0 / (40 h)`` to ``c0 / (4 h)``.
    band_steps : int, optional
        Steps at the end of the run analysed by the ``"bands"`` readout (default all).
    noise : float
        Std of additive Gaussian noise on each output.
    params : WaveCavityParams, optional
    backend : {"cpu", "cuda", "auto"}
    seed : int
        Seeds the measurement noise when ``forward`` gets no ``rng``.
    """

    def __init__(
        self,
        geometry: CavityGeometry,
        in_features: int,
        *,
        encoding: Literal["tones", "waveform"] = "tones",
        n_steps: int = 1000,
        dt: float | None = None,
        frequencies: np.ndarray | None = None,
        drive_fraction: float = 0.5,
        amplitude: float = 1.0,
        readout: Literal["windows", "spectrum", "bands"] = "windows",
        n_windows: int = 4,
        readout_frequencies: np.ndarray | None = None,
        band_edges: np.ndarray | None = None,
        band_steps: int | None = None,
        noise: float = 0.0,
        params: WaveCavityParams | None = None,
        backend: str = "cpu",
        seed: int = 0,
    ) -> None:
        super().__init__()
        if not isinstance(geometry, CavityGeometry):
            raise TypeError(f"geometry must be a CavityGeometry, got {type(geometry)}")
        if not (isinstance(in_features, int | np.integer) and in_features >= 1):
            raise ValueError(f"in_features must be a positive int, got {in_features!r}")
        if encoding not in ("tones", "waveform"):
            raise ValueError(f"encoding must be 'tones' or 'waveform', got {encoding!r}")
        if readout not in ("windows", "spectrum", "bands"):
            raise ValueError(f"readout must be 'windows', 'spectrum' or 'bands', got {readout!r}")
        if not (isinstance(n_steps, int | np.integer) and n_steps >= 1):
            raise ValueError(f"n_steps must be a positive int, got {n_steps!r}")
        if encoding == "waveform" and n_steps < in_features:
            raise ValueError(f"n_steps={n_steps} is shorter than the waveform ({in_features})")
        if not 0 < drive_fraction <= 1:
            raise ValueError(f"drive_fraction must be in (0, 1], got {drive_fraction}")
        if not noise >= 0:
            raise ValueError(f"noise must be >= 0, got {noise}")
        self.geometry = geometry
        self.in_features = int(in_features)
        self.encoding = encoding
        self.n_steps = int(n_steps)
        self.readout = readout
        self.amplitude = float(amplitude)
        self.noise = float(noise)
        self.backend = backend
        self.params = params or WaveCavityParams()
        self._rng = np.random.default_rng(seed)
        self._medium = geometry.medium(self.params.speed_scale)
        self.dt = float(dt) if dt is not None else 0.8 * self._medium.max_dt
        if self.dt > self._medium.max_dt:
            raise ValueError(
                f"dt={self.dt} exceeds the CFL bound {self._medium.max_dt:.6g} of this cavity"
            )
        c0, h = geometry.c0, geometry.h
        if frequencies is None:
            frequencies = np.linspace(c0 / (20 * h), c0 / (8 * h), self.in_features)
        self.frequencies = np.asarray(frequencies, np.float64)
        if encoding == "tones" and self.frequencies.shape != (self.in_features,):
            raise ValueError(f"frequencies must have one entry per feature ({self.in_features}), "
                             f"got shape {self.frequencies.shape}")
        nyquist = 0.5 / self.dt
        if np.any(self.frequencies <= 0) or np.any(self.frequencies >= nyquist):
            raise ValueError(f"frequencies must lie in (0, 1/(2 dt) = {nyquist:.4g})")
        t = np.arange(self.n_steps) * self.dt
        n_drive = max(2, int(round(drive_fraction * self.n_steps)))
        window = np.zeros(self.n_steps)
        window[:n_drive] = np.hanning(n_drive)[: self.n_steps]
        self._tones = np.sin(2 * np.pi * self.frequencies[:, None] * t[None, :]) * window
        n_src = len(geometry.sources)
        self._feature_source = np.arange(self.in_features) % n_src
        n_probes = len(geometry.probes)
        if readout == "windows":
            if not (isinstance(n_windows, int | np.integer) and 1 <= n_windows <= self.n_steps):
                raise ValueError(f"n_windows must be in 1..n_steps, got {n_windows!r}")
            self._edges = np.linspace(0, self.n_steps, int(n_windows) + 1).round().astype(int)
            self.out_features = n_probes * int(n_windows)
        elif readout == "bands":
            self._setup_bands(band_edges, band_steps, n_probes)
        else:
            rf = self.frequencies if readout_frequencies is None else readout_frequencies
            self.readout_frequencies = np.asarray(rf, np.float64).ravel()
            if self.readout_frequencies.size == 0:
                raise ValueError("readout_frequencies must not be empty")
            self._dft = np.exp(-2j * np.pi * self.readout_frequencies[:, None] * t[None, :])
            self.out_features = n_probes * self.readout_frequencies.size

    def _setup_bands(self, band_edges, band_steps, n_probes: int) -> None:
        c0, h = self.geometry.c0, self.geometry.h
        if band_edges is None:
            band_edges = np.geomspace(c0 / (40 * h), c0 / (4 * h), 9)
        edges = np.asarray(band_edges, np.float64).ravel()
        nyquist = 0.5 / self.dt
        if edges.size < 2 or np.any(np.diff(edges) <= 0) or edges[0] <= 0 or edges[-1] > nyquist:
            raise ValueError("band_edges must be at least 2 increasing frequencies in "
                             f"(0, 1/(2 dt) = {nyquist:.4g}], got {edges}")
        n = self.n_steps if band_steps is None else band_steps
        if not (isinstance(n, int | np.integer) and 2 <= n <= self.n_steps):
            raise ValueError(f"band_steps must be an int in 2..n_steps={self.n_steps}, "
                             f"got {band_steps!r}")
        f = np.fft.rfftfreq(int(n), self.dt)
        band = np.searchsorted(edges, f, side="right") - 1
        band[(f < edges[0]) | (f >= edges[-1])] = -1
        empty = sorted(set(range(edges.size - 1)) - set(band[band >= 0].tolist()))
        if empty:
            raise ValueError(f"bands {empty} of band_edges hold no DFT frequency of the "
                             f"{n}-step readout (resolution {1 / (n * self.dt):.4g}); widen "
                             "them or analyse more steps")
        self.band_edges = edges
        self._band_steps = int(n)
        self._band_of_bin = band
        self.out_features = n_probes * (edges.size - 1)

    def _params_changed(self) -> None:
        medium = self.geometry.medium(self.params.speed_scale)
        if self.dt > medium.max_dt:
            raise ValueError(
                f"speed_scale={self.params.speed_scale} makes the time step dt={self.dt} exceed "
                f"the CFL bound {medium.max_dt:.6g}; build the cavity with a smaller dt"
            )
        self._medium = medium

    def forcing(self, x: np.ndarray) -> np.ndarray:
        """Source waveforms ``(n_steps, batch, n_sources)`` float32 for inputs ``x``."""
        x = np.asarray(x, np.float64)
        batch = x.shape[0]
        n_src = len(self.geometry.sources)
        gain = self.amplitude * self.params.drive
        f = np.zeros((self.n_steps, batch, n_src))
        if self.encoding == "tones":
            for j in range(n_src):
                sel = self._feature_source == j
                f[:, :, j] = self._tones[sel].T @ x[:, sel].T
        else:
            f[: self.in_features] = x.T[:, :, None]
        return (gain * f).astype(np.float32)

    def probe_signals(self, x: np.ndarray, measure: Literal["field", "intensity"] = "field"
                      ) -> np.ndarray:
        """The probes' signals ``(n_steps, batch, n_probes)`` for inputs ``x`` (batch, in).

        A diagnostic view of the simulation (not counted as a query)."""
        x = np.atleast_2d(np.asarray(x, np.float32))
        if x.shape[1] != self.in_features:
            raise ValueError(f"x must have shape (batch, {self.in_features}), got {x.shape}")
        return simulate_wave(self._medium, self.forcing(x), dt=self.dt,
                             sources=self.geometry.sources, probes=self.geometry.probes,
                             measure=measure, return_state=False, backend=self.backend).probes

    def _forward(self, x: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        if self.readout == "windows":
            sig = self.probe_signals(x, "intensity").astype(np.float64)
            cum = np.concatenate([np.zeros((1,) + sig.shape[1:]), np.cumsum(sig, axis=0)])
            win = (cum[self._edges[1:]] - cum[self._edges[:-1]]) * self.dt  # (W, B, P)
            y = win.transpose(1, 2, 0)  # (B, P, W)
        elif self.readout == "bands":
            sig = self.probe_signals(x, "field").astype(np.float64)[-self._band_steps:]
            n = self._band_steps
            spec = np.abs(np.fft.rfft(sig * np.hanning(n)[:, None, None], axis=0)) ** 2
            nb = self.band_edges.size - 1
            y = np.zeros((nb,) + spec.shape[1:])
            keep = self._band_of_bin >= 0
            np.add.at(y, self._band_of_bin[keep], spec[keep])
            y = (y * (self.dt / n)).transpose(1, 2, 0)  # (B, P, bands)
        else:
            sig = self.probe_signals(x, "field").astype(np.float64)
            y = np.abs(np.einsum("ft,tbp->bpf", self._dft, sig)) * self.dt
        y = y.reshape(x.shape[0], self.out_features)
        if self.noise > 0:
            y = y + self.noise * (rng or self._rng).standard_normal(y.shape)
        return y.astype(np.float32)

    def __repr__(self) -> str:
        return (f"WaveCavity(in_features={self.in_features}, out_features={self.out_features}, "
                f"grid={self.geometry.shape}, n_steps={self.n_steps}, encoding={self.encoding!r}, "
                f"readout={self.readout!r})")
