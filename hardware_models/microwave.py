"""Microwave cavity parametrised by a programmable metasurface, as coupled dipoles (PhysFad).

Follows PhysFad (Faqiri, Saigre-Tardif, Alexandropoulos, Shlezinger, Imani, del Hougne,
"PhysFad: Physics-Based End-to-End Channel Modeling of RIS-Parametrized Environments With
Adjustable Fading", *IEEE Trans. Wireless Commun.* 22, 580 (2023)), the model used for the
microwave experiments of physical local learning (Momeni et al., *Science* 382, 1297 (2023)).
Units are PhysFad's dimensionless ones: speed of light 1, so a frequency ``f = 1`` has
wavelength 1 and the lengths below are in wavelengths at ``f = 1``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import hankel2

from physnn._threads import one_blas_thread
from physnn.physical import PhysicalLayer

__all__ = ["MicrowaveCavity", "MicrowaveParams"]


@dataclass(frozen=True)
class MicrowaveParams:
    """Physical parameters of :class:`MicrowaveCavity` that may drift.

    Parameters
    ----------
    detuning : float
        Relative shift of every dipole resonance frequency (thermal expansion, ageing):
        ``f_res -> f_res (1 + detuning)``.
    absorption : float
        Absorption ``gamma`` of the enclosure and scatterer dipoles (PhysFad's fading knob:
        0 is a lossless reverberant cavity, larger values damp the reverberation).
    noise : float
        Standard deviation of complex additive measurement noise on the transfer function
        (a vector network analyser's noise floor), in the units of ``|S21|``.
    """

    detuning: float = 0.0
    absorption: float = 0.0
    noise: float = 0.0


class MicrowaveCavity(PhysicalLayer):
    r"""Reverberant 2-D microwave enclosure with a binary programmable metasurface (PhysFad).

    Example: ``layer = MicrowaveCavity(in_features=20, n_elements=40, seed=0)``; ``y = layer(x)``
    maps ``x`` in [0, 1] of shape (batch, 20) to ``|S21|`` at 20 frequencies.

    Model. Every object is a dipole ``i`` at ``r_i`` with Lorentzian inverse polarisability

    .. math:: \alpha_i^{-1}(\omega) = \frac{\omega_{R,i}^2 - \omega^2}{\chi_i^2}
              + i\Big(\frac{k^2}{4} + \frac{\omega \gamma_i}{\chi_i^2}\Big),
              \qquad k = \omega = 2\pi f,

    (resonance ``omega_R``, coupling strength ``chi``, absorption ``gamma``; the ``k^2/4``
    term is radiation damping). Dipoles interact through the 2-D free-space Green's function,
    giving the symmetric interaction matrix

    .. math:: W_{ii} = \alpha_i^{-1}, \qquad
              W_{ij} = \frac{i k^2}{4} H_0^{(2)}(k |r_i - r_j|) \quad (i \ne j),

    and multiple scattering to all orders is the inverse: the transfer function between the
    transmitting antenna ``T`` and the receiving antenna ``R`` is
    :math:`S_{21} = H_{RT} = W_{RR} (W^{-1})_{RT}`. The input sets the metasurface: each of
    the ``in_features`` values in [0, 1] is quantised to ``b = n_elements / in_features``
    bits, ``floor(x 2^b)`` clipped to ``2^b - 1``, whose binary digits switch ``b`` elements
    between "on" (``f_R = 1``, resonant in the band) and "off" (``f_R = 5``). The output is
    ``|S21|`` at each of ``frequencies``. Since the elements enter ``W`` on the diagonal and
    the response is ``W^{-1}``, it is nonlinear in the configuration.

    Geometry (fixed, lengths in wavelengths at f = 1): a ``6 x 5`` rectangular enclosure of
    wall dipoles spaced 0.25 apart (``f_R = 10``, ``chi = 50``: stiff, near-perfect
    reflectors), ``n_scatterers`` wall-type dipoles at seeded random positions inside (the
    seed fixes the disorder), the metasurface elements (``chi = 0.2``) in a line along the
    lower wall, and two antennas (``f_R = 1``, ``chi = 0.5``, ``gamma = 0``) as in PhysFad's
    example. Only the metasurface diagonal changes with the input, so :meth:`transfer` uses
    the Schur complement on the metasurface block: one ``n_elements``-sized solve per
    configuration and frequency.

    Parameters
    ----------
    in_features : int
        Number of input values.
    n_elements : int
        Number of binary metasurface elements (a multiple of ``in_features``).
    frequencies : array-like, optional
        Frequencies at which ``|S21|`` is read (default 20 points in [0.9, 1.1]).
    n_scatterers : int
        Number of randomly placed scatterers inside the enclosure.
    params : MicrowaveParams, optional
        Detuning, absorption and measurement noise (see :meth:`set_params`).
    seed : int
        Seeds the scatterer positions and the measurement noise.
    """

    _F_ON, _F_OFF, _CHI_RIS = 1.0, 5.0, 0.2
    _F_WALL, _CHI_WALL = 10.0, 50.0
    _F_ANT, _CHI_ANT = 1.0, 0.5
    _SIZE = (6.0, 5.0)

    def __init__(
        self,
        in_features: int = 20,
        n_elements: int = 40,
        frequencies: np.ndarray | list[float] | None = None,
        *,
        n_scatterers: int = 12,
        params: MicrowaveParams | None = None,
        seed: int = 0,
    ) -> None:
        if int(in_features) < 1:
            raise ValueError(f"in_features must be positive, got {in_features}")
        if int(n_elements) < 1 or int(n_elements) % int(in_features):
            raise ValueError(
                f"n_elements must be a positive multiple of in_features={in_features}, "
                f"got {n_elements}")
        freqs = (np.linspace(0.9, 1.1, 20) if frequencies is None
                 else np.asarray(frequencies, dtype=np.float64).ravel())
        if freqs.size == 0 or not np.all(np.isfinite(freqs)) or np.any(freqs <= 0):
            raise ValueError("frequencies must be a non-empty list of positive finite numbers")
        if int(n_scatterers) < 0:
            raise ValueError(f"n_scatterers must be >= 0, got {n_scatterers}")
        super().__init__()
        self.in_features = int(in_features)
        self.n_elements = int(n_elements)
        self.bits = self.n_elements // self.in_features
        if self.bits > 16:
            raise ValueError(f"at most 16 elements per input feature, got {self.bits}")
        self.frequencies = freqs
        self.out_features = freqs.size
        self.seed = seed
        s_geom, s_noise = np.random.SeedSequence(seed).spawn(2)
        self._build_geometry(np.random.default_rng(s_geom), int(n_scatterers))
        self._rng = np.random.default_rng(s_noise)
        self.params = params if params is not None else MicrowaveParams()
        self._params_changed()

    # -- geometry -------------------------------------------------------------------------
    def _build_geometry(self, rng: np.random.Generator, n_scatterers: int) -> None:
        lx, ly = self._SIZE
        h = 0.25
        xs = np.arange(0.0, lx + 1e-9, h)
        ys = np.arange(h, ly - 1e-9, h)
        walls = np.concatenate([
            np.c_[xs, np.zeros_like(xs)], np.c_[xs, np.full_like(xs, ly)],
            np.c_[np.zeros_like(ys), ys], np.c_[np.full_like(ys, lx), ys]])
        scat = np.c_[rng.uniform(0.8, lx - 0.8, n_scatterers),
                     rng.uniform(0.8, ly - 0.8, n_scatterers)]
        ris_x = np.linspace(0.5, lx - 0.5, self.n_elements)
        ris = np.c_[ris_x, np.full_like(ris_x, 0.3)]
        ports = np.array([[1.3, 3.6], [4.7, 3.1]])  # transmitter, receiver
        self.positions = {"ports": ports, "environment": np.r_[walls, scat], "metasurface": ris}

    # -- physics --------------------------------------------------------------------------
    @staticmethod
    def _inv_alpha(f: np.ndarray, f_res, chi, gamma) -> np.ndarray:
        w = 2 * np.pi * f
        return (((2 * np.pi * f_res) ** 2 - w**2) / chi**2
                + 1j * (w**2 / 4 + w * gamma / chi**2))

    def _params_changed(self) -> None:
        p = self.params
        if not isinstance(p, MicrowaveParams):
            raise TypeError(f"params must be MicrowaveParams, got {type(p).__name__}")
        if not (math.isfinite(p.detuning) and p.detuning > -0.5):
            raise ValueError(f"detuning must be finite and > -0.5, got {p.detuning}")
        if not (math.isfinite(p.absorption) and p.absorption >= 0):
            raise ValueError(f"absorption must be finite and >= 0, got {p.absorption}")
        if not (math.isfinite(p.noise) and p.noise >= 0):
            raise ValueError(f"noise must be finite and >= 0, got {p.noise}")
        scale = 1.0 + p.detuning
        pos = self.positions
        fixed = np.r_[pos["ports"], pos["environment"]]
        n_a, n_r = len(fixed), self.n_elements
        allpos = np.r_[fixed, pos["metasurface"]]
        dist = np.linalg.norm(allpos[:, None, :] - allpos[None, :, :], axis=-1)
        off = ~np.eye(len(allpos), dtype=bool)
        f = self.frequencies[:, None]
        k = 2 * np.pi * self.frequencies
        inv_fixed = np.concatenate([
            self._inv_alpha(f, self._F_ANT * scale, self._CHI_ANT, 0.0) * np.ones((1, 2)),
            self._inv_alpha(f, self._F_WALL * scale, self._CHI_WALL, p.absorption)
            * np.ones((1, n_a - 2))], axis=1)                                    # (F, n_a)
        self._inv_on = self._inv_alpha(self.frequencies, self._F_ON * scale, self._CHI_RIS, 0.0)
        self._inv_off = self._inv_alpha(self.frequencies, self._F_OFF * scale, self._CHI_RIS, 0.0)
        with one_blas_thread():
            self._precompute(k, dist, off, inv_fixed, n_a, n_r)

    def _precompute(self, k, dist, off, inv_fixed, n_a, n_r) -> None:
        nf = len(k)
        s0 = np.empty((nf, n_r, n_r), dtype=np.complex128)
        u = np.empty((nf, n_r, 2), dtype=np.complex128)
        g_pp = np.empty((nf, 2, 2), dtype=np.complex128)
        self._w_ports = inv_fixed[:, :2].copy()
        for i, kk in enumerate(k):
            w = np.zeros(dist.shape, dtype=np.complex128)
            w[off] = 1j * kk**2 / 4 * hankel2(0, kk * dist[off])
            w_aa = w[:n_a, :n_a].copy()
            w_aa[np.diag_indices(n_a)] = inv_fixed[i]
            w_ar, w_rr = w[:n_a, n_a:], w[n_a:, n_a:]
            a_inv_ar = np.linalg.solve(w_aa, w_ar)                   # W_AA^-1 W_AR
            a_inv_pp = np.linalg.solve(w_aa, np.eye(n_a)[:, :2])     # W_AA^-1 [:, ports]
            s0[i] = w_rr - w_ar.T @ a_inv_ar
            u[i] = a_inv_ar[:2].T                                    # (W_RA W_AA^-1)[:, ports]
            g_pp[i] = a_inv_pp[:2]
        self._s0, self._u, self._g_pp = s0, u, g_pp

    def states(self, x: np.ndarray) -> np.ndarray:
        """Binary metasurface states (uint8, shape (batch, n_elements)) for inputs ``x``."""
        x = np.asarray(x, dtype=np.float64)
        levels = 2**self.bits
        q = np.clip(np.floor(x * levels), 0, levels - 1).astype(np.int64)
        shifts = np.arange(self.bits - 1, -1, -1)
        return ((q[..., None] >> shifts) & 1).reshape(len(x), -1).astype(np.uint8)

    def transfer(self, states: np.ndarray, *, method: str = "schur") -> np.ndarray:
        """Port transfer matrix ``H`` for given metasurface states.

        Parameters
        ----------
        states : array-like of {0, 1}, shape (batch, n_elements)
            Metasurface configuration (1 = on).
        method : {"schur", "dense"}
            ``"schur"``: fast solve on the metasurface block; ``"dense"``: invert the full
            interaction matrix (reference).

        Returns
        -------
        ndarray, complex128, shape (batch, n_frequencies, 2, 2)
            ``H[..., r, t] = W_rr (W^{-1})_{rt}`` over the ports (0 = transmitter,
            1 = receiver); ``S21 = H[..., 1, 0]``, ``S12 = H[..., 0, 1]``.
        """
        s = np.asarray(states)
        if s.ndim != 2 or s.shape[1] != self.n_elements or not np.isin(s, (0, 1)).all():
            raise ValueError(
                f"states must be 0/1 of shape (batch, {self.n_elements}), got {s.shape}")
        on = s.astype(bool)[:, None, :]                                       # (B, 1, R)
        diag = np.where(on, self._inv_on[None, :, None], self._inv_off[None, :, None])
        if method == "schur":
            mat = np.broadcast_to(self._s0, (len(s), *self._s0.shape)).copy()  # (B, F, R, R)
            idx = np.arange(self.n_elements)
            mat[..., idx, idx] += diag
            with one_blas_thread():
                x = np.linalg.solve(mat, np.broadcast_to(self._u,
                                                         mat.shape[:2] + self._u.shape[1:]))
                winv_pp = self._g_pp[None] + np.swapaxes(self._u, -1, -2)[None] @ x
        elif method == "dense":
            with one_blas_thread():
                winv_pp = self._dense_winv_pp(diag)
        else:
            raise ValueError(f"method must be 'schur' or 'dense', got {method!r}")
        return self._w_ports[None, :, :, None] * winv_pp

    def _dense_winv_pp(self, diag: np.ndarray) -> np.ndarray:
        pos = self.positions
        allpos = np.r_[pos["ports"], pos["environment"], pos["metasurface"]]
        n, n_a = len(allpos), len(allpos) - self.n_elements
        dist = np.linalg.norm(allpos[:, None, :] - allpos[None, :, :], axis=-1)
        off = ~np.eye(n, dtype=bool)
        out = np.empty((diag.shape[0], len(self.frequencies), 2, 2), dtype=np.complex128)
        for i, f in enumerate(self.frequencies):
            kk = 2 * np.pi * f
            w = np.zeros((n, n), dtype=np.complex128)
            w[off] = 1j * kk**2 / 4 * hankel2(0, kk * dist[off])
            p = self.params
            scale = 1.0 + p.detuning
            w[0, 0] = w[1, 1] = self._inv_alpha(f, self._F_ANT * scale, self._CHI_ANT, 0.0)
            w[np.arange(2, n_a), np.arange(2, n_a)] = self._inv_alpha(
                f, self._F_WALL * scale, self._CHI_WALL, p.absorption)
            for b in range(diag.shape[0]):
                w[np.arange(n_a, n), np.arange(n_a, n)] = diag[b, i]
                out[b, i] = np.linalg.inv(w)[:2, :2]
        return out

    def _forward(self, x: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        h = self.transfer(self.states(x))[..., 1, 0]
        if self.params.noise > 0:
            rng = self._rng if rng is None else rng
            sigma = self.params.noise / math.sqrt(2.0)
            h = h + sigma * (rng.standard_normal(h.shape) + 1j * rng.standard_normal(h.shape))
        return np.abs(h).astype(np.float32)

    def __repr__(self) -> str:
        return (f"MicrowaveCavity(in_features={self.in_features}, n_elements="
                f"{self.n_elements}, n_frequencies={self.out_features}, seed={self.seed})")
