r"""CPU kernels of spiking-network training that NumPy would run as several passes with a
temporary each: the per-step readout losses of :mod:`physnn.snn` with their gradients, in one
pass over a ``(rows, C)`` block (``numba.njit``, serial: a step has a batch of rows).

SLTT (:mod:`physnn.learning.sltt`) evaluates its loss once per time step, on ``batch`` rows;
as NumPy expressions that cost about 50 us per step, here a few.

Both take the readout ``out[R, C]`` (float32), the labels ``y[B]`` (row ``r`` has label
``y[r % B]``) and write ``grad[R, C]``, multiplied by the float32 ``scale`` last (SLTT's
``1/T``: the bits of a separate ``grad *= scale`` pass, without the pass); they return the
mean loss over the rows (float64, not scaled).

- :func:`softmax_cross_entropy`:

  .. math:: L = \frac1R \sum_r \big(\log \textstyle\sum_c e^{o_{rc} - m_r}
            - (o_{r y_r} - m_r)\big),\qquad
            \partial L / \partial o_{rc} = (\mathrm{softmax}(o_r)_c - [c = y_r]) / R

- :func:`spike_count_mse`:

  .. math:: L = \frac1R \sum_r \frac1C \lVert o_r - e_{y_r} \rVert^2,\qquad
            \partial L / \partial o_{rc} = 2 (o_{rc} - [c = y_r]) / (C R)
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = ["softmax_cross_entropy", "spike_count_mse", "add_product"]

_ONE = np.float32(1.0)


@njit(cache=True, error_model="numpy")
def softmax_cross_entropy(out, y, grad, scale=_ONE):
    """Softmax cross-entropy of every row and its gradient (see the module docstring)."""
    R, C = out.shape
    B = y.shape[0]
    one = np.float32(1.0)
    rows = np.float32(R)
    total = 0.0
    for r in range(R):
        o = out[r]
        gr = grad[r]
        label = y[r % B]
        m = o[0]
        for c in range(1, C):
            m = max(m, o[c])
        s = np.float32(0.0)
        for c in range(C):
            e = np.float32(math.exp(o[c] - m))
            gr[c] = e
            s += e
        total += math.log(s) - (o[label] - m)
        for c in range(C):
            gr[c] = gr[c] / s
        gr[label] -= one
        for c in range(C):
            gr[c] = (gr[c] / rows) * scale
    return total / R


@njit(cache=True, error_model="numpy")
def spike_count_mse(out, y, grad, scale=_ONE):
    """Squared error to the one-hot label of every row and its gradient (module docstring)."""
    R, C = out.shape
    B = y.shape[0]
    two = np.float32(2.0)
    denominator = np.float32(C * R)
    total = 0.0
    for r in range(R):
        o = out[r]
        gr = grad[r]
        label = y[r % B]
        row = 0.0
        for c in range(C):
            d = o[c] - (np.float32(1.0) if c == label else np.float32(0.0))
            row += d * d
            gr[c] = (two * d / denominator) * scale
        total += row / C
    return total / R


@njit(cache=True, error_model="numpy")
def add_product(acc, g, f):
    """``acc += g * f`` elementwise on 1-D float32 arrays, the product rounded on its own
    (what NumPy's ``acc += g * f`` gives, in one pass and without the temporary): SLTT's
    spatial gradient of a layer whose weight gradient is deferred, added into its sum."""
    for i in range(acc.shape[0]):
        acc[i] += g[i] * f[i]
