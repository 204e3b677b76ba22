"""Type-check the CUDA kernels behind physnn.torch_ops (physnn.kernels.grad_cuda) by compiling
them to PTX (no GPU needed): float32 throughout for float32 data, float64 accepted. Skipped
where the CUDA toolkit wheels are absent."""

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


def _sigs(f):
    F3, F2, F1 = f"{f}[:, :, ::1]", f"{f}[:, ::1]", f"{f}[::1]"
    return {
        "_synaptic_forward_kernel": f"void({F3}, {F1}, {F1}, {F1}, {F2}, {F2}, int64, {F3}, "
                                    f"{F3}, {F3}, boolean, uint8[::1])",
        "_lif_grad_kernel": f"void({F3}, {F2}, {F3}, {F3}, {F2}, {F1}, {F1}, int64, {f}, int64, "
                            f"int64, boolean, {F3}, {F2}, {F2}, {F2})",
        "_synaptic_grad_kernel": f"void({F3}, {F2}, {F2}, {F3}, {F3}, {F3}, {F2}, {F2}, {F1}, "
                                 f"{F1}, {F1}, int64, {f}, int64, {F3}, {F2}, {F2}, {F2}, {F2}, "
                                 f"{F2})",
    }


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", ["_synaptic_forward_kernel", "_lif_grad_kernel",
                                  "_synaptic_grad_kernel"])
def test_grad_kernel_compiles_to_ptx(name, dtype):
    from physnn.kernels import grad_cuda

    ptx = ptx_or_skip(getattr(grad_cuda, name), _sigs(dtype)[name])
    assert ".entry" in ptx or ".visible" in ptx
    if dtype == "float32":
        assert not re.search(r"\.f64\b", ptx), f"{name} promotes float32 to float64"
    if name == "_synaptic_forward_kernel":
        assert "fma.rn" not in ptx, f"{name} fuses a multiply-add (spikes must round as on CPU)"
