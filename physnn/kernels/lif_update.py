r"""Scalar update rules of the LIF family and their surrogate gradients, written once.

Every function here is plain Python on scalars. :mod:`physnn.kernels.lif_cpu` compiles them
with ``numba.njit`` and :mod:`physnn.kernels.lif_cuda` with ``numba.cuda.jit(device=True)``;
the CUDA simulator runs them as they are. They use float32 constants only (a Python float
literal would promote float32 arithmetic to float64 and break bit-exact parity with the
reference libraries). The one irrational constant, :math:`\pi/2` of the atan surrogate, comes
from :func:`half_pi`, which gives it in the precision of the surrogate parameter: rounded to
float32 in a float32 kernel, the float64 ``math.pi / 2`` in a float64 kernel (so a float64
gradient is exact to the last bit, as in SpikingJelly and snntorch).

Integer codes (shared with the public wrappers in :mod:`physnn.spiking`):

- reset: ``RESET_SUBTRACT = 0``, ``RESET_ZERO = 1``, ``RESET_NONE = 2``
- convention: ``CONV_SNNTORCH = 0`` (delayed reset, fires when ``u > threshold``),
  ``CONV_SPIKINGJELLY = 1`` (charge, fire, then reset within the step; fires when
  ``h >= threshold``)
- surrogate: ``SG_ATAN = 0``, ``SG_FAST_SIGMOID = 1``, ``SG_TRIANGLE = 2``,
  ``SG_RECTANGLE = 3``, ``SG_SIGMOID = 4``
"""

from __future__ import annotations

import math

import numpy as np
from numba import float32, types
from numba.extending import overload

RESET_SUBTRACT = 0
RESET_ZERO = 1
RESET_NONE = 2

CONV_SNNTORCH = 0
CONV_SPIKINGJELLY = 1

SG_ATAN = 0
SG_FAST_SIGMOID = 1
SG_TRIANGLE = 2
SG_RECTANGLE = 3
SG_SIGMOID = 4

#: :math:`\pi/2` in float64 (``math.pi / 2``, as SpikingJelly and snntorch write it)
HALF_PI = math.pi / 2


def half_pi(p):
    r""":math:`\pi/2` rounded once to the precision of ``p``: ``float32(math.pi / 2)`` for a
    float32 ``p``, ``math.pi / 2`` itself otherwise.

    This plain-Python body runs under the CUDA simulator; the compiled targets use overloads
    that return the constant of ``p``'s type (:func:`_half_pi_cpu` here, and its twin in
    :mod:`physnn.kernels.lif_cuda`), so neither a float32 kernel is promoted to float64 nor a
    float64 kernel rounded through float32.
    """
    if isinstance(p, np.float32):
        return np.float32(HALF_PI)
    return np.float64(HALF_PI)


@overload(half_pi, target="cpu")
def _half_pi_cpu(p):
    if isinstance(p, types.Float) and p.bitwidth == 32:
        return lambda p: np.float32(HALF_PI)
    return lambda p: np.float64(HALF_PI)


def mul(a, b):
    """``a * b`` rounded on its own. The CUDA build maps it to ``mul.rn`` so that NVVM does
    not fuse it with the following addition into an FMA: the forward pass then rounds as
    snntorch, SpikingJelly and the CPU kernels do, and spikes stay bit-identical."""
    return a * b


def lif_step(state, x, beta, tau, thr, reset, conv):
    """One LIF step. Returns ``(new_state, membrane_record, spike)``.

    snntorch convention (``state`` = membrane ``u``, reset computed from the previous one)::

        r = u[t-1] > thr
        u[t] = beta * u[t-1] + x[t] - r * thr            (subtract)
        u[t] = beta * (1 - r) * u[t-1] + x[t]            (zero)
        s[t] = u[t] > thr                                record u[t]

    SpikingJelly convention (``state`` = post-reset voltage ``v``; ``tau = 1 / (1 - beta)``)::

        h[t] = v[t-1] - v[t-1] / tau + x[t]
        s[t] = h[t] >= thr
        v[t] = h[t] - s[t] * thr  (subtract),  h[t] * (1 - s[t])  (zero)   record h[t]
    """
    if conv == CONV_SNNTORCH:
        fired_before = state > thr
        if reset == RESET_ZERO and fired_before:
            u = x
        else:
            u = mul(beta, state) + x
            if reset == RESET_SUBTRACT and fired_before:
                u = u - thr
        return u, u, u > thr
    h = state - state / tau + x
    spike = h >= thr
    v = h
    if spike:
        if reset == RESET_SUBTRACT:
            v = h - thr
        elif reset == RESET_ZERO:
            v = h - h
    return v, h, spike


def synaptic_step(syn, mem, x, alpha, beta, thr, reset):
    """One step of the second-order (synaptic-current) LIF, snntorch ``Synaptic`` convention.

    ::

        r = mem[t-1] > thr
        syn[t] = alpha * syn[t-1] + x[t]
        mem[t] = beta * mem[t-1] + syn[t] - r * thr     (subtract)
        mem[t] = (1 - r) * (beta * mem[t-1] + syn[t])   (zero)
        s[t] = mem[t] > thr

    Returns ``(syn, mem, spike)``.
    """
    fired_before = mem > thr
    syn = mul(alpha, syn) + x
    u = mul(beta, mem) + syn
    if fired_before:
        if reset == RESET_SUBTRACT:
            u = u - thr
        elif reset == RESET_ZERO:
            u = u - u
    return syn, u, u > thr


