"""CPU drivers of full BPTT for the LIF and synaptic neurons (``numba.njit``), used by
:mod:`physnn.torch_ops`: gradients with respect to the input, the initial state and the
per-neuron parameters, given the gradients of the spikes and of the final state. Also the
synaptic forward pass that records the synaptic current as well as the membrane (its
gradient with respect to ``alpha`` needs it).

The scalar rules are those of :mod:`physnn.kernels.grad_update`; the drivers follow
:mod:`physnn.kernels.lif_cpu`: each is specialised per reset / convention / surrogate /
detach mode and per uniform parameters (compiled on first use, cached on disk, by
:func:`physnn.kernels.lif_cpu.compiled_driver`), and runs parallel over batch rows only when
:func:`physnn.kernels.lif_cpu.parallel_pays`: from
:data:`~physnn.kernels.lif_cpu.SERIAL_BELOW` neuron-steps up and with more than one numba
thread.
The reverse loops split the batch rows into one contiguous range per thread and put the
time loop outside the row loop (see :func:`physnn.kernels.lif_cpu._lif_bptt`).

Layout: ``[T, B, N]`` time-major arrays, parameters ``[N]``, states and per-row parameter
gradients ``[B, N]`` (the caller sums the latter over the batch). All arrays C-contiguous,
float arrays of one dtype (float32 or float64); spikes in that dtype too.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from numba import float32, njit, prange

from . import grad_update as G
from . import lif_update as U
from ._compile import source_tag
from .lif_cpu import (
    compiled_driver,
    parallel_pays,
    row_chunks,
    surrogate_grad,
    synaptic_step,
    uniform,
)

_rules = G.compile_with(njit(cache=True, inline="always", error_model="numpy"), surrogate_grad)
lif_grad_step = _rules["lif_grad_step"]
lif_grad_tail = _rules["lif_grad_tail"]
synaptic_grad_step = _rules["synaptic_grad_step"]
synaptic_grad_tail = _rules["synaptic_grad_tail"]
_RULES = source_tag(U, G)

# placeholders, frozen per compiled variant (see physnn.kernels._compile.specialize)
RESET = U.RESET_SUBTRACT
CONV = U.CONV_SNNTORCH
KIND = U.SG_ATAN
DETACH = 0
UNIFORM = 0


def _synaptic_forward(x, alpha, beta, thr, syn, mem, spikes, mem_rec, syn_rec, record):
    """Synaptic forward (``syn``, ``mem`` updated in place), recording ``mem[t]`` and
    ``syn[t]`` when ``record``. Returns the ``[B]`` non-finite-input flags."""
    T, B, N = x.shape
    bad = np.zeros(B, dtype=np.bool_)
    a0, b0, th0 = alpha[0], beta[0], thr[0]
    for b in prange(B):
        sy = syn[b]
        me = mem[b]
        nonfinite = False
        for t in range(T):
            xt = x[t, b]
            so = spikes[t, b]
            mr = mem_rec[t, b] if record else mem_rec[0, 0]
            sr = syn_rec[t, b] if record else syn_rec[0, 0]
            for n in range(N):
                xv = xt[n]
                nonfinite |= not math.isfinite(xv)
                s_new, m_new, spk = synaptic_step(sy[n], me[n], xv,
                                                  a0 if UNIFORM else alpha[n],
                                                  b0 if UNIFORM else beta[n],
                                                  th0 if UNIFORM else thr[n], RESET)
                sy[n] = s_new
                me[n] = m_new
                so[n] = spk
                if record:
                    mr[n] = m_new
                    sr[n] = s_new
        bad[b] = nonfinite
    return bad


def _lif_grad(grad_spikes, grad_final, membrane, spikes, state0, beta, thr, p, grad_x,
              grad_state0, gbeta, gthr, chunks):
    """Reverse-time LIF BPTT. ``grad_state0`` is the carry (delta[t+1]) during the loop and
    leaves as dL/dstate0; ``gbeta``, ``gthr`` leave as the per-row parameter gradients."""
    T, B, N = grad_spikes.shape
    beta0, thr0 = beta[0], thr[0]
    for c in prange(chunks):
        lo = c * B // chunks
        hi = (c + 1) * B // chunks
        for b in range(lo, hi):
            for n in range(N):
                grad_state0[b, n] = 0
                gbeta[b, n] = 0
                gthr[b, n] = 0
        for tt in range(T):
            t = T - 1 - tt
            last = tt == 0
            for b in range(lo, hi):
                cb = grad_state0[b]
                gb = gbeta[b]
                gh = gthr[b]
                gf = grad_final[b]
                gt = grad_spikes[t, b]
                ut = membrane[t, b]
                st = spikes[t, b]
                gx = grad_x[t, b]
                for n in range(N):
                    fin = gf[n] if last else gf[n] - gf[n]
                    d, db, dh = lif_grad_step(cb[n], gt[n], ut[n], st[n], fin,
                                              beta0 if UNIFORM else beta[n],
                                              thr0 if UNIFORM else thr[n], KIND, p, RESET, CONV,
                                              DETACH)
                    gx[n] = d
                    cb[n] = d
                    gb[n] += db
                    gh[n] += dh
        for b in range(lo, hi):
            for n in range(N):
                g0, db, dh = lif_grad_tail(grad_state0[b, n], state0[b, n],
                                           beta0 if UNIFORM else beta[n],
                                           thr0 if UNIFORM else thr[n], RESET, CONV)
                grad_state0[b, n] = g0
                gbeta[b, n] += db
                gthr[b, n] += dh


def _synaptic_grad(grad_spikes, grad_syn_final, grad_mem_final, mem_rec, syn_rec, spikes,
                   syn0, mem0, alpha, beta, thr, p, grad_x, grad_syn0, grad_mem0, galpha, gbeta,
                   gthr, chunks):
    """Reverse-time synaptic BPTT. ``grad_mem0`` / ``grad_syn0`` carry dL/dm[t+1] /
    dL/dI[t+1] during the loop and leave as the gradients of the initial state."""
    T, B, N = grad_spikes.shape
    a0, b0, th0 = alpha[0], beta[0], thr[0]
    for c in prange(chunks):
        lo = c * B // chunks
        hi = (c + 1) * B // chunks
        for b in range(lo, hi):
            for n in range(N):
                grad_syn0[b, n] = 0
                grad_mem0[b, n] = 0
                galpha[b, n] = 0
                gbeta[b, n] = 0
                gthr[b, n] = 0
        for tt in range(T):
            t = T - 1 - tt
            last = tt == 0
            for b in range(lo, hi):
                cm = grad_mem0[b]
                ci = grad_syn0[b]
                ga = galpha[b]
                gb = gbeta[b]
                gh = gthr[b]
                fm = grad_mem_final[b]
                fi = grad_syn_final[b]
                gt = grad_spikes[t, b]
                mt = mem_rec[t, b]
                it = syn_rec[t, b]
                st = spikes[t, b]
                sp = spikes[t - 1, b] if t > 0 else spikes[t, b]
                m0 = mem0[b]
                gx = grad_x[t, b]
                for n in range(N):
                    th = th0 if UNIFORM else thr[n]
                    r = st[n] - st[n]
                    if RESET == U.RESET_ZERO:
                        if t > 0:
                            r = sp[n]
                        elif m0[n] > th:
                            r = r + float32(1.0)
                    dm, di, da, db, dh = synaptic_grad_step(
                        cm[n], ci[n], gt[n], mt[n], it[n], st[n], r,
                        fm[n] if last else fm[n] - fm[n], fi[n] if last else fi[n] - fi[n],
                        a0 if UNIFORM else alpha[n], b0 if UNIFORM else beta[n], th, KIND, p,
                        RESET)
                    gx[n] = di
                    cm[n] = dm
                    ci[n] = di
                    ga[n] += da
                    gb[n] += db
                    gh[n] += dh
        for b in range(lo, hi):
            for n in range(N):
                g_s, g_m, da, db, dh = synaptic_grad_tail(
                    grad_mem0[b, n], grad_syn0[b, n], syn0[b, n], mem0[b, n],
                    a0 if UNIFORM else alpha[n], b0 if UNIFORM else beta[n],
                    th0 if UNIFORM else thr[n], RESET)
                grad_syn0[b, n] = g_s
                grad_mem0[b, n] = g_m
                galpha[b, n] += da
                gbeta[b, n] += db
                gthr[b, n] += dh


@functools.cache
def _variant(name: str, parallel: bool, **constants: int):
    fn = {"synaptic_forward": _synaptic_forward, "lif_grad": _lif_grad,
          "synaptic_grad": _synaptic_grad}[name]
    return compiled_driver(fn, parallel, _RULES, **constants)


def synaptic_forward(x, alpha, beta, thr, syn, mem, reset, spikes, mem_rec, syn_rec, record):
    """Run the synaptic forward; see :func:`_synaptic_forward`."""
    if x.shape[2] == 0:
        return np.zeros(x.shape[1], np.bool_)
    kernel = _variant("synaptic_forward", parallel_pays(x.size), RESET=int(reset),
                      UNIFORM=uniform(alpha, beta, thr))
    return kernel(x, alpha, beta, thr, syn, mem, spikes, mem_rec, syn_rec, bool(record))


def lif_grad(grad_spikes, grad_final, membrane, spikes, state0, beta, thr, kind, p, reset, conv,
             detach_reset, grad_x, grad_state0, gbeta, gthr):
    """Full LIF BPTT; writes ``grad_x``, ``grad_state0`` and the per-row ``gbeta``, ``gthr``."""
    if grad_spikes.shape[2] == 0:
        grad_state0[...] = 0
        return None
    parallel = parallel_pays(grad_spikes.size)
    kernel = _variant("lif_grad", parallel, KIND=int(kind), RESET=int(reset), CONV=int(conv),
                      DETACH=int(bool(detach_reset)), UNIFORM=uniform(beta, thr))
    kernel(grad_spikes, grad_final, membrane, spikes, state0, beta, thr,
           grad_spikes.dtype.type(p), grad_x, grad_state0, gbeta, gthr,
           row_chunks(grad_spikes.shape[1], parallel))
    return None


def synaptic_grad(grad_spikes, grad_syn_final, grad_mem_final, mem_rec, syn_rec, spikes, syn0,
                  mem0, alpha, beta, thr, kind, p, reset, grad_x, grad_syn0, grad_mem0, galpha,
                  gbeta, gthr):
    """Full synaptic BPTT; see :func:`_synaptic_grad`."""
    if grad_spikes.shape[2] == 0:
        grad_syn0[...] = 0
        grad_mem0[...] = 0
        return None
    parallel = parallel_pays(grad_spikes.size)
    kernel = _variant("synaptic_grad", parallel, KIND=int(kind), RESET=int(reset),
                      UNIFORM=uniform(alpha, beta, thr))
    kernel(grad_spikes, grad_syn_final, grad_mem_final, mem_rec, syn_rec, spikes, syn0, mem0,
           alpha, beta, thr, grad_spikes.dtype.type(p), grad_x, grad_syn0, grad_mem0, galpha,
           gbeta, gthr, row_chunks(grad_spikes.shape[1], parallel))
    return None
