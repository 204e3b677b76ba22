"""The CUDA kernels behind physnn.torch_ops (full BPTT of LIF and synaptic neurons, the synaptic
forward with records) equal the CPU kernels; pn.lif & co. take any object with
``__cuda_array_interface__``. Run under NUMBA_ENABLE_CUDASIM=1 in a process of their own (or
on a GPU)."""

from __future__ import annotations

import os

import numpy as np
import pytest

pytestmark = pytest.mark.cudasim  # skipped unless simulated or on a GPU (conftest.py)

import physnn as pn  # noqa: E402
from physnn.kernels import lif_update as U  # noqa: E402

T, B, N = 6, 2, 3


def _r(shape, seed, mean=0.4, std=0.7, dtype=np.float32):
    return np.random.default_rng(seed).normal(mean, std, size=shape).astype(dtype)


SIM = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"


class CudaArrayOnly:
    """Exposes nothing but ``__cuda_array_interface__`` (like CuPy or a CUDA torch.Tensor)."""

    def __init__(self, dev):
        self._dev = dev
        self.__cuda_array_interface__ = dev.__cuda_array_interface__


def test_lif_family_take_numba_device_arrays():
    from numba import cuda

    x = _r((T, B, N), 0)
    for fn, kw in ((pn.lif, dict(beta=0.8)), (pn.synaptic, dict(alpha=0.6, beta=0.8)),
                   (pn.alif, dict(beta=0.9))):
        s, _ = fn(cuda.to_device(x), backend="auto", **kw)
        ref = fn(x, backend="cpu", **kw)[0]
        assert ref.sum() > 0
        np.testing.assert_array_equal(s.copy_to_host(), ref)
    s, _, m = pn.lif(x, beta=0.8, backend="cpu", record_membrane=True)
    g = _r((T, B, N), 1)
    got, got_st = pn.lif_backward(cuda.to_device(g), cuda.to_device(m), cuda.to_device(s),
                                  beta=0.8, backend="cuda")
    ref, ref_st = pn.lif_backward(g, m, s, beta=0.8, backend="cpu")
    np.testing.assert_allclose(got.copy_to_host(), ref, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(got_st.membrane.copy_to_host(), ref_st.membrane, rtol=1e-6,
                               atol=1e-7)
    got = pn.sltt_backward(cuda.to_device(g), cuda.to_device(m), backend="cuda")
    np.testing.assert_allclose(got.copy_to_host(), pn.sltt_backward(g, m, backend="cpu"),
                               rtol=1e-6, atol=1e-7)


@pytest.mark.skipif(SIM, reason="the CUDA simulator's arrays have no __cuda_array_interface__")
def test_lif_takes_any_cuda_array_interface():  # pragma: no cover - needs a GPU
    from numba import cuda

    x = _r((T, B, N), 0)
    s, _ = pn.lif(CudaArrayOnly(cuda.to_device(x)), beta=0.8, backend="auto")
    np.testing.assert_array_equal(s.copy_to_host(), pn.lif(x, beta=0.8, backend="cpu")[0])


def _cpu_and_cuda(run_cpu, run_cuda, arrays, outputs):
    """Run one driver on the host arrays and on device copies; return both outputs."""
    from numba import cuda

    host_out = [np.zeros_like(o) for o in outputs]
    run_cpu(*arrays, *host_out)
    dev_out = [cuda.to_device(np.zeros_like(o)) for o in outputs]
    run_cuda(*[cuda.to_device(a) for a in arrays], *dev_out)
    return host_out, [d.copy_to_host() for d in dev_out]


@pytest.mark.parametrize("conv,reset,detach", [
    (U.CONV_SNNTORCH, U.RESET_SUBTRACT, 0), (U.CONV_SNNTORCH, U.RESET_ZERO, 0),
    (U.CONV_SPIKINGJELLY, U.RESET_SUBTRACT, 0), (U.CONV_SPIKINGJELLY, U.RESET_ZERO, 1),
    (U.CONV_SPIKINGJELLY, U.RESET_NONE, 0)])
def test_lif_grad_cuda_equals_cpu(conv, reset, detach):
    from numba import cuda

    from physnn.kernels import grad_cpu, grad_cuda

    x = _r((T, B, N), 2)
    beta = np.array([0.6, 0.8, 0.9], np.float32)
    thr = np.array([0.8, 1.0, 1.1], np.float32)
    s0 = _r((B, N), 3)
    conv_name = "snntorch" if conv == U.CONV_SNNTORCH else "spikingjelly"
    reset_name = {U.RESET_SUBTRACT: "subtract", U.RESET_ZERO: "zero", U.RESET_NONE: "none"}[reset]
    s, _, m = pn.lif(x, beta=beta, threshold=thr, reset=reset_name, convention=conv_name,
                     state=pn.LIFState(s0), backend="cpu", spike_dtype=np.float32,
                     record_membrane=True)
    arrays = [_r((T, B, N), 4), _r((B, N), 5), m, s, s0, beta, thr]
    outputs = [np.zeros((T, B, N), np.float32)] + [np.zeros((B, N), np.float32)] * 3
    stream = cuda.default_stream()

    def on_cpu(g, gf, m, s, s0, be, th, *out):
        grad_cpu.lif_grad(g, gf, m, s, s0, be, th, U.SG_ATAN, 2.0, reset, conv, detach, *out)

    def on_cuda(g, gf, m, s, s0, be, th, *out):
        grad_cuda.lif_grad(g, gf, m, s, s0, be, th, U.SG_ATAN, 2.0, reset, conv, detach, *out,
                           stream)

    host, dev = _cpu_and_cuda(on_cpu, on_cuda, arrays, outputs)
    assert np.abs(host[2]).sum() > 0 and np.abs(host[3]).sum() > 0
    for h, d in zip(host, dev, strict=True):
        np.testing.assert_allclose(d, h, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("reset", [U.RESET_SUBTRACT, U.RESET_ZERO, U.RESET_NONE])
def test_synaptic_forward_and_grad_cuda_equal_cpu(reset):
    from numba import cuda

    from physnn.kernels import grad_cpu, grad_cuda

    x = _r((T, B, N), 6)
    alpha = np.array([0.5, 0.7, 0.9], np.float32)
    beta = np.array([0.6, 0.8, 0.9], np.float32)
    thr = np.full(N, 0.9, np.float32)
    syn0, mem0 = _r((B, N), 7), _r((B, N), 8)
    stream = cuda.default_stream()
    fwd_out = [np.zeros((B, N), np.float32), np.zeros((B, N), np.float32)] + \
        [np.zeros((T, B, N), np.float32)] * 3

    def fwd_cpu(x, a, b, th, sy0, me0, sy, me, spk, mr, sr):
        sy[...] = sy0
        me[...] = me0
        grad_cpu.synaptic_forward(x, a, b, th, sy, me, reset, spk, mr, sr, True)

    def fwd_cuda(x, a, b, th, sy0, me0, sy, me, spk, mr, sr):
        sy.copy_to_device(sy0)
        me.copy_to_device(me0)
        grad_cuda.synaptic_forward(x, a, b, th, sy, me, reset, spk, mr, sr, True, stream)

    host, dev = _cpu_and_cuda(fwd_cpu, fwd_cuda, [x, alpha, beta, thr, syn0, mem0], fwd_out)
    spikes, mem_rec, syn_rec = host[2:]
    assert spikes.sum() > 0
    np.testing.assert_array_equal(dev[2], spikes)
    ref_s, _, ref_m = pn.synaptic(x, alpha=alpha, beta=beta, threshold=thr,
                                  reset=["subtract", "zero", "none"][reset],
                                  state=pn.SynapticState(syn0, mem0), backend="cpu",
                                  record_membrane=True)
    np.testing.assert_array_equal(spikes, ref_s)
    np.testing.assert_allclose(mem_rec, ref_m, rtol=1e-6, atol=1e-6)
    for h, d in zip(host, dev, strict=True):
        np.testing.assert_allclose(d, h, rtol=1e-6, atol=1e-6)

    arrays = [_r((T, B, N), 9), _r((B, N), 10), _r((B, N), 11), mem_rec, syn_rec, spikes, syn0,
              mem0, alpha, beta, thr]
    outputs = [np.zeros((T, B, N), np.float32)] + [np.zeros((B, N), np.float32)] * 5

    def bwd_cpu(*args):
        grad_cpu.synaptic_grad(*args[:11], U.SG_ATAN, 2.0, reset, *args[11:])

    def bwd_cuda(*args):
        grad_cuda.synaptic_grad(*args[:11], U.SG_ATAN, 2.0, reset, *args[11:], stream)

    host, dev = _cpu_and_cuda(bwd_cpu, bwd_cuda, arrays, outputs)
    assert all(np.abs(h).sum() > 0 for h in host)
    for h, d in zip(host, dev, strict=True):
        np.testing.assert_allclose(d, h, rtol=1e-5, atol=1e-6)
