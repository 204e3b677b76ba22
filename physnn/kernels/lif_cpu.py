"""CPU drivers of the LIF family: ``numba.njit(parallel=True)``, batch rows in ``prange``,
a contiguous inner loop over neurons. They assume valid input (see :mod:`physnn.spiking`).

Each driver is compiled twice from one source: parallel, and serial for small problems
(below :data:`SERIAL_BELOW` neuron-steps a parallel region costs more than it saves, the
more so on a busy machine). :func:`driver` picks one. The LIF forward, its BPTT backward and
the SLTT backward are further specialised per reset / convention / surrogate / detach mode
(:func:`physnn.kernels._compile.specialize`, compiled on first use): with no mode branch left
in the per-neuron loop LLVM vectorises it (the BPTT backward ran 10x faster than one generic
build on T=32, B=128, N=1568).

Layout: ``x[T, B, N]`` time-major, per-neuron parameters ``[N]``, state ``[B, N]`` (updated in
place: the wrappers pass a copy). Each driver returns a ``[B]`` flag array that is set where
the input held a non-finite value, so the wrapper can refuse it without a second pass.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from numba import njit, prange

from . import lif_update as U
from ._compile import compile_rules, specialize

_rules = compile_rules(
    [U.mul, U.lif_step, U.synaptic_step, U.alif_step, U.surrogate_grad, U.lif_bptt_step],
    njit(cache=True, inline="always"),
)
lif_step = _rules["lif_step"]
synaptic_step = _rules["synaptic_step"]
alif_step = _rules["alif_step"]
surrogate_grad = _rules["surrogate_grad"]
lif_bptt_step = _rules["lif_bptt_step"]


# Placeholders: each compiled variant of _lif_forward freezes its own reset and convention
# (see specialize), so the per-neuron update carries no branch on either.
RESET = U.RESET_SUBTRACT
CONV = U.CONV_SNNTORCH


def _lif_forward(x, beta, tau, thr, state, spikes, membrane, record):
    T, B, N = x.shape
    bad = np.zeros(B, dtype=np.bool_)
    for b in prange(B):
        st = state[b]
        nonfinite = False
        for t in range(T):
            xt = x[t, b]
            st_out = spikes[t, b]
            for n in range(N):
                xv = xt[n]
                nonfinite |= not math.isfinite(xv)
                s_new, rec, spk = lif_step(st[n], xv, beta[n], tau[n], thr[n], RESET, CONV)
                st[n] = s_new
                st_out[n] = spk
                if record:
                    membrane[t, b, n] = rec
        bad[b] = nonfinite
    return bad


def _synaptic_forward(x, alpha, beta, thr, syn, mem, reset, spikes, membrane, record):
    T, B, N = x.shape
    bad = np.zeros(B, dtype=np.bool_)
    for b in prange(B):
        sy = syn[b]
        me = mem[b]
        nonfinite = False
        for t in range(T):
            for n in range(N):
                xv = x[t, b, n]
                nonfinite |= not math.isfinite(xv)
                s_new, m_new, spk = synaptic_step(sy[n], me[n], xv, alpha[n], beta[n], thr[n],
                                                  reset)
                sy[n] = s_new
                me[n] = m_new
                spikes[t, b, n] = spk
                if record:
                    membrane[t, b, n] = m_new
        bad[b] = nonfinite
    return bad


def _alif_forward(x, beta, thr, gamma, rho, v, a, reset, spikes, membrane, record):
    T, B, N = x.shape
    bad = np.zeros(B, dtype=np.bool_)
    for b in prange(B):
        vb = v[b]
        ab = a[b]
        nonfinite = False
        for t in range(T):
            for n in range(N):
                xv = x[t, b, n]
                nonfinite |= not math.isfinite(xv)
                v_new, a_new, h, spk = alif_step(vb[n], ab[n], xv, beta[n], thr[n], gamma[n],
                                                 rho[n], reset)
                vb[n] = v_new
                ab[n] = a_new
                spikes[t, b, n] = spk
                if record:
                    membrane[t, b, n] = h
        bad[b] = nonfinite
    return bad


# Placeholders of the backward's surrogate and reset handling, frozen per variant like
# RESET and CONV above.
KIND = U.SG_TRIANGLE
DETACH = 0


def _lif_bptt(grad_spikes, membrane, spikes, beta, thr, p, grad_x, carry):
    """Reverse-time LIF backward; ``carry[B, N]`` enters as the gradient from beyond the
    last step (usually zeros) and leaves as the carry before step 0."""
    T, B, N = grad_spikes.shape
    for b in prange(B):
        cb = carry[b]
        for t in range(T - 1, -1, -1):
            gt = grad_spikes[t, b]
            ut = membrane[t, b]
            st = spikes[t, b]
            gx = grad_x[t, b]
            for n in range(N):
                d, c = lif_bptt_step(cb[n], gt[n], ut[n], st[n], beta[n], thr[n], KIND, p,
                                     RESET, CONV, DETACH)
                gx[n] = d
                cb[n] = c


def _sltt_backward(grad_spikes, membrane, thr, p, grad_x):
    """Spatial-only (SLTT) backward of one or many steps: ``dx = g * sg'(u - thr)``."""
    S, B, N = grad_spikes.shape
    for b in prange(B):
        for t in range(S):
            gt = grad_spikes[t, b]
            ut = membrane[t, b]
            gx = grad_x[t, b]
            for n in range(N):
                gx[n] = gt[n] * surrogate_grad(ut[n] - thr[n], KIND, p)


