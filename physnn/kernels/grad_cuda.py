"""CUDA drivers of full BPTT for the LIF and synaptic neurons (``numba.cuda``), the GPU twins
of :mod:`physnn.kernels.grad_cpu`: one thread per neuron ``(b, n)``, the whole time loop in
one launch, the carries and parameter-gradient sums in registers. The scalar rules are those
of :mod:`physnn.kernels.grad_update`. Imported only when CUDA arrays come in.

Arrays are numba device arrays (PyTorch / CuPy arrays are viewed through
``__cuda_array_interface__`` by the caller); every launch takes a ``stream``.
"""

from __future__ import annotations

import math

from numba import cuda, float32

from . import grad_update as G
from . import lif_cuda
from . import lif_update as U
from .lif_cuda import bad_flags, launch, surrogate_grad, synaptic_step

_rules = G.compile_with(cuda.jit(device=True), surrogate_grad)
lif_grad_step = _rules["lif_grad_step"]
lif_grad_tail = _rules["lif_grad_tail"]
synaptic_grad_step = _rules["synaptic_grad_step"]
synaptic_grad_tail = _rules["synaptic_grad_tail"]


@cuda.jit
def _synaptic_forward_kernel(x, alpha, beta, thr, syn, mem, reset, spikes, mem_rec, syn_rec,
                             record, bad):
    T, B, N = x.shape
    i = cuda.grid(1)
    if i >= B * N:
        return
    b = i // N
    n = i - b * N
    sy = syn[b, n]
    me = mem[b, n]
    al = alpha[n]
    be = beta[n]
    th = thr[n]
    nonfinite = False
    for t in range(T):
        xv = x[t, b, n]
        nonfinite |= not math.isfinite(xv)
        sy, me, spk = synaptic_step(sy, me, xv, al, be, th, reset)
        spikes[t, b, n] = spk
        if record:
            mem_rec[t, b, n] = me
            syn_rec[t, b, n] = sy
    syn[b, n] = sy
    mem[b, n] = me
    if nonfinite:
        bad[b] = 1


@cuda.jit
def _lif_grad_kernel(grad_spikes, grad_final, membrane, spikes, state0, beta, thr, kind, p,
                     reset, conv, detach_reset, grad_x, grad_state0, gbeta, gthr):
    T, B, N = grad_spikes.shape
    i = cuda.grid(1)
    if i >= B * N:
        return
    b = i // N
    n = i - b * N
    be = beta[n]
    th = thr[n]
    c = grad_final[b, n] - grad_final[b, n]
    sb = c
    sh = c
    for k in range(T):
        t = T - 1 - k
        fin = grad_final[b, n] if k == 0 else c - c
        c, db, dh = lif_grad_step(c, grad_spikes[t, b, n], membrane[t, b, n], spikes[t, b, n],
                                  fin, be, th, kind, p, reset, conv, detach_reset)
        grad_x[t, b, n] = c
        sb += db
        sh += dh
    g0, db, dh = lif_grad_tail(c, state0[b, n], be, th, reset, conv)
    grad_state0[b, n] = g0
    gbeta[b, n] = sb + db
    gthr[b, n] = sh + dh


@cuda.jit
def _synaptic_grad_kernel(grad_spikes, grad_syn_final, grad_mem_final, mem_rec, syn_rec, spikes,
                          syn0, mem0, alpha, beta, thr, kind, p, reset, grad_x, grad_syn0,
                          grad_mem0, galpha, gbeta, gthr):
    T, B, N = grad_spikes.shape
    i = cuda.grid(1)
    if i >= B * N:
        return
    b = i // N
    n = i - b * N
    al = alpha[n]
    be = beta[n]
    th = thr[n]
    m0 = mem0[b, n]
    zero = m0 - m0
    cm = zero
    ci = zero
    sa = zero
    sb = zero
    sh = zero
    for k in range(T):
        t = T - 1 - k
        r = zero
        if reset == U.RESET_ZERO:
            if t > 0:
                r = spikes[t - 1, b, n]
            elif m0 > th:
                r = zero + float32(1.0)
        fm = grad_mem_final[b, n] if k == 0 else zero
        fi = grad_syn_final[b, n] if k == 0 else zero
        cm, ci, da, db, dh = synaptic_grad_step(cm, ci, grad_spikes[t, b, n], mem_rec[t, b, n],
                                                syn_rec[t, b, n], spikes[t, b, n], r, fm, fi,
                                                al, be, th, kind, p, reset)
        grad_x[t, b, n] = ci
        sa += da
        sb += db
        sh += dh
    g_s, g_m, da, db, dh = synaptic_grad_tail(cm, ci, syn0[b, n], m0, al, be, th, reset)
    grad_syn0[b, n] = g_s
    grad_mem0[b, n] = g_m
    galpha[b, n] = sa + da
    gbeta[b, n] = sb + db
    gthr[b, n] = sh + dh


def lif_forward(x, beta, tau, thr, state, reset, conv, spikes, membrane, record, stream):
    """LIF forward on device arrays (``state`` updated in place); returns the device flags.
    The forward kernel and its driver are :mod:`physnn.kernels.lif_cuda`'s, on ``stream``."""
    return lif_cuda.lif_forward(x, beta, tau, thr, state, reset, conv, spikes, membrane,
                                record, stream)


def synaptic_forward(x, alpha, beta, thr, syn, mem, reset, spikes, mem_rec, syn_rec, record,
                     stream):
    T, B, N = x.shape
    bad = bad_flags(B, stream)
    if B * N:
        launch(_synaptic_forward_kernel, B * N, stream)(x, alpha, beta, thr, syn, mem, reset,
                                                       spikes, mem_rec, syn_rec, record, bad)
    return bad


def lif_grad(grad_spikes, grad_final, membrane, spikes, state0, beta, thr, kind, p, reset, conv,
             detach_reset, grad_x, grad_state0, gbeta, gthr, stream):
    T, B, N = grad_spikes.shape
    if B * N:
        launch(_lif_grad_kernel, B * N, stream)(
            grad_spikes, grad_final, membrane, spikes, state0, beta, thr, int(kind),
            grad_spikes.dtype.type(p), int(reset), int(conv), bool(detach_reset), grad_x,
            grad_state0, gbeta, gthr)


def synaptic_grad(grad_spikes, grad_syn_final, grad_mem_final, mem_rec, syn_rec, spikes, syn0,
                  mem0, alpha, beta, thr, kind, p, reset, grad_x, grad_syn0, grad_mem0, galpha,
                  gbeta, gthr, stream):
    T, B, N = grad_spikes.shape
    if B * N:
        launch(_synaptic_grad_kernel, B * N, stream)(
            grad_spikes, grad_syn_final, grad_mem_final, mem_rec, syn_rec, spikes, syn0, mem0,
            alpha, beta, thr, int(kind), grad_spikes.dtype.type(p), int(reset), grad_x,
            grad_syn0, grad_mem0, galpha, gbeta, gthr)
