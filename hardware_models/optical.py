"""Optical speckle layer: spatial light modulator -> scattering medium -> camera.

The model follows the optical extreme-learning / physical-neural-network set-ups in which an
input is written on a spatial light modulator (SLM), a coherent beam crosses a multimode fibre
or a diffuser, and a camera records the speckle (Popoff et al., *Phys. Rev. Lett.* 104,
100601 (2010), measuring the transmission matrix of a scattering medium; Saade et al.,
*ICASSP* 2016, "Random projections through multiple optical scattering"; Wright et al.,
*Nature* 601, 549 (2022), deep physical neural networks).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from physnn.physical import PhysicalLayer

__all__ = ["Camera", "OpticalParams", "OpticalSpeckle"]


@dataclass(frozen=True)
class Camera:
    """Camera (image sensor) model: photoelectrons, noise, saturation, digitisation.

    The expected photoelectron count of a pixel of intensity ``I`` (in units of the mean
    speckle intensity) is ``n = photons_per_unit * exposure * I``; the recorded count is
    ``e = Poisson(n) + N(0, read_noise^2)``, clipped to ``[0, full_well]`` (saturation), and
    digitised by a ``bit_depth``-bit ADC spanning the full well. The layer returns the digital
    number divided by ``2**bit_depth - 1``, i.e. a value in ``[0, 1]``.

    Parameters
    ----------
    photons_per_unit : float or None
        Mean photoelectrons [e-] per pixel at unit intensity and unit exposure. ``None``
        switches shot noise off (the expected count is used).
    read_noise : float
        Read-noise standard deviation [e- rms].
    full_well : float
        Full-well capacity [e-]; counts above it saturate.
    bit_depth : int or None
        ADC resolution [bits]; ``None`` keeps the analogue value.
    """

    photons_per_unit: float | None = 2000.0
    read_noise: float = 5.0
    full_well: float = 10000.0
    bit_depth: int | None = 8

    def __post_init__(self) -> None:
        if self.photons_per_unit is not None and not self.photons_per_unit > 0:
            raise ValueError(f"photons_per_unit must be > 0 or None, got {self.photons_per_unit}")
        if not self.read_noise >= 0:
            raise ValueError(f"read_noise must be >= 0, got {self.read_noise}")
        if not self.full_well > 0:
            raise ValueError(f"full_well must be > 0, got {self.full_well}")
        if self.bit_depth is not None and not (1 <= int(self.bit_depth) <= 32):
            raise ValueError(f"bit_depth must be in 1..32 or None, got {self.bit_depth}")


@dataclass(frozen=True)
class OpticalParams:
    """Physical parameters of :class:`OpticalSpeckle` that may drift.

    Parameters
    ----------
    exposure : float
        Exposure time times laser power, relative to nominal (1.0).
    decorrelation : float
        Transmission-matrix decorrelation ``eps`` in [0, 1] (fibre bending, temperature):
        ``T = sqrt(1 - eps^2) T0 + eps T1`` with ``T1`` an independent draw of the medium.
    """

    exposure: float = 1.0
    decorrelation: float = 0.0


class OpticalSpeckle(PhysicalLayer):
    r"""SLM -> multimode fibre / diffuser -> camera, as a black-box physical layer.

    Example: ``layer = OpticalSpeckle(in_shape=(28, 28), camera_shape=(26, 26), seed=1)``

    Physics. The input ``x`` (values in [0, 1], one per SLM pixel) sets the field

    .. math:: E_j = \frac{1}{\sqrt{N}} e^{i \phi_{max} x_j} \quad\text{(phase)},\qquad
              E_j = \frac{x_j}{\sqrt{N}} \quad\text{(amplitude; x clipped to [0, 1])}

    on ``N`` SLM pixels. The medium is a fixed complex Gaussian transmission matrix
    ``T`` (``M`` camera pixels x ``N``), entries i.i.d. circular :math:`\mathcal{CN}(0, 1)`,
    one independent speckle grain per camera pixel (Popoff et al. 2010). The camera sees the
    intensity

    .. math:: I_m = \Big|\sum_j T_{mj} E_j\Big|^2 ,

    which for a phase input is exponentially distributed with unit mean (fully developed
    speckle, contrast 1). The :class:`Camera` then adds shot and read noise, saturation and
    digitisation; finally ``pool x pool`` blocks of pixels are averaged into one feature.
    With ``camera=None`` the layer returns the noiseless intensity ``I`` (pooled).

    Parameters
    ----------
    in_features : int, optional
        Number of SLM pixels (give this or ``in_shape``).
    out_features : int, optional
        Number of output features; with ``camera_shape`` it must equal
        ``(h // pool) * (w // pool)``; without it the camera is a line of ``out_features``
        pixels and ``pool`` must be 1.
    in_shape : tuple of int, optional
        SLM grid ``(rows, cols)``; ``in_features = rows * cols``.
    camera_shape : tuple of int, optional
        Camera region of interest ``(h, w)`` in pixels.
    pool : int
        Side of the square block of camera pixels averaged into one feature.
    encoding : {"phase", "amplitude"}
        How the SLM writes ``x``.
    phase_depth : float
        Phase modulation depth :math:`\phi_{max}` [rad] for ``x = 1`` (phase encoding).
    camera : Camera or None
        Sensor model; ``None`` is an ideal noiseless intensity detector.
    params : OpticalParams, optional
        Exposure and transmission-matrix decorrelation (see :meth:`set_params`).
    seed : int
        Seeds the medium and the camera noise; equal seeds give equal layers.
    """

    def __init__(
        self,
        in_features: int | None = None,
        out_features: int | None = None,
        *,
        in_shape: tuple[int, int] | None = None,
        camera_shape: tuple[int, int] | None = None,
        pool: int = 1,
        encoding: str = "phase",
        phase_depth: float = math.pi,
        camera: Camera | None = Camera(),  # noqa: B008 - immutable
        params: OpticalParams | None = None,
        seed: int = 0,
    ) -> None:
        if in_shape is not None:
            in_shape = tuple(int(s) for s in in_shape)
            if len(in_shape) != 2 or min(in_shape) < 1:
                raise ValueError(f"in_shape must be (rows, cols) of positive ints, got {in_shape}")
            n_in = in_shape[0] * in_shape[1]
            if in_features is not None and in_features != n_in:
                raise ValueError(f"in_features={in_features} does not match in_shape={in_shape}")
        elif in_features is not None:
            n_in = int(in_features)
            if n_in < 1:
                raise ValueError(f"in_features must be positive, got {in_features}")
        else:
            raise ValueError("give in_features or in_shape (the SLM size)")
        if not isinstance(pool, (int, np.integer)) or pool < 1:
            raise ValueError(f"pool must be a positive integer, got {pool!r}")
        if camera_shape is not None:
            camera_shape = tuple(int(s) for s in camera_shape)
            if len(camera_shape) != 2 or min(camera_shape) < pool:
                raise ValueError(
                    f"camera_shape must be (h, w) with h, w >= pool={pool}, got {camera_shape}")
            n_out = (camera_shape[0] // pool) * (camera_shape[1] // pool)
            if out_features is not None and out_features != n_out:
                raise ValueError(
                    f"out_features={out_features} does not match camera_shape={camera_shape} "
                    f"with pool={pool} (expected {n_out})")
        elif out_features is not None:
            if pool != 1:
                raise ValueError("pool > 1 needs camera_shape=(h, w)")
            n_out = int(out_features)
            if n_out < 1:
                raise ValueError(f"out_features must be positive, got {out_features}")
            camera_shape = (1, n_out)
        else:
            raise ValueError("give out_features or camera_shape (the camera size)")
        if encoding not in ("phase", "amplitude"):
            raise ValueError(f"encoding must be 'phase' or 'amplitude', got {encoding!r}")
        if camera is not None and not isinstance(camera, Camera):
            raise TypeError(f"camera must be a Camera or None, got {type(camera).__name__}")
        super().__init__()
        self.in_features = n_in
        self.out_features = n_out
        self.in_shape = in_shape
        self.camera_shape = camera_shape
        self.pool = int(pool)
        self.encoding = encoding
        self.phase_depth = float(phase_depth)
        self.camera = camera
        self.seed = seed
        s_tm, s_tm2, s_noise = np.random.SeedSequence(seed).spawn(3)
        m = camera_shape[0] * camera_shape[1]
        self._t0 = self._gaussian_tm(np.random.default_rng(s_tm), n_in, m)
        self._t1_seed = s_tm2
        self._t1: np.ndarray | None = None
        self._rng = np.random.default_rng(s_noise)
        self.params = params if params is not None else OpticalParams()
        self._params_changed()

    @staticmethod
    def _gaussian_tm(rng: np.random.Generator, n: int, m: int) -> np.ndarray:
        # Stored transposed (N, M) so that a batch is E @ T^T; entries CN(0, 1).
        t = rng.standard_normal((n, m, 2), dtype=np.float32) * np.float32(math.sqrt(0.5))
        return t.view(np.complex64)[..., 0].copy()

    def _params_changed(self) -> None:
        p = self.params
        if not isinstance(p, OpticalParams):
            raise TypeError(f"params must be OpticalParams, got {type(p).__name__}")
        if not p.exposure >= 0:
            raise ValueError(f"exposure must be >= 0, got {p.exposure}")
        if not 0.0 <= p.decorrelation <= 1.0:
            raise ValueError(f"decorrelation must be in [0, 1], got {p.decorrelation}")
        if p.decorrelation == 0.0:
            self._tm = self._t0
        else:
            if self._t1 is None:
                self._t1 = self._gaussian_tm(np.random.default_rng(self._t1_seed),
                                             *self._t0.shape)
            eps = np.float32(p.decorrelation)
            self._tm = np.sqrt(np.float32(1) - eps * eps) * self._t0 + eps * self._t1

    @property
    def transmission_matrix(self) -> np.ndarray:
        """The current transmission matrix ``T``, complex64, shape (camera pixels, N)."""
        return self._tm.T

    def field(self, x: np.ndarray) -> np.ndarray:
        """SLM field ``E`` (complex64, shape (batch, N)) for valid inputs ``x``."""
        x = np.asarray(x, dtype=np.float32)
        scale = np.float32(1.0 / math.sqrt(self.in_features))
        if self.encoding == "phase":
            phi = np.float32(self.phase_depth) * x
            e = np.empty(x.shape, dtype=np.complex64)
            e.real = np.cos(phi) * scale
            e.imag = np.sin(phi) * scale
            return e
        return (np.clip(x, 0.0, 1.0) * scale).astype(np.complex64)

    def intensity(self, x: np.ndarray) -> np.ndarray:
        """Noiseless camera intensity ``|T E|^2`` (float32, shape (batch, h * w)), unpooled."""
        out = self.field(x) @ self._tm
        return (out.real * out.real + out.imag * out.imag).astype(np.float32, copy=False)

    def _forward(self, x: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        rng = self._rng if rng is None else rng
        img = self.intensity(x) * np.float32(self.params.exposure)
        cam = self.camera
        if cam is not None:
            n = img * np.float32(cam.photons_per_unit or 1.0)
            if cam.photons_per_unit is not None:
                n = rng.poisson(n).astype(np.float32)
            if cam.read_noise > 0:
                n += rng.standard_normal(n.shape, dtype=np.float32) * np.float32(cam.read_noise)
            n = np.clip(n, 0.0, cam.full_well) / np.float32(cam.full_well)
            if cam.bit_depth is not None:
                levels = np.float32(2 ** int(cam.bit_depth) - 1)
                n = np.floor(n * levels + np.float32(0.5)) / levels
            img = n.astype(np.float32, copy=False)
        if self.pool > 1:
            h, w = self.camera_shape
            p = self.pool
            img = img.reshape(len(img), h, w)[:, : h - h % p, : w - w % p]
            img = img.reshape(len(img), h // p, p, w // p, p).mean(axis=(2, 4))
            img = img.reshape(len(img), -1)
        return img

    def __repr__(self) -> str:
        return (f"OpticalSpeckle(in_features={self.in_features}, out_features="
                f"{self.out_features}, camera_shape={self.camera_shape}, pool={self.pool}, "
                f"encoding={self.encoding!r}, seed={self.seed})")
