"""Small explicit optimizers: :class:`SGD` and :class:`Adam`.

An optimizer is a configuration object. It never holds parameters: ``state = opt.init(params)``
creates its state for one parameter record (a ``NamedTuple`` of arrays, such as
:class:`physnn.layers.LinearParams`), and ``params, state = opt.step(params, grads, state)``
returns new parameters and new state without modifying the old ones.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

__all__ = ["SGD", "Adam", "SGDState", "AdamState"]


def _check_record(params: Any, grads: Any) -> None:
    if not isinstance(params, tuple) or not isinstance(grads, tuple):
        raise TypeError("params and grads must be tuples (NamedTuple records) of arrays")
    if len(params) != len(grads):
        raise ValueError(f"params has {len(params)} arrays but grads has {len(grads)}")
    for i, (p, g) in enumerate(zip(params, grads, strict=True)):
        if np.shape(p) != np.shape(g):
            raise ValueError(f"grads[{i}] has shape {np.shape(g)}, expected {np.shape(p)}")
        if not np.all(np.isfinite(g)):
            raise FloatingPointError(f"grads[{i}] contains NaN or infinite values")


def _rebuild(template: tuple, arrays: list) -> tuple:
    return type(template)._make(arrays) if hasattr(template, "_make") else tuple(arrays)


def _positive(name: str, v: float) -> float:
    v = float(v)
    if not np.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {v!r}")
    return v


class SGDState(NamedTuple):
    """Momentum buffers, one per parameter array."""

    velocity: tuple


class SGD:
    """Stochastic gradient descent with optional momentum and L2 weight decay.

    .. math:: v \\leftarrow \\mu v + (g + \\lambda \\theta), \\qquad
              \\theta \\leftarrow \\theta - \\eta v

    Parameters
    ----------
    lr : float
        Learning rate :math:`\\eta` (units of parameter per unit gradient).
    momentum : float, default 0
        :math:`\\mu \\in [0, 1)`.
    weight_decay : float, default 0
        :math:`\\lambda \\ge 0`.
    """

    def __init__(self, lr: float, *, momentum: float = 0.0, weight_decay: float = 0.0) -> None:
        self.lr = _positive("lr", lr)
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum!r}")
        if weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {weight_decay!r}")
        self.momentum = float(momentum)
        self.weight_decay = float(weight_decay)

    def init(self, params: tuple) -> SGDState:
        """Zero momentum buffers shaped like ``params``."""
        return SGDState(tuple(np.zeros_like(p) for p in params))

    def step(self, params: tuple, grads: tuple, state: SGDState) -> tuple[tuple, SGDState]:
        """One update; returns ``(new_params, new_state)``."""
        _check_record(params, grads)
        new_p, new_v = [], []
        for p, g, v in zip(params, grads, state.velocity, strict=True):
            g = g + self.weight_decay * p if self.weight_decay else g
            v = self.momentum * v + g
            new_v.append(v)
            new_p.append((p - self.lr * v).astype(p.dtype, copy=False))
        return _rebuild(params, new_p), SGDState(tuple(new_v))

    def __repr__(self) -> str:
        return f"SGD(lr={self.lr}, momentum={self.momentum}, weight_decay={self.weight_decay})"


class AdamState(NamedTuple):
    """Step count and first / second moment estimates, one per parameter array."""

    step: int
    m: tuple
    v: tuple


def _adam_fused(p, g, m, v, b1, b2, c1, c2, lr, eps, wd):
    """Adam's new ``(p, m, v)`` from the one-pass kernel
    (:func:`physnn.kernels.optim_cpu.adam_update`, the NumPy expressions' bits), or None
    where it does not apply: arrays not all of one float dtype (float32 / float64), not
    C-contiguous NumPy arrays, or too small for the call to pay."""
    dt = p.dtype if isinstance(p, np.ndarray) else None
    if (dt not in (np.float32, np.float64) or p.size < _FUSED_MIN
            or any(not isinstance(a, np.ndarray) or a.dtype != dt or a.shape != p.shape
                   or not a.flags.c_contiguous for a in (p, g, m, v))):
        return None
    from .kernels.optim_cpu import adam_update

    s = dt.type
    outs = (np.empty_like(p), np.empty_like(m), np.empty_like(v))
    adam_update(p.reshape(-1), g.reshape(-1), m.reshape(-1), v.reshape(-1), s(b1),
                s(1.0 - b1), s(b2), s(1.0 - b2), s(c1), s(c2), s(lr), s(eps), s(wd),
                bool(wd), *(o.reshape(-1) for o in outs))
    return outs


#: Elements from which :meth:`Adam.step` runs the one-pass kernel (below, NumPy's passes
#: over a few cache lines cost less than the kernel's dispatch).
_FUSED_MIN = 4096


class Adam:
    """Adam (Kingma & Ba, 2015), with optional decoupled weight decay (AdamW).

    .. math::
        m \\leftarrow \\beta_1 m + (1-\\beta_1) g, \\quad
        v \\leftarrow \\beta_2 v + (1-\\beta_2) g^2, \\quad
        \\theta \\leftarrow \\theta - \\eta\\left(\\frac{\\hat m}{\\sqrt{\\hat v}+\\epsilon}
        + \\lambda\\theta\\right)

    with :math:`\\hat m = m/(1-\\beta_1^t)`, :math:`\\hat v = v/(1-\\beta_2^t)`.

    Parameters
    ----------
    lr : float, default 1e-3
        Step size :math:`\\eta`.
    betas : (float, float), default (0.9, 0.999)
    eps : float, default 1e-8
    weight_decay : float, default 0
        Decoupled decay :math:`\\lambda`.
    """

    def __init__(self, lr: float = 1e-3, *, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0) -> None:
        self.lr = _positive("lr", lr)
        b1, b2 = betas
        if not (0.0 <= b1 < 1.0 and 0.0 <= b2 < 1.0):
            raise ValueError(f"betas must both lie in [0, 1), got {betas!r}")
        self.betas = (float(b1), float(b2))
        self.eps = _positive("eps", eps)
        if weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {weight_decay!r}")
        self.weight_decay = float(weight_decay)

    def init(self, params: tuple) -> AdamState:
        """Zero moments shaped like ``params``."""
        zeros = tuple(np.zeros_like(p) for p in params)
        return AdamState(0, zeros, tuple(np.zeros_like(p) for p in params))

    def step(self, params: tuple, grads: tuple, state: AdamState) -> tuple[tuple, AdamState]:
        """One update; returns ``(new_params, new_state)``."""
        _check_record(params, grads)
        b1, b2 = self.betas
        t = state.step + 1
        c1, c2 = 1.0 - b1**t, 1.0 - b2**t
        new_p, new_m, new_v = [], [], []
        for p, g, m, v in zip(params, grads, state.m, state.v, strict=True):
            fused = _adam_fused(p, g, m, v, b1, b2, c1, c2, self.lr, self.eps,
                                self.weight_decay)
            if fused is not None:
                new_p.append(fused[0])
                new_m.append(fused[1])
                new_v.append(fused[2])
                continue
            m = b1 * m + (1.0 - b1) * g
            v = b2 * v + (1.0 - b2) * (g * g)
            upd = (m / c1) / (np.sqrt(v / c2) + self.eps)
            if self.weight_decay:
                upd = upd + self.weight_decay * p
            new_p.append((p - self.lr * upd).astype(p.dtype, copy=False))
            new_m.append(m)
            new_v.append(v)
        return _rebuild(params, new_p), AdamState(t, tuple(new_m), tuple(new_v))

    def __repr__(self) -> str:
        return (f"Adam(lr={self.lr}, betas={self.betas}, eps={self.eps}, "
                f"weight_decay={self.weight_decay})")
