"""CUDA LIF kernels under the CUDA simulator (run in their own process with
NUMBA_ENABLE_CUDASIM=1): equal to the NumPy oracle and to the CPU kernels."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.cudasim  # skipped unless simulated or on a GPU (conftest.py)

import lif_oracle as oracle  # noqa: E402

import physnn as pn  # noqa: E402

T, B, N = 9, 2, 5


def _x(seed, dtype=np.float32):
    return np.random.default_rng(seed).normal(0.4, 0.7, size=(T, B, N)).astype(dtype)


@pytest.mark.parametrize("convention", ["snntorch", "spikingjelly"])
@pytest.mark.parametrize("reset", ["subtract", "zero", "none"])
def test_lif_cuda_equals_oracle_and_cpu(convention, reset):
    x = _x(0)
    beta = np.linspace(0.5, 0.95, N, dtype=np.float32)
    s0 = np.random.default_rng(1).normal(0.3, 0.5, size=(B, N)).astype(np.float32)
    kw = dict(beta=beta, threshold=0.9, reset=reset, convention=convention,
              state=pn.LIFState(s0), record_membrane=True)
    s_gpu, st_gpu, m_gpu = pn.lif(x, backend="cuda", **kw)
    s_cpu, st_cpu, m_cpu = pn.lif(x, backend="cpu", **kw)
    ref_s, ref_st, ref_m = oracle.lif(x, beta, 0.9, reset, convention, state=s0)
    assert s_gpu.sum() > 0
    np.testing.assert_array_equal(s_gpu, ref_s)
    np.testing.assert_array_equal(s_gpu, s_cpu)
    np.testing.assert_allclose(m_gpu, ref_m, atol=1e-6, rtol=0)
    np.testing.assert_allclose(st_gpu.membrane, st_cpu.membrane, atol=1e-6, rtol=0)


def test_lif_cuda_device_arrays_in_and_out():
    from numba import cuda

    x = _x(2)
    d = cuda.to_device(x)
    s, st = pn.lif(d, beta=0.9, backend="auto")
    assert hasattr(s, "copy_to_host")
    np.testing.assert_array_equal(s.copy_to_host(), oracle.lif(x, 0.9, 1.0)[0])
    s2, _ = pn.lif(cuda.to_device(x), beta=0.9, state=pn.LIFState(st.membrane), backend="cuda")
    assert s2.copy_to_host().shape == x.shape


def test_synaptic_and_alif_cuda_equal_oracle():
    x = _x(3) * 0.5
    s, st, m = pn.synaptic(x, alpha=0.7, beta=0.8, backend="cuda", record_membrane=True)
    ref_s, (syn, mem), ref_m = oracle.synaptic(x, 0.7, 0.8, 1.0)
    np.testing.assert_array_equal(s, ref_s)
    np.testing.assert_allclose(st.mem, mem, atol=1e-6)
    x = _x(4)
    s, st, m = pn.alif(x, beta=0.9, gamma=0.3, rho=0.9, backend="cuda", record_membrane=True)
    ref_s, (v, a), ref_m = oracle.alif(x, 0.9, 1.0, 0.3, 0.9)
    np.testing.assert_array_equal(s, ref_s)
    np.testing.assert_allclose(st.a, a, atol=1e-6)


@pytest.mark.parametrize("convention,reset", [("snntorch", "zero"), ("spikingjelly", "subtract"),
                                              ("spikingjelly", "zero")])
def test_backward_cuda_equals_cpu(convention, reset):
    x = _x(5)
    w = np.random.default_rng(6).normal(size=x.shape).astype(np.float32)
    s, _, m = pn.lif(x, beta=0.8, reset=reset, convention=convention, backend="cpu",
                     record_membrane=True)
    kw = dict(beta=0.8, reset=reset, convention=convention, surrogate="atan")
    g_cpu, st_cpu = pn.lif_backward(w, m, s, backend="cpu", **kw)
    g_gpu, st_gpu = pn.lif_backward(w, m, s, backend="cuda", **kw)
    np.testing.assert_allclose(g_gpu, g_cpu, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(st_gpu.membrane, st_cpu.membrane, rtol=1e-6, atol=1e-7)
    sl_cpu = pn.sltt_backward(w, m, surrogate="triangle", backend="cpu")
    sl_gpu = pn.sltt_backward(w, m, surrogate="triangle", backend="cuda")
    np.testing.assert_allclose(sl_gpu, sl_cpu, rtol=1e-6, atol=1e-7)


def test_cuda_non_finite_input_is_refused():
    x = _x(7)
    x[3, 1, 2] = np.inf
    from numba import cuda

    with pytest.raises(ValueError, match=r"batch rows \[1\]"):
        pn.lif(cuda.to_device(x), beta=0.9, backend="cuda")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("alpha", [2.0, 3.0])
def test_atan_surrogate_cuda_equals_cpu_bit_for_bit(dtype, alpha):
    """The atan surrogate (pi/2 in the kernel's precision) gives the CPU's bits on CUDA."""
    rng = np.random.default_rng(8)
    g = rng.normal(size=(T, B, N)).astype(dtype)
    u = rng.normal(1.0, 0.8, size=(T, B, N)).astype(dtype)
    sg = pn.surrogate.atan(alpha)
    cpu = pn.sltt_backward(g, u, surrogate=sg, backend="cpu")
    gpu = pn.sltt_backward(g, u, surrogate=sg, backend="cuda")
    assert gpu.dtype == dtype
    np.testing.assert_array_equal(gpu, cpu)


def test_cuda_plans_upload_parameters_once_and_follow_changes():
    """A call plan keeps its parameters on the device; a parameter array changed in place is
    a new plan (its new values are used), and stepping carries the state as one run does."""
    x = _x(9)
    beta = np.full(N, 0.9, np.float32)
    s1, st1 = pn.lif(x, beta=beta, backend="cuda")
    beta[:] = 0.6
    s2, _ = pn.lif(x, beta=beta, backend="cuda")
    np.testing.assert_array_equal(s1, pn.lif(x, beta=0.9, backend="cpu")[0])
    np.testing.assert_array_equal(s2, pn.lif(x, beta=0.6, backend="cpu")[0])
    state, steps = None, []
    for t in range(T):
        s, state = pn.lif(x[t:t + 1], beta=0.9, state=state, backend="cuda")
        steps.append(s)
    np.testing.assert_array_equal(np.concatenate(steps), s1)
    np.testing.assert_allclose(state.membrane, st1.membrane, atol=1e-6, rtol=0)
    beta[0] = 2.0
    with pytest.raises(ValueError, match="beta must lie in"):
        pn.lif(x, beta=beta, backend="cuda")
