"""CPU data-movement kernels of :class:`physnn.snn.Conv2d`: im2col, its adjoint col2im, and
the transposes between GEMM rows and NCHW. The arithmetic stays in one BLAS GEMM per product;
these loops replace NumPy's strided copies (six-dimensional, with inner extents of 3), which
cost more than the GEMMs for the small convolutions of spiking networks.

``numba.njit(parallel=True)``, one ``prange`` over the batch rows ``n``: each row writes only
its own slice, so there are no races. Zero padding and stride are handled by index
arithmetic (no padded copy). Layouts: images ``(N, C, H, W)`` C-contiguous; ``cols``
``(N * Ho * Wo, C * k * k)`` with rows ordered ``(n, i, j)`` and columns ``(c, u, v)``, the
order of ``weight.reshape(O, -1)``. The NumPy reference is the oracle in the tests.
"""

from __future__ import annotations

from numba import njit, prange


@njit(parallel=True, cache=True)
def im2col(a, k, s, p, ho, wo, cols):  # pragma: no cover - compiled
    """``cols[(n, i, j), (c, u, v)] = a[n, c, s i + u - p, s j + v - p]`` (0 outside)."""
    n_rows, n_ch, h, w = a.shape
    for n in prange(n_rows):
        for i in range(ho):
            for j in range(wo):
                r = (n * ho + i) * wo + j
                q = 0
                for c in range(n_ch):
                    for u in range(k):
                        y = s * i + u - p
                        for v in range(k):
                            x = s * j + v - p
                            if 0 <= y < h and 0 <= x < w:
                                cols[r, q] = a[n, c, y, x]
                            else:
                                cols[r, q] = 0
                            q += 1


@njit(parallel=True, cache=True)
def col2im(cols, k, s, p, ho, wo, out):  # pragma: no cover - compiled
    """Adjoint of :func:`im2col`: ``out`` (zeroed here) accumulates every column entry at
    the pixel it was read from."""
    n_rows, n_ch, h, w = out.shape
    for n in prange(n_rows):
        for c in range(n_ch):
            for y in range(h):
                for x in range(w):
                    out[n, c, y, x] = 0
        for i in range(ho):
            for j in range(wo):
                r = (n * ho + i) * wo + j
                q = 0
                for c in range(n_ch):
                    for u in range(k):
                        y = s * i + u - p
                        for v in range(k):
                            x = s * j + v - p
                            if 0 <= y < h and 0 <= x < w:
                                out[n, c, y, x] += cols[r, q]
                            q += 1


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
