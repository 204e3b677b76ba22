"""Optimizers: the update equations, functional state, and bad input."""

from __future__ import annotations

import numpy as np
import pytest

from physnn.layers import LinearParams
from physnn.optim import SGD, Adam


def _p(w, b):
    return LinearParams(np.asarray(w, float), np.asarray(b, float))


def test_sgd_momentum_matches_equations():
    opt = SGD(0.1, momentum=0.9)
    p = _p([[1.0, 2.0]], [0.5])
    g = _p([[1.0, -1.0]], [2.0])
    st = opt.init(p)
    p1, st1 = opt.step(p, g, st)
    np.testing.assert_allclose(p1.weight, [[0.9, 2.1]])
    p2, _ = opt.step(p1, g, st1)
    # v2 = 0.9 * g + g = 1.9 g
    np.testing.assert_allclose(p2.weight, p1.weight - 0.1 * 1.9 * g.weight)
    assert isinstance(p2, LinearParams)
    np.testing.assert_allclose(p.weight, [[1.0, 2.0]])  # the old record is untouched


def test_adam_first_step_is_lr_times_sign_and_matches_reference():
    opt = Adam(0.01)
    p = _p([[0.0, 0.0, 0.0]], [0.0])
    g = _p([[3.0, -0.2, 0.0]], [1e-3])
    p1, st = opt.step(p, g, opt.init(p))
    np.testing.assert_allclose(p1.weight, [[-0.01, 0.01, 0.0]], atol=1e-7)
    # second step against a direct transcription of the algorithm
    g2 = _p([[1.0, 1.0, 1.0]], [1.0])
    p2, st2 = opt.step(p1, g2, st)
    m = 0.9 * 0.1 * g.weight + 0.1 * g2.weight
    v = 0.999 * 0.001 * g.weight**2 + 0.001 * g2.weight**2
    ref = p1.weight - 0.01 * (m / (1 - 0.9**2)) / (np.sqrt(v / (1 - 0.999**2)) + 1e-8)
    np.testing.assert_allclose(p2.weight, ref, rtol=1e-10)
    assert st2.step == 2


def test_adam_minimises_a_quadratic():
    opt = Adam(0.05)
    target = np.array([[1.0, -2.0]])
    p = _p([[0.0, 0.0]], [0.0])
    st = opt.init(p)
    for _ in range(500):
        p, st = opt.step(p, _p(2 * (p.weight - target), [0.0]), st)
    np.testing.assert_allclose(p.weight, target, atol=1e-3)


def test_weight_decay_shrinks():
    for opt in (SGD(0.1, weight_decay=0.5), Adam(0.1, weight_decay=0.5)):
        p = _p([[1.0]], [0.0])
        p1, _ = opt.step(p, _p([[0.0]], [0.0]), opt.init(p))
        assert p1.weight[0, 0] < 1.0


def test_bad_arguments():
    with pytest.raises(ValueError, match="lr"):
        SGD(0.0)
    with pytest.raises(ValueError, match="momentum"):
        SGD(0.1, momentum=1.0)
    with pytest.raises(ValueError, match="betas"):
        Adam(betas=(0.9, 1.0))
    opt = Adam()
    p = _p([[1.0]], [0.0])
    with pytest.raises(ValueError, match="shape"):
        opt.step(p, _p([[1.0, 2.0]], [0.0]), opt.init(p))
    with pytest.raises(FloatingPointError, match="NaN"):
        opt.step(p, _p([[np.nan]], [0.0]), opt.init(p))
