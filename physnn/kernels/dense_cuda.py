"""CUDA kernels of the local learners' digital side (numba.cuda): goodness functions, the
pairwise local losses and the optimizer updates.

They are the device twins of :mod:`physnn.learning.losses` and :mod:`physnn.optim` and are
tested against them (``tests/cuda/test_dense_cudasim.py``); the matrix products are those of
:mod:`physnn.kernels.snn_cuda`. A goodness learner with ``backend="cuda"`` uploads a block's
measured inputs once per batch, runs its inner optimizer steps on the device and downloads
the new parameters. All arrays are float32 numba device arrays, C-contiguous; one thread per
row for the row reductions (a block's width is a few hundred), one per element otherwise.
"""

from __future__ import annotations

import math

from numba import cuda, float32

from ..learning.losses import COSINE_EPS

_EPS2 = float32(COSINE_EPS * COSINE_EPS)


@cuda.jit(device=True, inline=True)
def _softplus(t):  # pragma: no cover - compiled
    """``log(1 + e^t)`` without overflow."""
    return max(t, float32(0.0)) + math.log1p(math.exp(-abs(t)))


@cuda.jit(device=True, inline=True)
def _sigmoid(t):  # pragma: no cover - compiled
    if t >= 0:
        return float32(1.0) / (float32(1.0) + math.exp(-t))
    e = math.exp(t)
    return e / (float32(1.0) + e)


# ----------------------------------------------------------------------------- goodness


@cuda.jit
def cosine_rows(y, xi, g, n, s):  # pragma: no cover - compiled
    """PhyLL goodness per row: ``s_i = sum_j |y_ij| xi_j``, ``n_i = sqrt(sum_j y_ij^2 +
    eps^2)``, ``g_i = s_i / n_i`` (:func:`physnn.learning.losses.cosine_goodness`)."""
    i = cuda.grid(1)
    R, M = y.shape
    if i < R:
        acc = float32(0.0)
        sq = float32(0.0)
        for j in range(M):
            v = y[i, j]
            acc += abs(v) * xi[j]
            sq += v * v
        nn = math.sqrt(sq + _EPS2)
        s[i] = acc
        n[i] = nn
        g[i] = acc / nn


@cuda.jit
def cosine_backward(y, xi, n, s, dg, gy):  # pragma: no cover - compiled
    """``gy_ij = dg_i (sign(y_ij) xi_j / n_i - s_i y_ij / n_i^3)``
    (:func:`physnn.learning.losses.cosine_goodness_grad`)."""
    k = cuda.grid(1)
    R, M = y.shape
    if k < R * M:
        i = k // M
        j = k - i * M
        v = y[i, j]
        sg = float32(1.0) if v > 0 else (float32(-1.0) if v < 0 else float32(0.0))
        nn = n[i]
        gy[i, j] = dg[i] * (sg * xi[j] / nn - v * (s[i] / (nn * nn * nn)))


@cuda.jit
def square_rows(y, g):  # pragma: no cover - compiled
    """Hinton's goodness per row, ``g_i = (1/m) sum_j max(y_ij, 0)^2``."""
    i = cuda.grid(1)
    R, M = y.shape
    if i < R:
        acc = float32(0.0)
        for j in range(M):
            v = max(y[i, j], float32(0.0))
            acc += v * v
        g[i] = acc / M


@cuda.jit
def square_backward(y, dg, gy):  # pragma: no cover - compiled
    """``gy_ij = dg_i (2/m) max(y_ij, 0)``."""
    k = cuda.grid(1)
    R, M = y.shape
    if k < R * M:
        i = k // M
        gy[i, k - i * M] = dg[i] * (float32(2.0) / M) * max(y[i, k - i * M], float32(0.0))


# ----------------------------------------------------------------------------- pair losses


@cuda.jit
def contrastive_pairs(g, alpha, loss, dg):  # pragma: no cover - compiled
    """Rows ``i`` and ``B + i`` of ``g`` are a positive / negative pair:
    ``loss_i = softplus(-alpha d_i) / B``, ``d_i = g_i - g_{B+i}``, and
    ``dg_i = -dg_{B+i} = -(alpha / B) sigmoid(-alpha d_i)``
    (:func:`physnn.learning.losses.contrastive_loss`)."""
    i = cuda.grid(1)
    B = loss.shape[0]
    if i < B:
        t = -alpha * (g[i] - g[B + i])
        loss[i] = _softplus(t) / B
        c = _sigmoid(t) * (alpha / B)
        dg[i] = -c
        dg[B + i] = c


@cuda.jit
def threshold_pairs(g, theta, alpha, loss, dg):  # pragma: no cover - compiled
    """Forward-Forward threshold loss (:func:`physnn.learning.losses.threshold_loss`):
    ``loss_i = [softplus(-alpha (g_i - theta)) + softplus(alpha (g_{B+i} - theta))] / 2B``."""
    i = cuda.grid(1)
    B = loss.shape[0]
    if i < B:
        tp = -alpha * (g[i] - theta)
        tn = alpha * (g[B + i] - theta)
        loss[i] = (_softplus(tp) + _softplus(tn)) / (2 * B)
        c = alpha / (2 * B)
        dg[i] = -c * _sigmoid(tp)
        dg[B + i] = c * _sigmoid(tn)


# ----------------------------------------------------------------------------- optimizers


@cuda.jit
def adam_update(p, g, m, v, lr, b1, b2, c1, c2, eps, wd):  # pragma: no cover - compiled
    """One Adam(W) step on flat arrays (:meth:`physnn.optim.Adam.step`); ``c1 = 1 - b1^t``,
    ``c2 = 1 - b2^t``."""
    i = cuda.grid(1)
    if i < p.size:
        gi = g[i]
        mi = b1 * m[i] + (float32(1.0) - b1) * gi
        vi = b2 * v[i] + (float32(1.0) - b2) * (gi * gi)
        m[i] = mi
        v[i] = vi
        upd = (mi / c1) / (math.sqrt(vi / c2) + eps)
        if wd != 0:
            upd += wd * p[i]
        p[i] -= lr * upd


@cuda.jit
def sgd_update(p, g, vel, lr, mu, wd):  # pragma: no cover - compiled
    """One SGD step with momentum and L2 decay on flat arrays (:meth:`physnn.optim.SGD.step`)."""
    i = cuda.grid(1)
    if i < p.size:
        gi = g[i]
        if wd != 0:
            gi += wd * p[i]
        vi = mu * vel[i] + gi
        vel[i] = vi
        p[i] -= lr * vi


# ----------------------------------------------------------------------------- readout


@cuda.jit
def relu(y, a):  # pragma: no cover - compiled
    """``a = max(y, 0)`` on flat arrays."""
    i = cuda.grid(1)
    if i < y.size:
        a[i] = max(y[i], float32(0.0))


@cuda.jit
def relu_backward(y, ga, gy):  # pragma: no cover - compiled
    """``gy = ga [y > 0]`` on flat arrays."""
    i = cuda.grid(1)
    if i < y.size:
        gy[i] = ga[i] if y[i] > 0 else float32(0.0)
