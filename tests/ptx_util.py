"""Shared helpers of the PTX tests (``test_lif_ptx``, ``test_grad_ptx``): compile a CUDA
kernel to PTX without a GPU, skipping where the CUDA toolkit (NVVM) is not installed.

Import it from a test module after that module has skipped itself under the CUDA simulator
(``compile_ptx`` needs the real CUDA target) and imported ``numba.cuda`` with
``pytest.importorskip``, and use :func:`pretend_hopper` in an autouse fixture.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

#: the compute capability every kernel is compiled for (a Hopper, as the device machines)
CC = (9, 0)


def pretend_hopper(monkeypatch: pytest.MonkeyPatch) -> None:
    """Device functions are compiled for the current device's compute capability; with no
    GPU, say it is a Hopper (call it from an autouse fixture)."""
    import numba.cuda.dispatcher as dispatcher

    monkeypatch.setattr(dispatcher, "get_current_device",
                        lambda: SimpleNamespace(compute_capability=CC))


def ptx_or_skip(kernel, sig) -> str:
    """The PTX of ``kernel`` (a ``numba.cuda.jit`` kernel) for the signature ``sig``; the
    calling test is skipped when the CUDA toolkit is missing (not a kernel error)."""
    from numba import cuda

    try:
        ptx, _ = cuda.compile_ptx(kernel.py_func, sig, cc=CC)
    except Exception as exc:  # toolkit (NVVM) missing: not a kernel error
        if "NVVM" in str(exc) or "libnvvm" in str(exc).lower() or "CUDA_HOME" in str(exc):
            pytest.skip(f"CUDA toolkit not installed: {exc}")
        raise
    return ptx
