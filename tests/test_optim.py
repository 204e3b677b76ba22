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


def _numpy_adam(opt, params, grads, state):
    """Adam.step as NumPy expressions (the one-pass kernel switched off)."""
    import physnn.optim as optim

    saved = optim._FUSED_MIN
    optim._FUSED_MIN = 1 << 62
    try:
        return opt.step(params, grads, state)
    finally:
        optim._FUSED_MIN = saved


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("decay", [0.0, 0.3])
def test_adam_kernel_is_the_numpy_expressions_bit_for_bit(dtype, decay):
    import physnn.optim as optim

    rng = np.random.default_rng(3)
    shape = (64, optim._FUSED_MIN // 64 + 5)  # above the kernel's threshold
    p = LinearParams(rng.standard_normal(shape).astype(dtype),
                     rng.standard_normal(shape[0]).astype(dtype))  # bias: NumPy path
    opt = Adam(3e-3, weight_decay=decay)
    fused, ref = (p, opt.init(p)), (p, opt.init(p))
    for _ in range(4):
        g = LinearParams(*(rng.standard_normal(a.shape).astype(dtype) * 1e-2 for a in p))
        fused = opt.step(fused[0], g, fused[1])
        ref = _numpy_adam(opt, ref[0], g, ref[1])
    for a, b in zip((*fused[0], *fused[1].m, *fused[1].v), (*ref[0], *ref[1].m, *ref[1].v),
                    strict=True):
        assert a.dtype == dtype
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(fused[0].weight, p.weight)  # it did move


def test_adam_kernel_leaves_inputs_and_mixed_dtypes_alone():
    import physnn.optim as optim

    n = optim._FUSED_MIN
    p = LinearParams(np.ones((1, n), np.float32), np.zeros(1, np.float32))
    g = LinearParams(np.full((1, n), 0.5, np.float64), np.zeros(1, np.float32))  # mixed
    opt = Adam(0.1)
    st = opt.init(p)
    p1, st1 = opt.step(p, g, st)
    np.testing.assert_array_equal(p.weight, 1.0)  # inputs untouched
    np.testing.assert_array_equal(st.m[0], 0.0)
    np.testing.assert_allclose(p1.weight, 0.9, rtol=1e-6)  # first step: lr * sign(g)
    g32 = LinearParams(g.weight.astype(np.float32), g.bias)
    p2, _ = opt.step(p, g32, st)
    np.testing.assert_array_equal(p2.weight, p1.weight.astype(np.float32))
