"""CPU drivers of the LIF family: ``numba.njit(parallel=True)``, batch rows in ``prange``,
a contiguous inner loop over neurons. They assume valid input (see :mod:`physnn.spiking`).

Each driver is compiled twice from one source: parallel, and serial for small problems
(below :data:`SERIAL_BELOW` neuron-steps a parallel region costs more than it saves, the
more so on a busy machine) or a single numba thread; :func:`parallel_pays` decides. The LIF
forward, its BPTT backward and the SLTT backward are further specialised per reset /
convention / surrogate / detach mode (:func:`physnn.kernels._compile.specialize`, compiled on
first use): with no mode branch left in the per-neuron loop LLVM vectorises it (the BPTT
backward ran 10x faster than one generic build on T=32, B=128, N=1568).

They are also specialised on whether the per-neuron parameters are uniform (one value for the
whole population, as in every layer of :class:`physnn.snn.SpikingNetwork`). LLVM vectorises
a loop that may write through one array and read another only after run-time overlap checks,
and it gives up above a handful of array pairs: with ``beta``, ``tau`` and ``thr`` read as
arrays the LIF loops stayed scalar; with their values held in registers they vectorise
(the fresh-compiled forward kernel on T=32, B=128, N=256 went from 2.8 to 1.5 ms on one core).

Layout: ``x[T, B, N]`` time-major, per-neuron parameters ``[N]``. A forward driver takes the
initial state ``state_in[B, N]`` and a working state ``state[B, N]`` that leaves as the final
state (the wrappers pass a fresh array, or the same array twice to step in place), so no
copy of the caller's state is made outside the kernel. It returns an int of flags:
:data:`BAD_INPUT` when an input current was not finite, :data:`BAD_STATE` when an initial
state was not, so the wrapper can refuse either without a second pass over the data.
"""

from __future__ import annotations

import functools
import math

import numba
import numpy as np
from numba import njit, prange

from . import lif_update as U
from ._compile import compile_rules, source_tag, specialize

_rules = compile_rules(
    [U.mul, U.lif_step, U.synaptic_step, U.alif_step, U.surrogate_grad, U.lif_bptt_step],
    njit(cache=True, inline="always", error_model="numpy"),
)
lif_step = _rules["lif_step"]
synaptic_step = _rules["synaptic_step"]
alif_step = _rules["alif_step"]
surrogate_grad = _rules["surrogate_grad"]
lif_bptt_step = _rules["lif_bptt_step"]
# the version of the inlined rules, part of every driver's cache key (see source_tag)
_RULES = source_tag(U)


#: bits of the flags the forward drivers return
BAD_INPUT = 1  # some input current was NaN or infinite
BAD_STATE = 2  # some initial state was NaN or infinite


@njit(cache=True, inline="always", error_model="numpy")
def _load_state(src, dst):
    """Copy one row of initial state into the working state; True if a value is not finite.
    ``src`` may be ``dst`` itself (a state stepped in place)."""
    nonfinite = False
    for n in range(dst.shape[0]):
        v = src[n]
        nonfinite |= not math.isfinite(v)
        dst[n] = v
    return nonfinite


@njit(cache=True, inline="always")
def _flags(bad_x, bad_state):
    return (BAD_INPUT if bad_x > 0 else 0) | (BAD_STATE if bad_state > 0 else 0)


# Placeholders: each compiled variant of _lif_forward freezes its own reset and convention
# (see specialize), so the per-neuron update carries no branch on either.
RESET = U.RESET_SUBTRACT
CONV = U.CONV_SNNTORCH
# 1: the per-neuron parameters hold one value each; the kernels read it once, into a register
UNIFORM = 0
# The surrogate and reset handling of the backward drivers (and of the forward's SG_RECORD
# variants), frozen per variant like RESET and CONV.
KIND = U.SG_TRIANGLE
DETACH = 0
# 1: the forward records the surrogate derivative instead of the membrane
SG_RECORD = 0


