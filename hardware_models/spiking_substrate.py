"""A neuromorphic chip as a black box: a fixed random LIF population with device mismatch.

Analogue neuromorphic substrates (e.g. DYNAP-SE, BrainScaleS) implement leaky
integrate-and-fire neurons whose thresholds and leaks differ from neuron to neuron by
fabrication mismatch, with noisy currents; they are used as fixed random spiking reservoirs
and read out by spike counts (Büchel, Zendrikov, Solinas, Indiveri, Muir, "Supervised
training of spiking neural networks for robust deployment on mixed-signal neuromorphic
processors", *Sci. Rep.* 11, 23376 (2021); Cramer et al., *PNAS* 119, e2109194119 (2022)).
Built on :func:`physnn.lif` (CPU or CUDA).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

import physnn
from physnn.physical import PhysicalLayer

__all__ = ["SpikingParams", "SpikingSubstrate"]


@dataclass(frozen=True)
class SpikingParams:
    """Physical parameters of :class:`SpikingSubstrate` that may drift.

    Parameters
    ----------
    threshold_scale : float
        Global factor on every threshold (a bias voltage drifting with temperature).
    input_gain : float
        Gain of the input current drivers.
    noise : float
        Standard deviation of the white current noise per neuron and step [threshold units].
    """

    threshold_scale: float = 1.0
    input_gain: float = 1.0
    noise: float = 0.02


class SpikingSubstrate(PhysicalLayer):
    r"""Fixed random population of mismatched, noisy LIF neurons read out by spike counts.

    Example: ``layer = SpikingSubstrate(in_features=20, n_neurons=100, seed=0)``; ``counts =
    layer(x)`` for ``x`` of shape (batch, 20).

    Model (snntorch convention of :func:`physnn.lif`, subtractive reset, time in steps). The
    input ``x`` (batch, in_features) is held for ``steps`` steps as a current

    .. math:: I_{t,i} = g \sum_j W^{in}_{ij} x_j + b_i + \sum_k W^{rec}_{ik} s_{t-1,k}
              + \sigma \xi_{t,i},

    (``W_in ~ N(0, w_scale^2 / in_features)``, bias ``b_i ~ N(bias, (bias/2)^2)``, recurrent
    weights ``W_rec ~ N(0, rec_scale^2 / n_neurons)`` only when ``recurrent``, ``xi`` white
    noise), integrated by neurons with per-neuron leak and threshold

    .. math:: u_{t,i} = \beta_i u_{t-1,i} + I_{t,i} - s_{t-1,i}\vartheta_i, \qquad
              s_{t,i} = H(u_{t,i} - \vartheta_i),

    where mismatch draws :math:`\tau_i = \tau (1 + m \zeta_i)` (``beta_i = exp(-1/tau_i)``,
    ``tau = -1 / ln beta``) and :math:`\vartheta_i = \vartheta (1 + m \eta_i)`, with
    :math:`\zeta, \eta \sim N(0, 1)` fixed by the seed. The output is the spike count of each
    neuron over the ``steps`` steps (float32).

    Parameters
    ----------
    in_features : int
        Number of input currents.
    n_neurons : int
        Population size (= ``out_features``).
    steps : int
        Number of time steps the input is presented for.
    beta : float
        Nominal membrane decay per step (``exp(-dt / tau)``), in (0, 1).
    threshold : float
        Nominal firing threshold.
    mismatch : float
        Relative standard deviation ``m`` of leak time constants and thresholds.
    w_scale, bias : float
        Input-weight scale and mean bias current.
    recurrent : bool
        Add fixed random recurrent connections (simulated step by step).
    rec_scale : float
        Recurrent-weight scale.
    params : SpikingParams, optional
        Threshold scale, input gain and current noise.
    backend : {"cpu", "cuda", "auto"}
        Where :func:`physnn.lif` runs.
    seed : int
        Seeds weights, mismatch and noise.
    """

    def __init__(
        self,
        in_features: int,
        n_neurons: int = 100,
        *,
        steps: int = 50,
        beta: float = 0.9,
        threshold: float = 1.0,
        mismatch: float = 0.1,
        w_scale: float = 0.5,
        bias: float = 0.2,
        recurrent: bool = False,
        rec_scale: float = 0.5,
        params: SpikingParams | None = None,
        backend: str = "cpu",
        seed: int = 0,
    ) -> None:
        for name, val in (("in_features", in_features), ("n_neurons", n_neurons),
                          ("steps", steps)):
            if not isinstance(val, (int, np.integer)) or val < 1:
                raise ValueError(f"{name} must be a positive integer, got {val!r}")
        if not 0.0 < beta < 1.0:
            raise ValueError(f"beta must be in (0, 1), got {beta}")
        if not threshold > 0:
            raise ValueError(f"threshold must be > 0, got {threshold}")
        if not 0.0 <= mismatch < 1.0:
            raise ValueError(f"mismatch must be in [0, 1), got {mismatch}")
        self.backend = physnn.resolve_backend(backend)
        super().__init__()
        self.in_features = int(in_features)
        self.out_features = self.n_neurons = int(n_neurons)
        self.steps = int(steps)
        self.recurrent = bool(recurrent)
        self.seed = seed
        s_w, s_m, s_noise = np.random.SeedSequence(seed).spawn(3)
        rw = np.random.default_rng(s_w)
        n = self.n_neurons
        self.w_in = (rw.standard_normal((self.in_features, n)) * w_scale
                     / math.sqrt(self.in_features)).astype(np.float32)
        self.bias = (bias + 0.5 * abs(bias) * rw.standard_normal(n)).astype(np.float32)
        self.w_rec = ((rw.standard_normal((n, n)) * rec_scale / math.sqrt(n)).astype(np.float32)
                      if self.recurrent else None)
        rm = np.random.default_rng(s_m)
        tau = -1.0 / math.log(beta)
        tau_i = np.maximum(tau * (1.0 + mismatch * rm.standard_normal(n)), 0.5)
        self.beta = np.exp(-1.0 / tau_i).astype(np.float32)
        self.threshold = np.maximum(threshold * (1.0 + mismatch * rm.standard_normal(n)),
                                    0.05 * threshold).astype(np.float32)
        self._rng = np.random.default_rng(s_noise)
        self.params = params if params is not None else SpikingParams()
        self._params_changed()

    def _params_changed(self) -> None:
        p = self.params
        if not isinstance(p, SpikingParams):
            raise TypeError(f"params must be SpikingParams, got {type(p).__name__}")
        if not (math.isfinite(p.threshold_scale) and p.threshold_scale > 0):
            raise ValueError(f"threshold_scale must be finite and > 0, got {p.threshold_scale}")
        for name in ("input_gain", "noise"):
            val = getattr(p, name)
            if not (math.isfinite(val) and val >= 0):
                raise ValueError(f"{name} must be finite and >= 0, got {val}")

    def currents(self, x: np.ndarray) -> np.ndarray:
        """Noise-free feed-forward input currents ``g W_in^T x + b`` (batch, n_neurons)."""
        x = np.asarray(x, dtype=np.float32)
        return np.float32(self.params.input_gain) * (x @ self.w_in) + self.bias

    def run(self, x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        """Spike trains (uint8, shape (steps, batch, n_neurons)) for a valid batch ``x``."""
        rng = self._rng if rng is None else rng
        p = self.params
        drive = self.currents(x)
        cur = np.broadcast_to(drive, (self.steps, *drive.shape)).astype(np.float32)
        if p.noise > 0:
            cur = cur + np.float32(p.noise) * rng.standard_normal(cur.shape, dtype=np.float32)
        thr = self.threshold * np.float32(p.threshold_scale)
        if not self.recurrent:
            spikes, _ = physnn.lif(np.ascontiguousarray(cur), beta=self.beta, threshold=thr,
                                   backend=self.backend)
            return np.asarray(spikes)
        spikes = np.empty(cur.shape, dtype=np.uint8)
        state = None
        prev = np.zeros(drive.shape, dtype=np.float32)
        for t in range(self.steps):
            inp = np.ascontiguousarray((cur[t] + prev @ self.w_rec)[None])
            s, state = physnn.lif(inp, beta=self.beta, threshold=thr, state=state,
                                  backend=self.backend)
            spikes[t] = np.asarray(s)[0]
            prev = spikes[t].astype(np.float32)
        return spikes

    def _forward(self, x: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        return self.run(x, rng).sum(axis=0, dtype=np.float32)

    def __repr__(self) -> str:
        return (f"SpikingSubstrate(in_features={self.in_features}, n_neurons={self.n_neurons}, "
                f"steps={self.steps}, recurrent={self.recurrent}, seed={self.seed})")
