r"""CPU kernel of the Adam update in one pass (``numba.njit``, serial).

NumPy runs :meth:`physnn.optim.Adam.step` as about ten array passes with a temporary each;
this kernel reads :math:`\theta, g, m, v` once and writes the new ones, with the same
sequence of rounded operations in the arrays' precision (every scalar is first rounded to
that precision, as NumPy does with a Python float against a float32 array), so the results
are those of the NumPy expressions bit for bit (``tests/test_optim.py`` checks it):

.. math::
    m' = \beta_1 m + (1-\beta_1) g, \quad v' = \beta_2 v + (1-\beta_2) g^2, \quad
    \theta' = \theta - \eta\left(\frac{m'/c_1}{\sqrt{v'/c_2}+\epsilon} + \lambda\theta\right)

with :math:`c_1 = 1-\beta_1^t`, :math:`c_2 = 1-\beta_2^t` (the ``decay`` term only when
:math:`\lambda \ne 0`, as in NumPy).
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["adam_update"]


@njit(cache=True, error_model="numpy")
def adam_update(p, g, m, v, b1, one_b1, b2, one_b2, c1, c2, lr, eps, wd, decay,
                p_out, m_out, v_out):
    """One Adam update of the flat arrays ``p, g, m, v`` into ``p_out, m_out, v_out``; the
    scalars come already rounded to the arrays' dtype (``one_b1`` is :math:`1-\\beta_1`
    rounded once, as NumPy rounds the Python expression ``1.0 - b1``)."""
    n = p.shape[0]
    if decay:  # two loops: no branch inside, so that each vectorises
        for i in range(n):
            gi = g[i]
            mi = b1 * m[i] + one_b1 * gi
            vi = b2 * v[i] + one_b2 * (gi * gi)
            upd = (mi / c1) / (np.sqrt(vi / c2) + eps) + wd * p[i]
            p_out[i] = p[i] - lr * upd
            m_out[i] = mi
            v_out[i] = vi
    else:
        for i in range(n):
            gi = g[i]
            mi = b1 * m[i] + one_b1 * gi
            vi = b2 * v[i] + one_b2 * (gi * gi)
            p_out[i] = p[i] - lr * ((mi / c1) / (np.sqrt(vi / c2) + eps))
            m_out[i] = mi
            v_out[i] = vi
