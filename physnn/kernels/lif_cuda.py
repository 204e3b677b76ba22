"""CUDA drivers of the LIF family (numba.cuda): one thread per neuron ``(b, n)``, the whole
time loop inside one launch, state in registers. Imported only when the CUDA backend is used.

The update rules are the ones in :mod:`physnn.kernels.lif_update`, compiled here as device
functions; no rule is written twice. Arrays are numba device arrays (CuPy and PyTorch tensors
are viewed through ``__cuda_array_interface__`` by the wrappers, without copies).
"""

from __future__ import annotations

import functools
import math

import numpy as np
from numba import cuda

from . import lif_update as U
from ._compile import compile_rules


def _register_unfused_mul() -> None:
    """Type ``lif_update.mul`` on the CUDA target as a multiply that is never contracted
    into an FMA (``mul.rn``), and ``lif_update.half_pi`` as the constant of its argument's
    precision; the simulator keeps calling the plain functions."""
    from numba.core import types

    try:
        from numba.cuda import libdevice
        from numba.cuda.extending import overload
    except ImportError:  # the CUDA simulator: plain Python arithmetic, nothing to do
        return

    @overload(U.mul, target="cuda")
    def _mul_rn(a, b):
        if a == types.float32 and b == types.float32:
            return lambda a, b: libdevice.fmul_rn(a, b)
        if a == types.float64 and b == types.float64:
            return lambda a, b: libdevice.dmul_rn(a, b)
        return lambda a, b: a * b

    @overload(U.half_pi, target="cuda")
    def _half_pi(p):
        # pi/2 in p's precision (see lif_update.half_pi): no float64 in a float32 kernel
        if isinstance(p, types.Float) and p.bitwidth == 32:
            return lambda p: np.float32(U.HALF_PI)
        return lambda p: np.float64(U.HALF_PI)


_register_unfused_mul()

_rules = compile_rules(
    [U.lif_step, U.synaptic_step, U.alif_step, U.surrogate_grad, U.lif_bptt_step],
    cuda.jit(device=True),
)
lif_step = _rules["lif_step"]
synaptic_step = _rules["synaptic_step"]
alif_step = _rules["alif_step"]
surrogate_grad = _rules["surrogate_grad"]
lif_bptt_step = _rules["lif_bptt_step"]

THREADS = 256


