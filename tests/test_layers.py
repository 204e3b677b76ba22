"""Digital layers: shapes, initialisation, immutability and gradients vs finite differences."""

from __future__ import annotations

import numpy as np
import pytest

from physnn.layers import Linear, LinearParams


def _fd(f, a, eps=1e-6):
    g = np.zeros_like(a)
    it = np.nditer(a, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = a[i]
        a[i] = old + eps
        fp = f()
        a[i] = old - eps
        fm = f()
        a[i] = old
        g[i] = (fp - fm) / (2 * eps)
    return g


def test_forward_matches_definition():
    lin = Linear(4, 3, dtype=np.float64)
    p = lin.reset_parameters(np.random.default_rng(0))
    x = np.random.default_rng(1).standard_normal((5, 4))
    np.testing.assert_allclose(lin(x), x @ p.weight.T + p.bias)
    assert lin.macs(5) == 5 * 4 * 3


def test_init_is_seeded_and_bounded():
    a = Linear(16, 8).reset_parameters(np.random.default_rng(3))
    b = Linear(16, 8).reset_parameters(np.random.default_rng(3))
    np.testing.assert_array_equal(a.weight, b.weight)
    assert np.abs(a.weight).max() <= 1 / 4
    assert a.weight.dtype == np.float32
    assert not np.any(a.bias)


def test_backward_matches_finite_differences():
    rng = np.random.default_rng(0)
    lin = Linear(5, 3, dtype=np.float64)
    lin.reset_parameters(rng)
    w = np.array(lin.params.weight)
    b = rng.standard_normal(3)
    x = rng.standard_normal((7, 5))
    c = rng.standard_normal((7, 3))

    def loss():
        return float(np.sum(c * np.sin(lin.forward(x, LinearParams(w, b)))))

    gy = c * np.cos(lin.forward(x, LinearParams(w, b)))
    grads, gx = lin.backward(x, gy, LinearParams(w, b), need_input_grad=True)
    np.testing.assert_allclose(grads.weight, _fd(loss, w), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(grads.bias, _fd(loss, b), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(gx, _fd(loss, x), rtol=1e-6, atol=1e-8)


def test_no_bias_layer_keeps_zero_bias_gradient():
    lin = Linear(3, 2, bias=False, dtype=np.float64)
    lin.reset_parameters(np.random.default_rng(0))
    p = LinearParams(lin.params.weight, np.ones(2))
    x = np.ones((2, 3))
    np.testing.assert_allclose(lin(x, p), x @ p.weight.T)
    g, gx = lin.backward(x, np.ones((2, 2)), p)
    assert gx is None and not np.any(g.bias)


def test_params_are_read_only_records():
    lin = Linear(3, 2)
    lin.reset_parameters(np.random.default_rng(0))
    with pytest.raises(ValueError):
        lin.params.weight[0, 0] = 1.0


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_bad_sizes_name_the_argument(bad):
    with pytest.raises(ValueError, match="in_features"):
        Linear(bad, 2)


def test_bad_params_and_missing_params():
    lin = Linear(3, 2)
    with pytest.raises(RuntimeError, match="reset_parameters"):
        lin(np.ones((1, 3)))
    with pytest.raises(ValueError, match="weight"):
        lin.params = LinearParams(np.ones((3, 2)), np.zeros(2))
    with pytest.raises(ValueError, match="NaN"):
        lin.params = LinearParams(np.full((2, 3), np.nan), np.zeros(2))
    assert lin.params is None
    lin.reset_parameters(np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"\(batch, 3\)"):
        lin(np.ones((1, 4)))
