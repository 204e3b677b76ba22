"""Every hand-written gradient of the local learners against central finite differences."""

from __future__ import annotations

import numpy as np
import pytest
from phyll_toys import SaturatingProjection

from physnn.layers import Linear, LinearParams
from physnn.learning import ForwardForward, LocalReadout, PhyLL, losses
from physnn.nets import Block, PhysicalNetwork


def _fd(f, a, eps=1e-6):
    g = np.zeros_like(a)
    for i in np.ndindex(a.shape):
        old = a[i]
        a[i] = old + eps
        fp = f()
        a[i] = old - eps
        fm = f()
        a[i] = old
        g[i] = (fp - fm) / (2 * eps)
    return g


RNG = np.random.default_rng(42)


def test_cosine_goodness_is_the_cosine_and_its_gradient_is_right():
    y = RNG.standard_normal((6, 5))
    xi = RNG.standard_normal(5)
    xi /= np.linalg.norm(xi)
    g = losses.cosine_goodness(y, xi)
    a = np.abs(y)
    np.testing.assert_allclose(g, a @ xi / np.linalg.norm(a, axis=1), rtol=1e-9)
    c = RNG.standard_normal(6)
    grad = losses.cosine_goodness_grad(y, xi, c)
    np.testing.assert_allclose(grad, _fd(lambda: c @ losses.cosine_goodness(y, xi), y),
                               rtol=1e-6, atol=1e-9)
    # a zero row has zero goodness and a finite gradient
    assert losses.cosine_goodness(np.zeros((1, 5)), xi)[0] == 0.0
    assert np.all(np.isfinite(losses.cosine_goodness_grad(np.zeros((1, 5)), xi, np.ones(1))))


def test_square_goodness_gradient():
    y = RNG.standard_normal((4, 7))
    c = RNG.standard_normal(4)
    np.testing.assert_allclose(losses.square_goodness_grad(y, c),
                               _fd(lambda: c @ losses.square_goodness(y), y), rtol=1e-6,
                               atol=1e-9)


@pytest.mark.parametrize("which", ["contrastive", "threshold"])
def test_pair_loss_gradients(which):
    gp, gn = RNG.standard_normal(5), RNG.standard_normal(5)

    def f():
        if which == "contrastive":
            return losses.contrastive_loss(gp, gn, 4.0)
        return losses.threshold_loss(gp, gn, 0.3, 1.7)

    _, dp, dn = f()
    np.testing.assert_allclose(dp, _fd(lambda: f()[0], gp), rtol=1e-6, atol=1e-10)
    np.testing.assert_allclose(dn, _fd(lambda: f()[0], gn), rtol=1e-6, atol=1e-10)


def test_contrastive_loss_values():
    loss, _, _ = losses.contrastive_loss(np.array([1.0, -1.0]), np.array([0.0, 0.0]), 2.0)
    np.testing.assert_allclose(loss, (np.log1p(np.exp(-2.0)) + np.log1p(np.exp(2.0))) / 2)
    # stable for huge margins
    loss, dp, _ = losses.contrastive_loss(np.array([1e4]), np.array([-1e4]), 4.0)
    assert loss == 0.0 and np.all(np.isfinite(dp))


def test_softmax_cross_entropy_gradient():
    o = RNG.standard_normal((5, 4))
    lab = np.array([0, 3, 1, 1, 2])
    loss, g = losses.softmax_cross_entropy(o, lab)
    p = np.exp(o) / np.exp(o).sum(1, keepdims=True)
    np.testing.assert_allclose(loss, -np.mean(np.log(p[np.arange(5), lab])))
    np.testing.assert_allclose(g, _fd(lambda: losses.softmax_cross_entropy(o, lab)[0], o),
                               rtol=1e-6, atol=1e-10)


def _bound(learner, width_in, dtype=np.float64):
    phys = SaturatingProjection(width_in, 6, seed=1)
    net = PhysicalNetwork([Block(phys, Linear(6 + width_in, 5, dtype=dtype))])
    k = 3
    d = width_in - learner.input_width(0, k)
    x = RNG.random((9, d))
    y = np.arange(9) % k
    learner.fit(net, x, y, epochs=1, batch_size=9, rng=np.random.default_rng(0), progress=False)
    return net


@pytest.mark.parametrize("make", [lambda: PhyLL(alpha=3.0, inner_steps=1),
                                  lambda: ForwardForward(theta=0.05, inner_steps=1)])
def test_goodness_learner_local_loss_gradient(make):
    learner = make()
    net = _bound(learner, 7)
    lin = net[0].digital
    w = RNG.standard_normal((5, 13)) * 0.5
    b = RNG.standard_normal(5) * 0.1
    up, un = RNG.random((4, 13)), RNG.random((4, 13))

    def f():
        return learner.local_loss(0, lin, LinearParams(w, b), up, un)[0]

    _, grads = learner.local_loss(0, lin, LinearParams(w, b), up, un)
    np.testing.assert_allclose(grads.weight, _fd(f, w), rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(grads.bias, _fd(f, b), rtol=1e-5, atol=1e-9)


def test_local_readout_gradient():
    learner = LocalReadout(inner_steps=1)
    net = _bound(learner, 7)
    lin = net[0].digital
    w = RNG.standard_normal((5, 13)) * 0.5
    b = RNG.standard_normal(5) * 0.1
    v = RNG.standard_normal((3, 5))
    c = RNG.standard_normal(3)
    u = RNG.random((6, 13))
    lab = np.array([0, 1, 2, 2, 1, 0])

    def f():
        return learner.local_loss(lin, LinearParams(w, b), LinearParams(v, c), u, lab)[0]

    _, gb, gh = learner.local_loss(lin, LinearParams(w, b), LinearParams(v, c), u, lab)
    for got, arr in ((gb.weight, w), (gb.bias, b), (gh.weight, v), (gh.bias, c)):
        np.testing.assert_allclose(got, _fd(f, arr), rtol=1e-5, atol=1e-9)
