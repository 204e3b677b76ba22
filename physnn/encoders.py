"""Spike encoders: turn static or time-varying data into time-major spike trains.

All return ``(T, batch, *features)`` arrays, ``uint8`` unless stated. Randomness comes only
from the ``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

import numpy as np

__all__ = ["rate", "latency", "delta"]


def _as_real(x: np.ndarray, name: str) -> np.ndarray:
    x = np.asarray(x)
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise TypeError(f"{name} must be a real numeric array, got dtype {x.dtype}")
    if x.ndim < 1:
        raise ValueError(f"{name} must have a batch axis, got a scalar")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return x


def _check_steps(num_steps: int) -> int:
    if isinstance(num_steps, bool) or not isinstance(num_steps, (int, np.integer)) or num_steps < 1:
        raise ValueError(f"num_steps must be an integer >= 1, got {num_steps!r}")
    return int(num_steps)


def rate(x: np.ndarray, num_steps: int, *, rng: np.random.Generator,
         gain: float = 1.0) -> np.ndarray:
    r"""Bernoulli rate coding: at every step, feature ``i`` spikes with probability
    :math:`p_i = \text{gain}\cdot x_i` (snntorch ``spikegen.rate``).

    Parameters
    ----------
    x : array, shape (batch, *features)
        Intensities; ``gain * x`` must lie in [0, 1].
    num_steps : int
        Number of time steps ``T``.
    rng : numpy.random.Generator
        The only source of randomness.
    gain : float
        Scale applied to ``x`` before sampling.

    Returns
    -------
    ndarray, shape (T, batch, *features), uint8
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    T = _check_steps(num_steps)
    p = _as_real(x, "x").astype(np.float64) * float(gain)
    if p.size and (p.min() < 0 or p.max() > 1):
        raise ValueError(
            f"gain * x must lie in [0, 1] to be a spike probability, got [{p.min()}, {p.max()}]"
        )
    return (rng.random((T, *p.shape)) < p).astype(np.uint8)


def latency(x: np.ndarray, num_steps: int, *, tau: float = 5.0, threshold: float = 0.01,
            linear: bool = False) -> np.ndarray:
    r"""Latency (time-to-first-spike) coding: one spike per feature, earlier for larger input.

    Log code (an RC circuit charged by the input, as snntorch ``spikegen.latency``):
    :math:`t_i = \tau \ln\!\big(x_i / (x_i - \theta)\big) - \tau \ln\!\big(1 / (1 -
    \theta)\big)`, shifted so that :math:`x = 1` fires at step 0; linear code:
    :math:`t_i = (1 - x_i)(T - 1)`. Times are rounded to the nearest step. Features at or
    below ``threshold``, and log-code spikes later than ``T - 1``, are not emitted.

    Parameters
    ----------
    x : array, shape (batch, *features), values in [0, 1]
    num_steps : int
        Number of time steps ``T``.
    tau : float
        RC time constant in steps (log code), > 0.
    threshold : float
        Input at or below which no spike is emitted, in [0, 1).
    linear : bool
        Use the linear code.

    Returns
    -------
    ndarray, shape (T, batch, *features), uint8, at most one spike per feature
    """
    T = _check_steps(num_steps)
    x = _as_real(x, "x").astype(np.float64)
    if x.size and (x.min() < 0 or x.max() > 1):
        raise ValueError(f"x must lie in [0, 1] for latency coding, got [{x.min()}, {x.max()}]")
    if not 0 <= threshold < 1:
        raise ValueError(f"threshold must lie in [0, 1), got {threshold}")
    if not tau > 0:
        raise ValueError(f"tau must be > 0, got {tau}")
    fires = x > threshold
    if linear:
        t = (1 - x) * (T - 1)
    else:
        safe = np.where(fires, x, 1.0)
        t = tau * (np.log(safe / (safe - threshold)) - np.log(1.0 / (1.0 - threshold)))
    steps = np.rint(t).astype(np.int64)
    fires &= steps <= T - 1
    out = np.zeros((T, *x.shape), dtype=np.uint8)
    idx = np.nonzero(fires)
    out[(steps[idx], *idx)] = 1
    return out


def delta(x: np.ndarray, *, threshold: float = 0.1, off_spike: bool = False) -> np.ndarray:
    r"""Delta modulation of a time-major signal: a spike where the signal changed by at least
    ``threshold`` since the previous step (no spike at step 0).

    :math:`s_t = H(x_t - x_{t-1} - \theta)`; with ``off_spike`` also
    :math:`-H(x_{t-1} - x_t - \theta)` (output ``int8``).

    Parameters
    ----------
    x : array, shape (T, batch, *features)
    threshold : float
        Change needed for a spike, > 0.
    off_spike : bool
        Emit -1 for decreases as well.

    Returns
    -------
    ndarray, shape of ``x``, uint8 (or int8 with ``off_spike``)
    """
    x = _as_real(x, "x").astype(np.float64)
    if x.ndim < 2:
        raise ValueError(f"x must be time-major (T, batch, ...), got shape {x.shape}")
    if not threshold > 0:
        raise ValueError(f"threshold must be > 0, got {threshold}")
    d = np.diff(x, axis=0, prepend=x[:1])
    on = d >= threshold
    if not off_spike:
        return on.astype(np.uint8)
    return on.astype(np.int8) - (d <= -threshold).astype(np.int8)
