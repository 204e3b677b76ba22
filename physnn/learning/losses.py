"""Goodness functions and local losses, each with its hand-written gradient.

Every function is pure and works on a batch; gradients are checked against finite
differences in ``tests/test_phyll_grad.py``.

Notation: :math:`y \\in \\mathbb{R}^{B \\times m}` a block's digital output, :math:`G_i` the
goodness of sample :math:`i`, :math:`\\sigma` the logistic function,
:math:`\\operatorname{softplus}(t) = \\log(1 + e^t)`.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

__all__ = [
    "COSINE_EPS",
    "contrastive_loss",
    "cosine_goodness",
    "cosine_goodness_grad",
    "softmax_cross_entropy",
    "square_goodness",
    "square_goodness_grad",
    "threshold_loss",
]

#: Regulariser of the norm in :func:`cosine_goodness` (same units as ``y``).
COSINE_EPS = 1e-6


def cosine_goodness(y: np.ndarray, xi: np.ndarray) -> np.ndarray:
    """PhyLL goodness: cosine between the magnitude of the output and a fixed unit vector.

    .. math:: G_i = \\frac{\\sum_j |y_{ij}|\\,\\xi_j}{n_i}, \\qquad
              n_i = \\sqrt{\\textstyle\\sum_j y_{ij}^2 + \\epsilon^2}

    with :math:`\\|\\xi\\| = 1` and :math:`\\epsilon` = :data:`COSINE_EPS`, so that
    :math:`G_i = \\cos(|y_i|, \\xi)` for any non-zero row. Dimensionless, in [-1, 1].

    Parameters
    ----------
    y : ndarray, shape (B, m)
    xi : ndarray, shape (m,), unit norm

    Returns
    -------
    ndarray, shape (B,)
    """
    a = np.abs(y)
    n = np.sqrt(np.einsum("ij,ij->i", y, y) + COSINE_EPS**2)
    return (a @ xi) / n


def cosine_goodness_grad(y: np.ndarray, xi: np.ndarray, grad_g: np.ndarray) -> np.ndarray:
    """Back-propagate :math:`\\partial L/\\partial G` through :func:`cosine_goodness`.

    .. math:: \\frac{\\partial G_i}{\\partial y_{ij}} =
              \\operatorname{sign}(y_{ij})\\,\\frac{\\xi_j}{n_i}
              - \\frac{s_i\\, y_{ij}}{n_i^3}, \\qquad s_i = \\textstyle\\sum_k |y_{ik}|\\xi_k

    Returns ``grad_y`` of shape (B, m).
    """
    a = np.abs(y)
    n = np.sqrt(np.einsum("ij,ij->i", y, y) + COSINE_EPS**2)
    s = a @ xi
    dg = np.sign(y) * (xi[None, :] / n[:, None]) - y * (s / n**3)[:, None]
    return dg * grad_g[:, None]


def contrastive_loss(g_pos: np.ndarray, g_neg: np.ndarray,
                     alpha: float) -> tuple[float, np.ndarray, np.ndarray]:
    """PhyLL pairwise loss on the goodness of positive and negative copies of each sample.

    .. math:: L = \\frac1B \\sum_i \\operatorname{softplus}\\!\\big(-\\alpha(G^+_i - G^-_i)\\big),
              \\qquad \\frac{\\partial L}{\\partial G^\\pm_i} =
              \\mp\\frac{\\alpha}{B}\\,\\sigma\\!\\big(-\\alpha(G^+_i - G^-_i)\\big)

    Returns ``(L, dL/dG+, dL/dG-)``.
    """
    d = g_pos - g_neg
    b = d.shape[0]
    loss = float(np.mean(np.logaddexp(0.0, -alpha * d)))
    s = expit(-alpha * d) * (alpha / b)
    return loss, -s, s


def square_goodness(y: np.ndarray) -> np.ndarray:
    """Hinton's goodness: mean squared activity of the rectified output.

    .. math:: G_i = \\frac1m \\sum_j \\max(y_{ij}, 0)^2

    Returns shape (B,), in the squared units of ``y``.
    """
    a = np.maximum(y, 0.0)
    return np.einsum("ij,ij->i", a, a) / y.shape[1]


def square_goodness_grad(y: np.ndarray, grad_g: np.ndarray) -> np.ndarray:
    """:math:`\\partial G_i/\\partial y_{ij} = (2/m)\\max(y_{ij}, 0)`, times ``grad_g``."""
    return (2.0 / y.shape[1]) * np.maximum(y, 0.0) * grad_g[:, None]


def threshold_loss(g_pos: np.ndarray, g_neg: np.ndarray, theta: float,
                   alpha: float = 1.0) -> tuple[float, np.ndarray, np.ndarray]:
    """Forward-Forward loss: positive goodness above, negative goodness below :math:`\\theta`.

    .. math:: L = \\frac{1}{2B}\\sum_i \\Big[
              \\operatorname{softplus}\\big(-\\alpha(G^+_i-\\theta)\\big)
              + \\operatorname{softplus}\\big(\\alpha(G^-_i-\\theta)\\big)\\Big]

    .. math:: \\frac{\\partial L}{\\partial G^+_i} =
              -\\frac{\\alpha}{2B}\\sigma(-\\alpha(G^+_i-\\theta)), \\quad
              \\frac{\\partial L}{\\partial G^-_i} =
              \\frac{\\alpha}{2B}\\sigma(\\alpha(G^-_i-\\theta))

    Returns ``(L, dL/dG+, dL/dG-)``.
    """
    b = g_pos.shape[0]
    tp, tn = -alpha * (g_pos - theta), alpha * (g_neg - theta)
    loss = float((np.logaddexp(0.0, tp).sum() + np.logaddexp(0.0, tn).sum()) / (2 * b))
    c = alpha / (2 * b)
    return loss, -c * expit(tp), c * expit(tn)


def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy of integer ``labels`` under ``softmax(logits)``, and its gradient.

    .. math:: L = -\\frac1B\\sum_i \\log \\operatorname{softmax}(o_i)_{y_i}, \\qquad
              \\frac{\\partial L}{\\partial o_i} = \\frac{\\operatorname{softmax}(o_i) - e_{y_i}}{B}

    Returns ``(L, dL/dlogits)``.
    """
    b = logits.shape[0]
    idx = np.arange(b)
    shifted = logits - logits.max(axis=1, keepdims=True)  # one pass shared by L and its grad
    e = np.exp(shifted)
    total = e.sum(axis=1, keepdims=True)
    loss = float(np.mean(np.log(total[:, 0]) - shifted[idx, labels]))
    g = e / total
    g[idx, labels] -= 1.0
    return loss, g / b