def _lif_forward(x, beta, tau, thr, state_in, state, spikes, membrane, record, p=0.0):
    """LIF forward; ``membrane`` records the membrane of every step when ``record``, or, in
    the variants with ``SG_RECORD = 1``, the surrogate derivative ``sg'(u - thr)`` of kind
    ``KIND`` and parameter ``p`` (SLTT's spatial factor, so its backward needs no second
    pass over the membrane)."""
    T, B, N = x.shape
    bad_x = 0
    bad_state = 0
    beta0, tau0, thr0 = beta[0], tau[0], thr[0]
    for b in prange(B):
        st = state[b]
        nonfinite_state = _load_state(state_in[b], st)
        nonfinite = False
        for t in range(T):
            xt = x[t, b]
            st_out = spikes[t, b]
            for n in range(N):
                xv = xt[n]
                nonfinite |= not math.isfinite(xv)
                s_new, rec, spk = lif_step(st[n], xv, beta0 if UNIFORM else beta[n],
                                           tau0 if UNIFORM else tau[n],
                                           thr0 if UNIFORM else thr[n], RESET, CONV)
                st[n] = s_new
                st_out[n] = spk
                if record:
                    membrane[t, b, n] = rec
            if SG_RECORD and record:
                # the surrogate factor in a second pass over the row, in place: in the loop
                # above it kept LLVM from vectorising (26 vs 12 us on one core for B=128,
                # N=256); the same float32 operations on the same values, so the same bits
                mt = membrane[t, b]
                for n in range(N):
                    mt[n] = surrogate_grad(mt[n] - (thr0 if UNIFORM else thr[n]), KIND, p)
        bad_x += 1 if nonfinite else 0
        bad_state += 1 if nonfinite_state else 0
    return _flags(bad_x, bad_state)


def _synaptic_forward(x, alpha, beta, thr, syn_in, mem_in, syn, mem, reset, spikes, membrane,
                      record):
    T, B, N = x.shape
    bad_x = 0
    bad_state = 0
    for b in prange(B):
        sy = syn[b]
        me = mem[b]
        nonfinite_state = _load_state(syn_in[b], sy) | _load_state(mem_in[b], me)
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
        bad_x += 1 if nonfinite else 0
        bad_state += 1 if nonfinite_state else 0
    return _flags(bad_x, bad_state)


def _alif_forward(x, beta, thr, gamma, rho, v_in, a_in, v, a, reset, spikes, membrane, record):
    T, B, N = x.shape
    bad_x = 0
    bad_state = 0
    for b in prange(B):
        vb = v[b]
        ab = a[b]
        nonfinite_state = _load_state(v_in[b], vb) | _load_state(a_in[b], ab)
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
        bad_x += 1 if nonfinite else 0
        bad_state += 1 if nonfinite_state else 0
    return _flags(bad_x, bad_state)




def _lif_bptt(grad_spikes, membrane, spikes, beta, thr, p, grad_x, carry, chunks):
    """Reverse-time LIF backward; ``carry[B, N]`` enters as the gradient from beyond the
    last step (usually zeros) and leaves as the carry before step 0.

    The batch rows are split into ``chunks`` contiguous ranges, one per thread; within a
    range the time loop is outside the row loop, so each step reads one contiguous block of
    rows. Running one row through all steps instead (a 1 KiB read every ``B * N`` floats,
    backwards in memory) was 1.6-2.5x slower.
    """
    T, B, N = grad_spikes.shape
    beta0, thr0 = beta[0], thr[0]
    for c in prange(chunks):
        lo = c * B // chunks
        hi = (c + 1) * B // chunks
        for tt in range(T):
            t = T - 1 - tt
            for b in range(lo, hi):
                cb = carry[b]
                gt = grad_spikes[t, b]
                ut = membrane[t, b]
                st = spikes[t, b]
                gx = grad_x[t, b]
                for n in range(N):
                    d, cr = lif_bptt_step(cb[n], gt[n], ut[n], st[n],
                                          beta0 if UNIFORM else beta[n],
                                          thr0 if UNIFORM else thr[n], KIND, p, RESET, CONV,
                                          DETACH)
                    gx[n] = d
                    cb[n] = cr


