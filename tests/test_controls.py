"""The controls and baselines the experiments report (physnn.experiments._controls)."""

from __future__ import annotations

import numpy as np
import pytest

import physnn as pn
from physnn.experiments import _controls as C
from physnn.experiments import mean_std
from physnn.nets import abs_max_scale


class Square(pn.PhysicalLayer):
    """A nonlinear toy 'physics': elementwise square of a fixed mixing, 6 -> 5."""

    def __init__(self):
        super().__init__()
        self.in_features, self.out_features = 6, 5
        self.m = np.random.default_rng(3).normal(size=(6, 5))

    def _forward(self, x, rng):
        return ((x @ self.m) ** 2 + 1.0).astype(np.float32)


def toy_net():
    return pn.PhysicalNetwork([pn.Block(Square(), pn.Linear(11, 6), encode=abs_max_scale),
                               pn.Block(Square(), pn.Linear(5, 3), skip=False)])


def test_silenced_returns_zeros_of_the_replaced_width():
    s = C.Silenced(Square())
    z = s.forward(np.ones((4, 6)))
    assert z.shape == (4, 5) and not z.any()
    with pytest.raises(TypeError, match="like"):
        C.Silenced(object())


def test_random_linear_matches_output_scale_on_first_batch_then_stays_fixed():
    phys = Square()
    x = np.random.default_rng(0).uniform(size=(200, 6))
    ref = phys.forward(x)
    r = C.RandomLinear(phys, seed=1)
    assert not r.calibrated
    z = r.forward(x)
    assert r.calibrated
    np.testing.assert_allclose(z.mean(0), ref.mean(0), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(z.std(0), ref.std(0), rtol=1e-4)
    # affine afterwards: f(a) + f(b) - f(0) == f(a + b), which the square law breaks
    a, b = x[:3], x[3:6]
    zero = np.zeros((1, 6))
    np.testing.assert_allclose(r.forward(a) + r.forward(b) - r.forward(zero), r.forward(a + b),
                               rtol=1e-4, atol=1e-3)
    assert not np.allclose(phys.forward(a) + phys.forward(b) - phys.forward(zero),
                           phys.forward(a + b), rtol=1e-2)
    # seeded: the same seed and batch give the same map
    r2 = C.RandomLinear(Square(), seed=1)
    np.testing.assert_array_equal(r2.forward(x), z)


def test_control_network_replaces_every_physical_layer_and_leaves_the_net_alone():
    net = toy_net()
    for kind, cls in (("physics_silenced", C.Silenced), ("random_linear", C.RandomLinear)):
        ctl = C.control_network(net, kind, seed=0)
        assert [type(b.physical) for b in ctl.blocks] == [cls, cls]
        assert [b.skip for b in ctl.blocks] == [True, False]
        assert ctl.blocks[0].encode is abs_max_scale
        assert all(c.digital is not b.digital for c, b in zip(ctl.blocks, net.blocks, strict=True))
    assert [type(b.physical) for b in net.blocks] == [Square, Square]
    with pytest.raises(ValueError, match="kind"):
        C.control_network(net, "zeros", seed=0)


def test_a_learner_trains_a_control_network():
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(60, 6)).astype(np.float32)
    y = (x[:, 0] > 0.5).astype(int)
    ctl = C.control_network(pn.PhysicalNetwork([pn.Block(Square(), pn.Linear(11, 8))]),
                            "random_linear", seed=0)
    learner = pn.learning.LocalReadout(num_classes=2, inner_steps=2)
    learner.fit(ctl, x, y, epochs=2, batch_size=20, rng=np.random.default_rng(1),
                progress=False)
    assert ctl.blocks[0].physical.calibrated
    assert 0.0 <= learner.evaluate(ctl, x, y)["accuracy"] <= 1.0


def test_digital_params_counts_weights_and_biases():
    assert C.digital_params(toy_net()) == 11 * 6 + 6 + 5 * 3 + 3


def test_baselines_fit_a_separable_task():
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    tr, te = np.arange(0, 1400), np.arange(1400, len(y))
    mlp = C.digital_same_params(2000, x[tr], y[tr], x[te], y[te], seed=0)
    assert mlp["hidden"] == round((2000 - 10) / (64 + 1 + 10))
    assert abs(mlp["params"] - 2000) <= 64 + 1 + 10
    assert mlp["accuracy"] > 0.85 and mlp["macs_per_sample"] == 64 * mlp["hidden"] + 10 * mlp[
        "hidden"]
    lr = C.logistic_regression(x[tr], y[tr], x[te], y[te], seed=0, Cs=(0.01, 1.0))
    assert lr["accuracy"] > 0.85 and lr["C"] in (0.01, 1.0)
    assert set(lr["validation_accuracy"]) == {"0.01", "1.0"}
    with pytest.raises(ValueError, match="x_tr and x_te"):
        C.logistic_regression(x[tr], y[tr], x[te, :10], y[te], seed=0)
    with pytest.raises(ValueError, match="n_params"):
        C.digital_same_params(0, x[tr], y[tr], x[te], y[te], seed=0)


def test_compare_says_when_a_baseline_beats_or_matches_the_method():
    m = mean_std([0.90, 0.91, 0.92])
    above, v = C.compare("PhyLL", m, {"physics_silenced": mean_std([0.80, 0.81, 0.79])})
    assert v["physics_silenced"]["verdict"] == "above"
    assert "above every control" in above and "Silencing the physics costs 11.0 points" in above
    text, v = C.compare("PhyLL", m, {"logistic_regression": mean_std([0.95, 0.96, 0.97]),
                                     "random_linear": mean_std([0.905, 0.915, 0.91])})
    assert v["logistic_regression"]["verdict"] == "below"
    assert v["random_linear"]["verdict"] == "matches"
    assert "Beating the method: logistic regression" in text
    assert "Indistinguishable from the method: random linear map" in text
    assert "above every" not in text
    assert "random linear map gains" not in text and "map costs 0.0 points" in text


def test_baseline_panel_never_clips_error_bars():
    from physnn.experiments._base import pyplot

    plt = pyplot()
    fig, ax = plt.subplots()
    C.baseline_panel(ax, {"PhyLL": [0.5, 0.9]}, {"logistic_regression": [0.97, 0.99]})
    lo, hi = ax.get_ylim()
    assert lo <= 100 * (0.7 - 0.2) and hi >= 99.0
    assert len(ax.get_xticklabels()) == 2
    plt.close(fig)
