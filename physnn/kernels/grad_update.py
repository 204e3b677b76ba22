"""Scalar reverse-time rules of full BPTT for the LIF and synaptic neurons: the gradient with
respect to the input, the initial state, the final state and the per-neuron parameters.

Written once as plain Python on scalars, like :mod:`physnn.kernels.lif_update`, and compiled
by :mod:`physnn.kernels.grad_cpu` (``numba.njit``) and :mod:`physnn.kernels.grad_cuda`
(``numba.cuda.jit(device=True)``) with :func:`compile_with`. They call
``lif_update.surrogate_grad`` through their globals, so the compiled copy of that rule must be
handed to :func:`compile_with`. float32 constants only (see :mod:`physnn.kernels.lif_update`).

Notation of one step ``t`` of the reverse loop (all scalars of one neuron):

- ``g`` = dL/ds[t] (the gradient of the spike output), ``fin`` = dL/d(state[T-1]) at the
  last step (the gradient of the returned final state), 0 at the other steps;
- ``carry`` = delta[t+1]: dL/du[t+1] (snntorch) or dL/dh[t+1] (SpikingJelly), 0 at the last
  step;
- ``u``, ``s``: the recorded membrane (snntorch: u[t], SpikingJelly: h[t]) and spike.

Every rule returns the new delta[t] (which is also dL/dx[t]) and the step's contributions to
dL/dbeta and dL/dthreshold. The contribution of a parameter's use at step ``t + 1`` is added
at step ``t``, where the state it multiplies (u[t] or v[t]) is at hand; the use at step 0,
which multiplies the initial state, is added by the ``*_tail`` rules.
"""

from __future__ import annotations

from numba import float32

from .lif_update import (
    CONV_SNNTORCH,
    RESET_SUBTRACT,
    RESET_ZERO,
    surrogate_grad,
)

__all__ = ["lif_grad_step", "lif_grad_tail", "synaptic_grad_step", "synaptic_grad_tail",
           "compile_with", "RULES"]


def lif_grad_step(carry, g, u, s, fin, beta, thr, kind, p, reset, conv, detach_reset):
    """One reverse step of LIF BPTT. Returns ``(delta[t], dbeta, dthr)``.

    snntorch (reset detached, ``r[t+1] = s[t]``)::

        q        = delta[t+1] (1 - s[t] [zero])          (dL/du[t] through u[t+1], / beta)
        delta[t] = g sg'(u[t] - thr) + beta q + fin
        dbeta   += q u[t]                                (beta's use at step t+1)
        dthr    -= g sg' + s[t] delta[t+1] [subtract]     (firing at t, reset at t+1)

    SpikingJelly (``v[t]`` rebuilt from ``h[t]`` and ``s[t]``)::

        e        = beta delta[t+1] + fin                  (dL/dv[t])
        delta[t] = g sg'(h[t] - thr) + e dv/dh
        dbeta   += delta[t+1] v[t]
        dthr    -= g sg' + e (s - thr sg' [not detached])  (subtract)
        dthr    -= g sg' - e h sg' [not detached]          (zero)
    """
    sg = surrogate_grad(u - thr, kind, p)
    gs = g * sg
    if conv == CONV_SNNTORCH:
        q = carry
        if reset == RESET_ZERO:
            q = carry * (float32(1.0) - s)
        delta = gs + beta * q + fin
        dthr = -gs
        if reset == RESET_SUBTRACT:
            dthr = dthr - s * carry
        return delta, q * u, dthr
    e = beta * carry + fin
    if reset == RESET_SUBTRACT:
        v = u - s * thr
        if detach_reset:
            dvdh = float32(1.0)
            dvdthr = -s
        else:
            dvdh = float32(1.0) - thr * sg
            dvdthr = thr * sg - s
    elif reset == RESET_ZERO:
        v = u * (float32(1.0) - s)
        if detach_reset:
            dvdh = float32(1.0) - s
            dvdthr = u - u
        else:
            dvdh = float32(1.0) - s - u * sg
            dvdthr = u * sg
    else:
        v = u
        dvdh = float32(1.0)
        dvdthr = u - u
    delta = gs + e * dvdh
    return delta, carry * v, e * dvdthr - gs