def alif_step(v, a, x, beta, thr, gamma, rho, reset):
    """One step of the adaptive LIF (spike-triggered threshold adaptation).

    ::

        h[t] = beta * v[t-1] + x[t]
        theta[t] = thr + gamma * a[t-1]
        s[t] = h[t] >= theta[t]
        v[t] = h[t] - s[t] * theta[t]  (subtract),  h[t] * (1 - s[t])  (zero)
        a[t] = rho * a[t-1] + s[t]

    Returns ``(v, a, h, spike)``.
    """
    h = mul(beta, v) + x
    theta = thr + mul(gamma, a)
    spike = h >= theta
    v = h
    a = mul(rho, a)
    if spike:
        a = a + float32(1.0)
        if reset == RESET_SUBTRACT:
            v = h - theta
        elif reset == RESET_ZERO:
            v = h - h
    return v, a, h, spike


def surrogate_grad(z, kind, p):
    r"""Derivative of the surrogate spike function at ``z = u - threshold``.

    atan (``p`` = alpha, snntorch / SpikingJelly ``ATan``): ``p/2 / (1 + (pi/2 p z)^2)``;
    fast sigmoid (``p`` = slope, snntorch): ``1 / (p |z| + 1)^2``;
    triangle (``p`` = alpha, SpikingJelly ``PiecewiseQuadratic``): ``max(0, p - p^2 |z|)``;
    rectangle (``p`` = width): ``1/p`` where ``|z| < p/2``, else 0;
    sigmoid (``p`` = alpha, SpikingJelly ``Sigmoid``): ``p sg(p z) (1 - sg(p z))``.

    atan is evaluated as the references evaluate it, ``(pi/2 p) z`` and then ``p/2`` times
    the reciprocal of ``1 + k^2`` (PyTorch divides a scalar by a tensor as
    ``tensor.reciprocal() * scalar``), with :math:`\pi/2` in ``p``'s precision and ``k^2``
    never fused into an FMA: in float64 it equals SpikingJelly's ``atan_backward`` and
    snntorch's ``ATan`` bit for bit, on the CPU and on CUDA. No product here is fused with
    the addition that follows it (:func:`mul`), so the atan, fast-sigmoid, triangle and
    rectangle surrogates give the CPU's bits on CUDA (the sigmoid's ``exp`` is each
    platform's own).
    """
    if kind == SG_ATAN:
        k = half_pi(p) * p * z
        return p * float32(0.5) * (float32(1.0) / (float32(1.0) + mul(k, k)))
    if kind == SG_FAST_SIGMOID:
        d = mul(p, abs(z)) + float32(1.0)
        return float32(1.0) / (d * d)
    if kind == SG_TRIANGLE:
        g = p - mul(p * p, abs(z))
        return g if g > 0 else g - g
    if kind == SG_RECTANGLE:
        if abs(z) < p * float32(0.5):
            return float32(1.0) / p
        return z - z
    sg = float32(1.0) / (float32(1.0) + math.exp(-p * z))
    return p * sg * (float32(1.0) - sg)


def lif_bptt_step(carry, g, u, s, beta, thr, kind, p, reset, conv, detach_reset):
    """One reverse-time step of LIF backpropagation through time.

    ``g`` = dL/ds[t], ``u`` the recorded membrane of step t, ``s`` its spike (0/1, or a
    smooth value in tests). ``carry`` comes from step t+1: delta[t+1] (snntorch) or
    dL/dv[t] (SpikingJelly). Returns ``(dL/dx[t], carry for step t-1)``.

    snntorch (reset detached, as snntorch does)::

        delta[t] = g[t] sg'(u[t] - thr) + beta * delta[t+1] * (1 - s[t] [zero reset])

    SpikingJelly::

        delta_h[t] = g[t] sg'(h[t] - thr) + beta * delta_h[t+1] * dv/dh
        dv/dh = 1 - thr sg'   (subtract),  (1 - s) - h sg'  (zero),  1  (none)
        (the sg' terms vanish with ``detach_reset``)
    """
    sg = surrogate_grad(u - thr, kind, p)
    if conv == CONV_SNNTORCH:
        # here ``carry`` is delta[t+1] itself: the factor (1 - s[t]) belongs to step t
        back = beta * carry
        if reset == RESET_ZERO:
            back = back * (float32(1.0) - s)
        delta = g * sg + back
        return delta, delta
    if reset == RESET_SUBTRACT:
        dvdh = float32(1.0) if detach_reset else float32(1.0) - thr * sg
    elif reset == RESET_ZERO:
        dvdh = float32(1.0) - s
        if not detach_reset:
            dvdh = dvdh - u * sg
    else:
        dvdh = float32(1.0)
    delta = g * sg + carry * dvdh
    return delta, beta * delta