SERIAL_BELOW = 1 << 16


def _pair(fn):
    return njit(parallel=True, cache=True)(fn), njit(cache=True)(fn)


_DRIVERS = {fn.__name__.lstrip("_"): _pair(fn) for fn in
            (_synaptic_forward, _alif_forward)}


@functools.cache
def _lif_variant(reset: int, conv: int, parallel: bool):
    jit = njit(parallel=parallel, cache=True)
    return specialize(_lif_forward, jit, RESET=reset, CONV=conv)


def driver(name: str, work: int):
    """The compiled driver ``name``: parallel when ``work`` (neuron-steps) is large."""
    parallel, serial = _DRIVERS[name]
    return serial if work < SERIAL_BELOW else parallel


def lif_forward(x, beta, tau, thr, state, reset, conv, spikes, membrane, record):
    kernel = _lif_variant(reset, conv, x.size >= SERIAL_BELOW)
    return kernel(x, beta, tau, thr, state, spikes, membrane, record)


def synaptic_forward(x, *args):
    return driver("synaptic_forward", x.size)(x, *args)


def alif_forward(x, *args):
    return driver("alif_forward", x.size)(x, *args)


@functools.cache
def _bptt_variant(kind: int, reset: int, conv: int, detach: int, parallel: bool):
    jit = njit(parallel=parallel, cache=True)
    return specialize(_lif_bptt, jit, KIND=kind, RESET=reset, CONV=conv, DETACH=detach)


def lif_bptt(grad_spikes, membrane, spikes, beta, thr, kind, p, reset, conv, detach_reset,
             grad_x, carry):
    kernel = _bptt_variant(int(kind), int(reset), int(conv), int(bool(detach_reset)),
                           grad_spikes.size >= SERIAL_BELOW)
    return kernel(grad_spikes, membrane, spikes, beta, thr, p, grad_x, carry)


@functools.cache
def _sltt_variant(kind: int, parallel: bool):
    return specialize(_sltt_backward, njit(parallel=parallel, cache=True), KIND=kind)


def sltt_backward(grad_spikes, membrane, thr, kind, p, grad_x):
    kernel = _sltt_variant(int(kind), grad_spikes.size >= SERIAL_BELOW)
    return kernel(grad_spikes, membrane, thr, p, grad_x)
