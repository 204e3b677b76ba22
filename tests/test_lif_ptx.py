"""Type-check every CUDA LIF kernel by compiling it to PTX (no GPU needed; the CUDA
simulator does not type-check). Skipped where the CUDA toolkit wheels are absent."""

from __future__ import annotations

import os
import re

import pytest

if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
    pytest.skip("compile_ptx needs the real CUDA target", allow_module_level=True)

cuda = pytest.importorskip("numba.cuda")


@pytest.fixture(autouse=True)
def _pretend_hopper(monkeypatch):
    """Device functions are compiled for the current device's compute capability; with no
    GPU here, say it is a Hopper (9.0), the target the PTX is built for."""
    from types import SimpleNamespace

    import numba.cuda.dispatcher as dispatcher

    monkeypatch.setattr(dispatcher, "get_current_device",
                        lambda: SimpleNamespace(compute_capability=(9, 0)))


def _ptx_or_skip(kernel, sig):
    try:
        ptx, _ = cuda.compile_ptx(kernel.py_func, sig, cc=(9, 0))
    except Exception as exc:  # toolkit (NVVM) missing: not a kernel error
        if "NVVM" in str(exc) or "libnvvm" in str(exc).lower() or "CUDA_HOME" in str(exc):
            pytest.skip(f"CUDA toolkit not installed: {exc}")
        raise
    return ptx


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
    ("_sltt_backward_kernel", f"void({F3}, {F3}, {F1}, int64, float32, {F3})"),
])
def test_kernel_compiles_to_ptx(name, sig):
    from physnn.kernels import lif_cuda

    ptx = _ptx_or_skip(getattr(lif_cuda, name), sig)
    assert ".entry" in ptx or ".visible" in ptx
    # float32 all the way: no double-precision arithmetic in the forward time loop
    if "forward" in name:
        assert not re.search(r"\.f64\b", ptx), f"{name} promotes to float64"
        # no fused multiply-add: spikes must round as on the CPU and in snntorch
        assert "fma.rn" not in ptx, f"{name} fuses a multiply-add"
