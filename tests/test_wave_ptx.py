"""Type-check the CUDA wave kernel by compiling it to PTX (no GPU needed)."""

from __future__ import annotations

import re

import pytest

cuda = pytest.importorskip("numba.cuda")


def test_wave_kernel_compiles_to_float32_ptx():
    from numba import boolean, float32, int64

    from physnn.kernels import wave_cuda

    f3 = float32[:, :, ::1]
    f2 = float32[:, ::1]
    i2 = int64[:, ::1]
    sig = (f3, f3, f2, f2, float32, f2, f2, i2, f3, i2, boolean, f3, int64[::1])
    try:
        ptx, _ = cuda.compile_ptx(wave_cuda._wave_kernel, sig, cc=(9, 0),
                                  launch_bounds=(wave_cuda.BLOCK[0] * wave_cuda.BLOCK[1],))
    except Exception as exc:  # the CUDA toolkit wheels (NVVM) are missing
        if "NVVM" in str(exc) or "libnvvm" in str(exc).lower():
            pytest.skip(f"no NVVM to compile PTX here: {exc}")
        raise
    assert ".entry" in ptx
    # float32 throughout: no double-precision arithmetic or conversions in the kernel
    assert not re.search(r"\.f64\b", ptx), "float64 arithmetic in the wave kernel"
    # one block-wide vote per step (syncthreads_or), nothing else synchronises
    assert ptx.count("bar.red.or") == 1


def test_zero_fill_kernel_compiles():
    from numba import float32

    from physnn.kernels import wave_cuda

    try:
        ptx, _ = cuda.compile_ptx(wave_cuda._zero_fill.py_func, (float32[::1],), cc=(9, 0))
    except Exception as exc:
        if "NVVM" in str(exc) or "libnvvm" in str(exc).lower():
            pytest.skip(f"no NVVM to compile PTX here: {exc}")
        raise
    assert "st.global.u32" in ptx or "st.global.f32" in ptx
