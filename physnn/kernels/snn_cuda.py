"""CUDA kernels of the spiking-network layers (numba.cuda): matrix products, the Conv2d data
movement, the per-step losses and a few element-wise helpers. Imported only when the CUDA
backend trains or runs a :class:`physnn.snn.SpikingNetwork`; the LIF kernels themselves are
those of :mod:`physnn.kernels.lif_cuda`.

The matrix product is a plain shared-memory tiled GEMM (``TILE x TILE`` threads per block,
one output element per thread), specialised per transpose pair like the CPU drivers are per
mode (:func:`physnn.kernels._compile.specialize`). It is far from cuBLAS on large matrices;
for the batch sizes of spiking networks (a few thousand rows, a few hundred columns) the
launches, not the arithmetic, dominate. Conv2d's im2col / col2im / layout kernels mirror
:mod:`physnn.kernels.conv_cpu` (col2im gathers instead of scattering, so it needs no
atomics). All arrays are float32 numba device arrays, C-contiguous.
"""

from __future__ import annotations

import functools
import math

from numba import cuda, float32

from ._compile import specialize

THREADS = 256
TILE = 16
TILE_PAD = TILE + 1  # shared-memory row length: a padding column against bank conflicts

# Placeholders frozen per compiled variant.
TA = 0  # 1: the left operand is stored transposed
TB = 0  # 1: the right operand is stored transposed
KS = 3  # Conv2d kernel size, stride, padding
ST = 1
PD = 0