def _grid(n: int) -> tuple[int, int]:
    return max(1, (n + THREADS - 1) // THREADS), THREADS


@cuda.jit
def _lif_forward_kernel(x, beta, tau, thr, state, reset, conv, spikes, membrane, record, bad):
    T, B, N = x.shape
    i = cuda.grid(1)
    if i >= B * N:
        return
    b = i // N
    n = i - b * N
    st = state[b, n]
    be = beta[n]
    ta = tau[n]
    th = thr[n]
    nonfinite = False
    # Issue the next step's load before the dependent update of this step, so the memory
    # latency overlaps the arithmetic (software pipelining by one step).
    xv = x[0, b, n]
    for t in range(T):
        xn = x[t + 1, b, n] if t + 1 < T else xv
        nonfinite |= not math.isfinite(xv)
        st, rec, spk = lif_step(st, xv, be, ta, th, reset, conv)
        spikes[t, b, n] = spk
        if record:
            membrane[t, b, n] = rec
        xv = xn
    state[b, n] = st
    if nonfinite:
        bad[b] = 1


@cuda.jit
def _synaptic_forward_kernel(x, alpha, beta, thr, syn, mem, reset, spikes, membrane, record,
                             bad):
    T, B, N = x.shape
    i = cuda.grid(1)
    if i >= B * N:
        return
    b = i // N
    n = i - b * N
    sy = syn[b, n]
    me = mem[b, n]
    nonfinite = False
    for t in range(T):
        xv = x[t, b, n]
        nonfinite |= not math.isfinite(xv)
        sy, me, spk = synaptic_step(sy, me, xv, alpha[n], beta[n], thr[n], reset)
        spikes[t, b, n] = spk
        if record:
            membrane[t, b, n] = me
    syn[b, n] = sy
    mem[b, n] = me
    if nonfinite:
        bad[b] = 1


@cuda.jit
def _alif_forward_kernel(x, beta, thr, gamma, rho, v, a, reset, spikes, membrane, record, bad):
    T, B, N = x.shape
    i = cuda.grid(1)
    if i >= B * N:
        return
    b = i // N
    n = i - b * N
    vv = v[b, n]
    aa = a[b, n]
    nonfinite = False
    for t in range(T):
        xv = x[t, b, n]
        nonfinite |= not math.isfinite(xv)
        vv, aa, h, spk = alif_step(vv, aa, xv, beta[n], thr[n], gamma[n], rho[n], reset)
        spikes[t, b, n] = spk
        if record:
            membrane[t, b, n] = h
    v[b, n] = vv
    a[b, n] = aa
    if nonfinite:
        bad[b] = 1


@cuda.jit
def _lif_bptt_kernel(grad_spikes, membrane, spikes, beta, thr, kind, p, reset, conv,
                     detach_reset, grad_x, carry):
    T, B, N = grad_spikes.shape
    i = cuda.grid(1)
    if i >= B * N:
        return
    b = i // N
    n = i - b * N
    c = carry[b, n]
    be = beta[n]
    th = thr[n]
    for k in range(T):
        t = T - 1 - k
        d, c = lif_bptt_step(c, grad_spikes[t, b, n], membrane[t, b, n], spikes[t, b, n],
                             be, th, kind, p, reset, conv, detach_reset)
        grad_x[t, b, n] = d
    carry[b, n] = c


@cuda.jit
def _sltt_backward_kernel(grad_spikes, membrane, thr, kind, p, grad_x):
    S, B, N = grad_spikes.shape
    i = cuda.grid(1)
    if i >= B * N:
        return
    b = i // N
    n = i - b * N
    th = thr[n]
    for t in range(S):
        grad_x[t, b, n] = grad_spikes[t, b, n] * surrogate_grad(membrane[t, b, n] - th, kind, p)


# ----------------------------------------------------------------------------- host side


def _dev_param(a):
    """A device copy of a per-neuron parameter (a device array as it is: the wrappers of
    :mod:`physnn.spiking` upload a call's parameters once and keep them)."""
    if getattr(a, "__cuda_ndarray__", False):
        return a
    return cuda.to_device(np.ascontiguousarray(a))


@functools.lru_cache(maxsize=256)
def _launch(kernel, n: int):
    """``kernel`` configured for ``n`` threads, kept: the launch configuration is built once
    per size, not on every call."""
    return kernel[_grid(n)]


def launch(kernel, n: int, stream=None):
    """``kernel`` configured for ``n`` threads (one per neuron ``(b, n)``), on ``stream``
    when one is given (:mod:`physnn.kernels.grad_cuda` launches on PyTorch's stream), else
    on the default stream with the configuration kept per size (:func:`_launch`)."""
    if stream is None:
        return _launch(kernel, n)
    return kernel[(*_grid(n), stream)]


def alloc_outputs(shape, spike_dtype, dtype, record):
    spikes = cuda.device_array(shape, dtype=spike_dtype)
    membrane = cuda.device_array(shape if record else (1, 1, 1), dtype=dtype)
    return spikes, membrane


def empty_like(x):
    return cuda.device_array(x.shape, dtype=x.dtype)


def state_copy(name, value, want, flat, dtype):
    """A device copy of one state field as ``flat = (B, N)`` (zeros when ``value`` is None)."""
    if value is None:
        out = cuda.device_array(flat, dtype=dtype)
        _launch(_fill_zero, flat[0] * flat[1])(out.reshape(flat[0] * flat[1]))
        return out
    if getattr(value, "__cuda_ndarray__", False) or hasattr(value, "__cuda_array_interface__"):
        arr = value if getattr(value, "__cuda_ndarray__", False) else cuda.as_cuda_array(value)
        if tuple(arr.shape) != tuple(want):
            raise ValueError(f"{name} must have shape (batch, *features) = {tuple(want)}, "
                             f"got {tuple(arr.shape)}")
        if arr.dtype != dtype or not arr.is_c_contiguous():
            raise TypeError(f"{name} must be a C-contiguous {dtype} array, got {arr.dtype}")
        out = cuda.device_array(flat, dtype=dtype)
        out.copy_to_device(arr.reshape(flat))
        return out
    host = np.asarray(value)
    if host.shape != tuple(want):
        raise ValueError(f"{name} must have shape (batch, *features) = {tuple(want)}, "
                         f"got {host.shape}")
    if not np.all(np.isfinite(host)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return cuda.to_device(np.ascontiguousarray(host, dtype=dtype).reshape(flat))


@cuda.jit
def _fill_zero(a):
    i = cuda.grid(1)
    if i < a.size:
        a[i] = 0


def bad_flags(B: int, stream=None):
    """``[B]`` uint8 device flags, zeroed on ``stream`` (the default stream when None), that
    a forward kernel sets for the rows whose input is not finite."""
    bad = cuda.device_array(B, dtype=np.uint8, stream=0 if stream is None else stream)
    launch(_fill_zero, B, stream)(bad)
    return bad


def lif_forward(x, beta, tau, thr, state, reset, conv, spikes, membrane, record, stream=None):
    """LIF forward on device arrays (``state`` updated in place) on ``stream``; returns the
    device flags of :func:`bad_flags`. The parameters may be host arrays (uploaded here) or
    device arrays (used as they are)."""
    T, B, N = x.shape
    bad = bad_flags(B, stream)
    if B * N:
        launch(_lif_forward_kernel, B * N, stream)(
            x, _dev_param(beta), _dev_param(tau), _dev_param(thr), state, reset, conv, spikes,
            membrane, record, bad)
    return bad


def synaptic_forward(x, alpha, beta, thr, syn, mem, reset, spikes, membrane, record):
    T, B, N = x.shape
    bad = bad_flags(B)
    _launch(_synaptic_forward_kernel, B * N)(x, _dev_param(alpha), _dev_param(beta),
                                           _dev_param(thr), syn, mem, reset, spikes, membrane,
                                           record, bad)
    return bad


def alif_forward(x, beta, thr, gamma, rho, v, a, reset, spikes, membrane, record):
    T, B, N = x.shape
    bad = bad_flags(B)
    _launch(_alif_forward_kernel, B * N)(x, _dev_param(beta), _dev_param(thr), _dev_param(gamma),
                                       _dev_param(rho), v, a, reset, spikes, membrane, record,
                                       bad)
    return bad


def lif_bptt(grad_spikes, membrane, spikes, beta, thr, kind, p, reset, conv, detach_reset,
             grad_x, carry):
    T, B, N = grad_spikes.shape
    _launch(_lif_bptt_kernel, B * N)(grad_spikes, membrane, spikes, _dev_param(beta),
                                   _dev_param(thr), kind, p, reset, conv, detach_reset, grad_x,
                                   carry)


def sltt_backward(grad_spikes, membrane, thr, kind, p, grad_x):
    S, B, N = grad_spikes.shape
    _launch(_sltt_backward_kernel, B * N)(grad_spikes, membrane, _dev_param(thr), kind, p, grad_x)
