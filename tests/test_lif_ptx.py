"""Type-check every CUDA LIF, spiking-network and local-learner kernel by compiling it to
PTX (no GPU needed; the CUDA simulator does not type-check). Skipped where the CUDA toolkit
wheels are absent."""

from __future__ import annotations

import os
import re

import pytest

if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
    pytest.skip("compile_ptx needs the real CUDA target", allow_module_level=True)

cuda = pytest.importorskip("numba.cuda")

from ptx_util import pretend_hopper, ptx_or_skip  # noqa: E402


@pytest.fixture(autouse=True)
def _pretend_hopper(monkeypatch):
    pretend_hopper(monkeypatch)


F3, F2, F1 = "float32[:, :, ::1]", "float32[:, ::1]", "float32[::1]"
U3, U1 = "uint8[:, :, ::1]", "uint8[::1]"


@pytest.mark.parametrize("name,sig", [
    ("_lif_forward_kernel", f"void({F3}, {F1}, {F1}, {F1}, {F2}, int64, int64, {U3}, {F3}, "
                            f"boolean, {U1})"),
    ("_lif_forward_kernel", f"void({F3}, {F1}, {F1}, {F1}, {F2}, int64, int64, {F3}, {F3}, "
                            f"boolean, {U1})"),
    ("_synaptic_forward_kernel", f"void({F3}, {F1}, {F1}, {F1}, {F2}, {F2}, int64, {U3}, "
                                 f"{F3}, boolean, {U1})"),
    ("_alif_forward_kernel", f"void({F3}, {F1}, {F1}, {F1}, {F1}, {F2}, {F2}, int64, {U3}, "
                             f"{F3}, boolean, {U1})"),
    ("_lif_bptt_kernel", f"void({F3}, {F3}, {U3}, {F1}, {F1}, int64, float32, int64, int64, "
                         f"boolean, {F3}, {F2})"),
    ("_lif_bptt_kernel", f"void({F3}, {F3}, {F3}, {F1}, {F1}, int64, float32, int64, int64, "
                         f"boolean, {F3}, {F2})"),  # float32 spikes, as SpikingNetwork has
    ("_sltt_backward_kernel", f"void({F3}, {F3}, {F1}, int64, float32, {F3})"),
])
def test_kernel_compiles_to_ptx(name, sig):
    from physnn.kernels import lif_cuda

    ptx = ptx_or_skip(getattr(lif_cuda, name), sig)
    assert ".entry" in ptx or ".visible" in ptx
    # float32 all the way: no double-precision arithmetic in the forward time loop
    if "forward" in name:
        assert not re.search(r"\.f64\b", ptx), f"{name} promotes to float64"
        # no fused multiply-add: spikes must round as on the CPU and in snntorch
        assert "fma.rn" not in ptx, f"{name} fuses a multiply-add"


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_atan_constant_has_the_kernel_precision(dtype):
    """The atan surrogate's pi/2 is the float64 constant in a float64 kernel and the float32
    one in a float32 kernel (no float64 arithmetic there), and its ``k^2`` is an unfused
    ``mul.rn`` (libdevice's ``exp``, of the sigmoid surrogate, has FMAs of its own): the GPU
    gives the CPU's bits (see tests/cuda/test_lif_cudasim.py)."""
    from physnn.kernels import lif_cuda

    a3, a1 = f"{dtype}[:, :, ::1]", f"{dtype}[::1]"
    ptx = ptx_or_skip(lif_cuda._sltt_backward_kernel,
                       f"void({a3}, {a3}, {a1}, int64, {dtype}, {a3})")
    if dtype == "float64":
        assert "0d3FF921FB54442D18" in ptx  # math.pi / 2
    else:
        assert "0f3FC90FDB" in ptx  # float32(math.pi / 2)
        assert not re.search(r"\.f64\b", ptx)
    assert f"mul.rn.f{dtype[-2:]}" in ptx


I1 = "int64[::1]"
F4 = "float32[:, :, :, ::1]"


@pytest.mark.parametrize("name,args,sig", [
    ("_gemm_variant", (0, 0), f"void({F2}, {F2}, {F2}, boolean)"),
    ("_gemm_variant", (1, 0), f"void({F2}, {F2}, {F2}, boolean)"),
    ("_gemm_variant", (0, 1), f"void({F2}, {F2}, {F2}, boolean)"),
    ("_conv_variant", ("im2col", 3, 2, 1), f"void({F4}, int64, int64, {F2})"),
    ("_conv_variant", ("col2im", 3, 2, 1), f"void({F2}, int64, int64, {F4})"),
    ("add_row_vector", None, f"void({F2}, {F1})"),
    ("column_sums", None, f"void({F2}, {F1}, boolean)"),
    ("repeat_leading", None, f"void({F1}, {F2})"),
    ("axpy", None, f"void({F1}, {F1}, float32)"),
    ("fill", None, f"void({F1}, float64)"),
    ("add_mean", None, f"void({F1}, float64[::1])"),
    ("softmax_cross_entropy", None, f"void({F2}, {I1}, float32, {F1}, {F2})"),
    ("spike_count_mse", None, f"void({F2}, {I1}, float32, {F1}, {F2})"),
    ("rows_to_nchw", None, f"void({F2}, {F1}, {F4})"),
    ("nchw_to_rows", None, f"void({F4}, {F2})"),
])
def test_spiking_network_kernel_compiles_to_ptx(name, args, sig):
    """The kernels of spiking-network training on CUDA (:mod:`physnn.kernels.snn_cuda`)."""
    from physnn.kernels import snn_cuda

    kernel = getattr(snn_cuda, name)
    if args is not None:
        kernel = kernel(*args)
    ptx = ptx_or_skip(kernel, sig)
    assert ".entry" in ptx or ".visible" in ptx


@pytest.mark.parametrize("name,sig", [
    ("cosine_rows", f"void({F2}, {F1}, {F1}, {F1}, {F1})"),
    ("cosine_backward", f"void({F2}, {F1}, {F1}, {F1}, {F1}, {F2})"),
    ("square_rows", f"void({F2}, {F1})"),
    ("square_backward", f"void({F2}, {F1}, {F2})"),
    ("contrastive_pairs", f"void({F1}, float32, {F1}, {F1})"),
    ("threshold_pairs", f"void({F1}, float32, float32, {F1}, {F1})"),
    ("adam_update", f"void({F1}, {F1}, {F1}, {F1}, " + ", ".join(["float32"] * 7) + ")"),
    ("sgd_update", f"void({F1}, {F1}, {F1}, float32, float32, float32)"),
    ("relu", f"void({F1}, {F1})"),
    ("relu_backward", f"void({F1}, {F1}, {F1})"),
])
def test_local_learner_kernel_compiles_to_ptx(name, sig):
    """The digital side of the local learners on CUDA (:mod:`physnn.kernels.dense_cuda`)."""
    from physnn.kernels import dense_cuda

    ptx = ptx_or_skip(getattr(dense_cuda, name), sig)
    assert ".entry" in ptx or ".visible" in ptx