def grid(n: int) -> tuple[int, int]:
    """1-D launch configuration covering ``n`` threads."""
    return max(1, (n + THREADS - 1) // THREADS), THREADS


# ----------------------------------------------------------------------------- GEMM


def _gemm(a, b, c, accumulate):  # pragma: no cover - compiled
    """``c = op(a) @ op(b)`` (``+ c`` when ``accumulate``); ``op`` transposes where TA / TB.

    Each block computes a ``TILE x TILE`` tile of ``c``. The operand tiles are staged in
    shared memory (``sa[r, k] = op(a)[m0 + r, k0 + k]``, ``sb[k, j] = op(b)[k0 + k, n0 + j]``)
    and always loaded with ``threadIdx.x`` running along the stored array's contiguous axis,
    so the global reads coalesce whichever operand is transposed; a padding column keeps the
    transposed shared-memory stores free of bank conflicts.
    """
    sa = cuda.shared.array((TILE, TILE_PAD), float32)
    sb = cuda.shared.array((TILE, TILE_PAD), float32)
    tx = cuda.threadIdx.x
    ty = cuda.threadIdx.y
    m0 = cuda.blockIdx.y * TILE
    n0 = cuda.blockIdx.x * TILE
    M, N = c.shape
    K = a.shape[0] if TA else a.shape[1]
    acc = float32(0.0)
    for k0 in range(0, K, TILE):
        if TA:  # a is (K, M)
            kk = k0 + ty
            mm = m0 + tx
            sa[tx, ty] = a[kk, mm] if (kk < K and mm < M) else float32(0.0)
        else:  # a is (M, K)
            mm = m0 + ty
            kk = k0 + tx
            sa[ty, tx] = a[mm, kk] if (kk < K and mm < M) else float32(0.0)
        if TB:  # b is (N, K)
            nn = n0 + ty
            kk = k0 + tx
            sb[tx, ty] = b[nn, kk] if (kk < K and nn < N) else float32(0.0)
        else:  # b is (K, N)
            kk = k0 + ty
            nn = n0 + tx
            sb[ty, tx] = b[kk, nn] if (kk < K and nn < N) else float32(0.0)
        cuda.syncthreads()
        for q in range(TILE):
            acc += sa[ty, q] * sb[q, tx]
        cuda.syncthreads()
    row = m0 + ty
    col = n0 + tx
    if row < M and col < N:
        if accumulate:
            c[row, col] += acc
        else:
            c[row, col] = acc


@functools.cache
def _gemm_variant(ta: int, tb: int):
    return specialize(_gemm, cuda.jit, TA=ta, TB=tb)


def gemm(a, b, c, *, ta: bool = False, tb: bool = False, accumulate: bool = False) -> None:
    """``c[M, N] = op(a) @ op(b)`` on the device, ``op(x) = x.T`` where ``ta`` / ``tb``."""
    M, N = c.shape
    blocks = ((N + TILE - 1) // TILE, (M + TILE - 1) // TILE)
    _gemm_variant(int(ta), int(tb))[blocks, (TILE, TILE)](a, b, c, accumulate)


# ----------------------------------------------------------------------------- element-wise


@cuda.jit
def add_row_vector(z, v):  # pragma: no cover - compiled
    """``z[r, o] += v[o]``."""
    i = cuda.grid(1)
    R, O = z.shape
    if i < R * O:
        z[i // O, i % O] += v[i % O]


@cuda.jit
def column_sums(g, out, accumulate):  # pragma: no cover - compiled
    """``out[o] (+)= sum_r g[r, o]`` (also the sum over time of a ``(T, M)`` array); one
    thread per column."""
    o = cuda.grid(1)
    R, O = g.shape
    if o < O:
        s = float32(0.0)
        for r in range(R):
            s += g[r, o]
        if accumulate:
            out[o] += s
        else:
            out[o] = s


@cuda.jit
def repeat_leading(z, out):  # pragma: no cover - compiled
    """``out[t, j] = z[j]`` for a ``(T, M)`` output."""
    i = cuda.grid(1)
    T, M = out.shape
    if i < T * M:
        out[i // M, i % M] = z[i % M]


@cuda.jit
def axpy(y, x, alpha):  # pragma: no cover - compiled
    """``y += alpha * x`` on flat arrays."""
    i = cuda.grid(1)
    if i < y.size:
        y[i] += alpha * x[i]


@cuda.jit
def scale(x, alpha):  # pragma: no cover - compiled
    """``x *= alpha`` on a flat array."""
    i = cuda.grid(1)
    if i < x.size:
        x[i] *= alpha


@cuda.jit
def fill(x, value):  # pragma: no cover - compiled
    i = cuda.grid(1)
    if i < x.size:
        x[i] = value


# ----------------------------------------------------------------------------- losses


@cuda.jit
def softmax_cross_entropy(z, y, inv_rows, loss, grad):  # pragma: no cover - compiled
    """Row ``r`` of the logits ``z[R, C]`` with label ``y[r % len(y)]`` (rows ordered
    ``(t, b)``): ``loss[r] = logsumexp(z_r) - z_r[y]``, ``grad[r] = (softmax(z_r) - e_y) /
    R`` (``inv_rows = 1 / R``)."""
    r = cuda.grid(1)
    R, C = z.shape
    if r >= R:
        return
    label = y[r % y.size]
    m = z[r, 0]
    for c in range(1, C):
        m = max(m, z[r, c])
    s = float32(0.0)
    for c in range(C):
        s += math.exp(z[r, c] - m)
    for c in range(C):
        grad[r, c] = (math.exp(z[r, c] - m) / s - (float32(1.0) if c == label else
                                                      float32(0.0))) * inv_rows
    loss[r] = math.log(s) + m - z[r, label]


@cuda.jit
def spike_count_mse(s, y, inv_rows, loss, grad):  # pragma: no cover - compiled
    """Row ``r``: ``loss[r] = ||s_r - e_y||^2 / C``, ``grad[r] = 2 (s_r - e_y) / (C R)``."""
    r = cuda.grid(1)
    R, C = s.shape
    if r >= R:
        return
    label = y[r % y.size]
    acc = float32(0.0)
    for c in range(C):
        d = s[r, c] - (float32(1.0) if c == label else float32(0.0))
        acc += d * d
        grad[r, c] = float32(2.0) * d * inv_rows / C
    loss[r] = acc / C


@cuda.jit
def add_mean(values, acc):  # pragma: no cover - compiled
    """``acc[0] += mean(values)`` in float64, by one thread (launch ``[1, 1]``)."""
    if cuda.grid(1) == 0:
        s = 0.0
        for i in range(values.size):
            s += values[i]
        acc[0] += s / values.size


# ----------------------------------------------------------------------------- Conv2d


@cuda.jit(device=True)
def unravel4(idx, d1, d2, d3):  # pragma: no cover - compiled
    """The index ``(a, b, c, d)`` of flat position ``idx`` in a C-ordered ``(*, d1, d2, d3)``
    array."""
    return idx // (d1 * d2 * d3), (idx // (d2 * d3)) % d1, (idx // d3) % d2, idx % d3


def _im2col(a, ho, wo, cols):  # pragma: no cover - compiled
    """``cols[(n, i, j), (c, u, v)] = a[n, c, ST i + u - PD, ST j + v - PD]`` (0 outside)."""
    idx = cuda.grid(1)
    R, Q = cols.shape
    if idx >= R * Q:
        return
    r = idx // Q
    q = idx - r * Q
    n = r // (ho * wo)
    i = (r // wo) % ho
    j = r % wo
    c = q // (KS * KS)
    u = (q // KS) % KS
    v = q % KS
    h = a.shape[2]
    w = a.shape[3]
    yy = ST * i + u - PD
    xx = ST * j + v - PD
    if 0 <= yy < h and 0 <= xx < w:
        cols[r, q] = a[n, c, yy, xx]
    else:
        cols[r, q] = float32(0.0)


def _col2im(cols, ho, wo, out):  # pragma: no cover - compiled
    """Adjoint of im2col, gathered: each input pixel sums the column entries read from it."""
    idx = cuda.grid(1)
    n_rows, n_ch, h, w = out.shape
    if idx >= out.size:
        return
    n, c, yy, xx = unravel4(idx, n_ch, h, w)
    s = float32(0.0)
    for u in range(KS):
        ty = yy + PD - u
        if ty >= 0 and ty % ST == 0 and ty // ST < ho:
            i = ty // ST
            for v in range(KS):
                tx = xx + PD - v
                if tx >= 0 and tx % ST == 0 and tx // ST < wo:
                    j = tx // ST
                    s += cols[(n * ho + i) * wo + j, (c * KS + u) * KS + v]
    out[n, c, yy, xx] = s


@functools.cache
def _conv_variant(name: str, k: int, s: int, p: int):
    fn = {"im2col": _im2col, "col2im": _col2im}[name]
    return specialize(fn, cuda.jit, KS=k, ST=s, PD=p)


def im2col(a, k, s, p, ho, wo, cols) -> None:
    _conv_variant("im2col", int(k), int(s), int(p))[grid(cols.size)](a, ho, wo, cols)


def col2im(cols, k, s, p, ho, wo, out) -> None:
    _conv_variant("col2im", int(k), int(s), int(p))[grid(out.size)](cols, ho, wo, out)


@cuda.jit
def rows_to_nchw(z, bias, out):  # pragma: no cover - compiled
    """``out[n, o, i, j] = z[(n, i, j), o] + bias[o]``."""
    idx = cuda.grid(1)
    n_rows, n_out, ho, wo = out.shape
    if idx >= out.size:
        return
    n, o, i, j = unravel4(idx, n_out, ho, wo)
    out[n, o, i, j] = z[(n * ho + i) * wo + j, o] + bias[o]


@cuda.jit
def nchw_to_rows(g, out):  # pragma: no cover - compiled
    """``out[(n, i, j), o] = g[n, o, i, j]``."""
    idx = cuda.grid(1)
    n_rows, n_out, ho, wo = g.shape
    if idx >= g.size:
        return
    n, o, i, j = unravel4(idx, n_out, ho, wo)
    out[(n * ho + i) * wo + j, o] = g[n, o, i, j]