def _sltt_backward(grad_spikes, membrane, thr, p, grad_x):
    """Spatial-only (SLTT) backward of one or many steps: ``dx = g * sg'(u - thr)``."""
    S, B, N = grad_spikes.shape
    thr0 = thr[0]
    for b in prange(B):
        for t in range(S):
            gt = grad_spikes[t, b]
            ut = membrane[t, b]
            gx = grad_x[t, b]
            for n in range(N):
                gx[n] = gt[n] * surrogate_grad(ut[n] - (thr0 if UNIFORM else thr[n]), KIND, p)


#: Problems of fewer neuron-steps run the serial build. A parallel region costs tens of
#: microseconds on an idle machine and whole scheduler time slices (milliseconds) on a busy
#: one; below about a million neuron-steps (0.2 ms of serial work) threads cannot pay for it.
SERIAL_BELOW = 1 << 20


def parallel_pays(work: int) -> bool:
    """Whether ``work`` neuron-steps take the parallel build: at least :data:`SERIAL_BELOW`
    of them, and more than one numba thread (``NUMBA_NUM_THREADS=1`` or
    ``numba.set_num_threads(1)`` makes every driver serial)."""
    return work >= SERIAL_BELOW and numba.get_num_threads() > 1


def _jit(parallel: bool):
    """The drivers' decorator. ``error_model="numpy"``: a float division by zero gives
    inf / NaN instead of raising, so numba emits no zero check per element, which kept LLVM
    from vectorising the loops (the BPTT backward on T=32, B=128, N=256 went from 4.5 to
    1.0 ms on one core)."""
    return njit(parallel=parallel, cache=True, error_model="numpy")


def compiled_driver(fn, parallel: bool, rules: int = _RULES, **constants: int):
    """``fn`` compiled by :func:`_jit` with ``constants`` frozen (the drivers here and in
    :mod:`physnn.kernels.grad_cpu`). The parallel flag and ``rules``, the version of the
    update rules the driver inlines (:func:`~physnn.kernels._compile.source_tag`), are
    frozen too, only to name the clone: numba's disk cache keys on the function's name,
    bytecode and signature but not on ``parallel`` or the inlined rules, so a serial and a
    parallel build of one name would load each other's machine code."""
    return specialize(fn, _jit(parallel), PARALLEL=int(parallel), RULES=rules, **constants)


def row_chunks(batch: int, parallel: bool) -> int:
    """The number of contiguous batch-row ranges a reverse-time driver splits its rows into:
    one per numba thread (at most one per row) for a parallel build, 1 for a serial one."""
    return max(1, min(batch, numba.get_num_threads())) if parallel else 1


def _pair(fn):
    return compiled_driver(fn, True), compiled_driver(fn, False)


_DRIVERS = {fn.__name__.lstrip("_"): _pair(fn) for fn in
            (_synaptic_forward, _alif_forward)}


def uniform(*params: np.ndarray) -> int:
    """1 when every per-neuron parameter array holds a single value (0 otherwise).

    The wrappers below take ``uni=`` from callers that know the answer (a layer's cached
    parameter arrays, a cached call plan of :mod:`physnn.spiking`), saving this check on
    every step.
    """
    return int(all(a.size > 0 and a.min() == a.max() for a in params))


@functools.cache
def _lif_variant(reset: int, conv: int, uni: int, parallel: bool, sg_kind: int = -1):
    if sg_kind < 0:
        return compiled_driver(_lif_forward, parallel, RESET=reset, CONV=conv, UNIFORM=uni)
    return compiled_driver(_lif_forward, parallel, RESET=reset, CONV=conv, UNIFORM=uni,
                     SG_RECORD=1, KIND=sg_kind)


def driver(name: str, work: int):
    """The compiled driver ``name``: parallel when ``work`` (neuron-steps) is large."""
    parallel, serial = _DRIVERS[name]
    return parallel if parallel_pays(work) else serial