def lif_grad_tail(delta0, state0, beta, thr, reset, conv):
    """Step 0's use of the initial state. Returns ``(dL/dstate0, dbeta, dthr)``.

    snntorch: ``r[0] = state0 > thr``; ``q = delta[0] (1 - r[0] [zero])``; dL/dstate0 =
    beta q, dbeta = q state0, dthr = -r[0] delta[0] [subtract]. SpikingJelly: dL/dv[-1] =
    beta delta[0], dbeta = delta[0] v[-1], dthr = 0.
    """
    if conv == CONV_SNNTORCH:
        fired = state0 > thr
        q = delta0
        if reset == RESET_ZERO and fired:
            q = delta0 - delta0
        dthr = delta0 - delta0
        if reset == RESET_SUBTRACT and fired:
            dthr = -delta0
        return beta * q, q * state0, dthr
    return beta * delta0, delta0 * state0, delta0 - delta0


def synaptic_grad_step(cm, ci, g, m, i, s, r, fin_m, fin_i, alpha, beta, thr, kind, p, reset):
    """One reverse step of the synaptic neuron's BPTT (snntorch ``Synaptic``, reset detached).

    ``cm``, ``ci`` = dL/dm[t+1], dL/dI[t+1]; ``m``, ``i``, ``s`` = mem[t], syn[t], s[t]; ``r``
    = r[t] = (mem[t-1] > thr) (only read with ``reset="zero"``)::

        q      = dm[t+1] (1 - s[t] [zero])
        dm[t]  = g sg'(m[t] - thr) + beta q + fin_m
        dI[t]  = dm[t] (1 - r[t] [zero]) + alpha dI[t+1] + fin_i        (= dL/dx[t])
        dalpha += dI[t+1] I[t];  dbeta += q m[t];  dthr -= g sg' + s[t] dm[t+1] [subtract]

    Returns ``(dm[t], dI[t], dalpha, dbeta, dthr)``.
    """
    sg = surrogate_grad(m - thr, kind, p)
    gs = g * sg
    q = cm
    if reset == RESET_ZERO:
        q = cm * (float32(1.0) - s)
    dm = gs + beta * q + fin_m
    di = dm
    if reset == RESET_ZERO:
        di = dm * (float32(1.0) - r)
    di = di + alpha * ci + fin_i
    dthr = -gs
    if reset == RESET_SUBTRACT:
        dthr = dthr - s * cm
    return dm, di, ci * i, q * m, dthr


def synaptic_grad_tail(dm0, di0, syn0, mem0, alpha, beta, thr, reset):
    """Step 0's use of the initial state. Returns ``(dL/dsyn0, dL/dmem0, dalpha, dbeta,
    dthr)``."""
    fired = mem0 > thr
    q = dm0
    if reset == RESET_ZERO and fired:
        q = dm0 - dm0
    dthr = dm0 - dm0
    if reset == RESET_SUBTRACT and fired:
        dthr = -dm0
    return alpha * di0, beta * q, di0 * syn0, q * mem0, dthr


RULES = (lif_grad_step, lif_grad_tail, synaptic_grad_step, synaptic_grad_tail)


def compile_with(jit, compiled_surrogate_grad) -> dict:
    """Compile :data:`RULES` with ``jit``, calling ``compiled_surrogate_grad`` (the target's
    compiled copy of :func:`physnn.kernels.lif_update.surrogate_grad`)."""
    import types

    namespace = dict(globals())
    namespace["surrogate_grad"] = compiled_surrogate_grad
    out = {}
    for rule in RULES:
        clone = types.FunctionType(rule.__code__, namespace, rule.__name__, rule.__defaults__,
                                   rule.__closure__)
        clone.__qualname__ = rule.__qualname__
        clone.__module__ = rule.__module__
        clone.__doc__ = rule.__doc__
        out[rule.__name__] = namespace[rule.__name__] = jit(clone)
    return out
