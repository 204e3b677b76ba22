"""CPU data-movement kernels of :class:`physnn.snn.Conv2d`: im2col, its adjoint col2im, and
the transposes between GEMM rows and NCHW. The arithmetic stays in one BLAS GEMM per product;
these loops replace NumPy's strided copies (six-dimensional, with inner extents of 3), which
cost more than the GEMMs for the small convolutions of spiking networks.

``numba.njit(parallel=True)``, one ``prange`` over the batch rows ``n``: each row writes only
its own slice, so there are no races. Zero padding and stride are handled by index
arithmetic (no padded copy). Layouts: images ``(N, C, H, W)`` C-contiguous; ``cols``
``(N * Ho * Wo, C * k * k)`` with rows ordered ``(n, i, j)`` and columns ``(c, u, v)``, the
order of ``weight.reshape(O, -1)``. The NumPy reference is the oracle in the tests.

im2col and col2im are compiled once per (kernel size, stride, padding)
(:func:`physnn.kernels._compile.specialize`): with the window loops of constant length LLVM
unrolls them, which made im2col 2.4x faster for 3x3 kernels.
"""

from __future__ import annotations

import functools

from numba import njit, prange

from ._compile import specialize

# Placeholders frozen per variant: kernel size, stride, padding.
KS = 3
ST = 1
PD = 0


def _im2col(a, ho, wo, cols):  # pragma: no cover - compiled
    n_rows, n_ch, h, w = a.shape
    for n in prange(n_rows):
        for i in range(ho):
            for j in range(wo):
                row = cols[(n * ho + i) * wo + j]
                for c in range(n_ch):
                    for u in range(KS):
                        y = ST * i + u - PD
                        for v in range(KS):
                            x = ST * j + v - PD
                            q = (c * KS + u) * KS + v
                            if 0 <= y < h and 0 <= x < w:
                                row[q] = a[n, c, y, x]
                            else:
                                row[q] = 0


def _col2im(cols, ho, wo, out):  # pragma: no cover - compiled
    n_rows, n_ch, h, w = out.shape
    for n in prange(n_rows):
        img = out[n]
        for c in range(n_ch):
            for y in range(h):
                for x in range(w):
                    img[c, y, x] = 0
        for i in range(ho):
            for j in range(wo):
                row = cols[(n * ho + i) * wo + j]
                for c in range(n_ch):
                    for u in range(KS):
                        y = ST * i + u - PD
                        for v in range(KS):
                            x = ST * j + v - PD
                            if 0 <= y < h and 0 <= x < w:
                                img[c, y, x] += row[(c * KS + u) * KS + v]


@functools.cache
def _variant(name: str, k: int, s: int, p: int):
    fn = {"im2col": _im2col, "col2im": _col2im}[name]
    return specialize(fn, njit(parallel=True, cache=True), KS=k, ST=s, PD=p)


def im2col(a, k, s, p, ho, wo, cols):
    """``cols[(n, i, j), (c, u, v)] = a[n, c, s i + u - p, s j + v - p]`` (0 outside)."""
    _variant("im2col", int(k), int(s), int(p))(a, ho, wo, cols)


def col2im(cols, k, s, p, ho, wo, out):
    """Adjoint of :func:`im2col`: ``out`` (zeroed here) accumulates every column entry at
    the pixel it was read from."""
    _variant("col2im", int(k), int(s), int(p))(cols, ho, wo, out)


@njit(parallel=True, cache=True)
def rows_to_nchw(z, bias, out):  # pragma: no cover - compiled
    """``out[n, o, i, j] = z[(n, i, j), o] + bias[o]`` for ``out`` of shape (N, O, Ho, Wo)."""
    n_rows, n_out, ho, wo = out.shape
    for n in prange(n_rows):
        for i in range(ho):
            for j in range(wo):
                r = (n * ho + i) * wo + j
                for o in range(n_out):
                    out[n, o, i, j] = z[r, o] + bias[o]


@njit(parallel=True, cache=True)
def nchw_to_rows(g, out):  # pragma: no cover - compiled
    """``out[(n, i, j), o] = g[n, o, i, j]``: the inverse layout change (no bias)."""
    n_rows, n_out, ho, wo = g.shape
    for n in prange(n_rows):
        for i in range(ho):
            for j in range(wo):
                r = (n * ho + i) * wo + j
                for o in range(n_out):
                    out[r, o] = g[n, o, i, j]