def lif_kernel(reset: int, conv: int, uni: int, work: int):
    """The LIF forward driver for ``work`` neuron-steps (serial unless :func:`parallel_pays`).

    Called as ``kernel(x, beta, tau, thr, state_in, state, spikes, membrane, record)``:
    ``state[B, N]`` receives ``state_in`` (which may be ``state`` itself) and leaves as the
    final state; returns :data:`BAD_INPUT` / :data:`BAD_STATE` flags (0: all finite).
    Needs ``N >= 1`` (the kernels read parameter 0 up front).
    """
    return _lif_variant(int(reset), int(conv), int(uni), parallel_pays(work))


def lif_sg_kernel(reset: int, conv: int, kind: int, work: int):
    """The LIF forward driver that records ``sg'(u - thr)`` (surrogate ``kind``, parameter
    ``p``) instead of the membrane, for uniform parameters: called as ``kernel(x, beta, tau,
    thr, state_in, state, spikes, sgrad, True, p)``; flags as :func:`lif_kernel`."""
    return _lif_variant(int(reset), int(conv), 1, parallel_pays(work), int(kind))


def _bad_rows(x: np.ndarray, flags: int) -> np.ndarray:
    """``[B]`` flags of the batch rows whose input is not finite (computed only on error)."""
    if not flags & BAD_INPUT:
        return np.zeros(x.shape[1], np.bool_)
    return ~np.isfinite(x).all(axis=(0, 2))


def lif_forward(x, beta, tau, thr, state, reset, conv, spikes, membrane, record, uni=None):
    """LIF forward with ``state`` updated in place; returns the ``[B]`` non-finite-input
    flags (the interface of :mod:`physnn.torch_ops`; :mod:`physnn.spiking` calls
    :func:`lif_kernel` itself)."""
    if x.shape[2] == 0:  # no neurons (the kernels read parameter 0 up front)
        return np.zeros(x.shape[1], np.bool_)
    uni = uniform(beta, tau, thr) if uni is None else uni
    flags = lif_kernel(reset, conv, uni, x.size)(x, beta, tau, thr, state, state, spikes,
                                                 membrane, record)
    return _bad_rows(x, flags)


def synaptic_kernel(work: int):
    """The synaptic forward driver, called as ``kernel(x, alpha, beta, thr, syn_in, mem_in,
    syn, mem, reset, spikes, membrane, record)``; flags as :func:`lif_kernel`."""
    return driver("synaptic_forward", work)


def alif_kernel(work: int):
    """The adaptive-LIF forward driver, called as ``kernel(x, beta, thr, gamma, rho, v_in,
    a_in, v, a, reset, spikes, membrane, record)``; flags as :func:`lif_kernel`."""
    return driver("alif_forward", work)


@functools.cache
def _bptt_variant(kind: int, reset: int, conv: int, detach: int, uni: int, parallel: bool):
    return compiled_driver(_lif_bptt, parallel, KIND=kind, RESET=reset, CONV=conv, DETACH=detach,
                     UNIFORM=uni)


def lif_bptt(grad_spikes, membrane, spikes, beta, thr, kind, p, reset, conv, detach_reset,
             grad_x, carry, uni=None):
    if grad_spikes.shape[2] == 0:
        return None
    parallel = parallel_pays(grad_spikes.size)
    kernel = _bptt_variant(int(kind), int(reset), int(conv), int(bool(detach_reset)),
                           uniform(beta, thr) if uni is None else uni, parallel)
    return kernel(grad_spikes, membrane, spikes, beta, thr, p, grad_x, carry,
                  row_chunks(grad_spikes.shape[1], parallel))


@functools.cache
def _sltt_variant(kind: int, uni: int, parallel: bool):
    return compiled_driver(_sltt_backward, parallel, KIND=kind, UNIFORM=uni)


def sltt_backward(grad_spikes, membrane, thr, kind, p, grad_x, uni=None):
    if grad_spikes.shape[2] == 0:
        return None
    kernel = _sltt_variant(int(kind), (uniform(thr) if uni is None else uni),
                           parallel_pays(grad_spikes.size))
    return kernel(grad_spikes, membrane, thr, p, grad_x)
