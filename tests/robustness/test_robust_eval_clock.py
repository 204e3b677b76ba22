"""A local learner's evaluation never moves a deployment's clock: ``evaluate`` and
``fit(eval_data=...)`` measure inside ``perturb.probe``."""

from __future__ import annotations

import numpy as np
import pytest
from robust_toys import D, K, blobs, network, trained

import physnn as pn
from physnn.perturb import Drift, ParameterDrift, Perturbed, probe
from physnn.robustness import Scenario, deploy

LEARNERS = {
    "PhyLL": lambda: pn.learning.PhyLL(alpha=4.0, inner_steps=2, optimizer=pn.optim.Adam(3e-3)),
    "ForwardForward": lambda: pn.learning.ForwardForward(theta=2.0, inner_steps=2,
                                                         optimizer=pn.optim.Adam(3e-3)),
    "LocalReadout": lambda: pn.learning.LocalReadout(inner_steps=2,
                                                     optimizer=pn.optim.Adam(3e-3)),
}
SHIFT = Scenario("gain x3 at q=500", [ParameterDrift("gain", at_query=500, shift=2.0)])


def _layers(net):
    return [b.physical for b in net.blocks]


def _clocks(net):
    return [(p.clock, p.queries, p.probe_queries) for p in _layers(net)]


@pytest.mark.parametrize("name", sorted(LEARNERS))
def test_evaluate_does_not_move_the_clock(name):
    learner = LEARNERS[name]()
    net, _, _, xt, yt = trained(learner, epochs=2)
    live = deploy(net, SHIFT)
    served = live.predict(xt[:100])  # serving traffic advances the clock
    assert len(served) == 100
    before = [p.clock for p in _layers(live)]
    assert before == [100, 100]
    first = learner.evaluate(live, xt, yt)
    again = learner.evaluate(live, xt, yt)
    assert [p.clock for p in _layers(live)] == before  # measuring moved nothing
    assert first["accuracy"] == again["accuracy"]
    assert first["queries"] > 0  # the probe's queries are still counted as cost
    assert all(p.probe_queries > 0 for p in _layers(live))


def test_evaluate_inside_an_outer_probe_measures_as_of_its_instant():
    learner = LEARNERS["PhyLL"]()
    net, _, _, xt, yt = trained(learner, epochs=2)
    live = deploy(net, SHIFT)
    now = learner.evaluate(live, xt, yt)["accuracy"]
    with probe(live, at=2000):  # after the shift; the clock is still 0
        later = learner.evaluate(live, xt, yt)["accuracy"]
    assert [p.clock for p in _layers(live)] == [0, 0]
    with probe(live, at=2000):
        direct = float(np.mean(live.predict(xt) == yt))
    assert later == direct != now


def test_fit_eval_data_does_not_move_the_clock():
    """Training traffic advances the clock; the per-epoch evaluation does not."""
    x, y = blobs(96, 0)
    xt, yt = blobs(200, 1)

    def run(eval_data):
        learner = LEARNERS["PhyLL"]()
        net = network(learner.input_width(D, K), 0)
        for b in net.blocks:
            b.physical = Perturbed(b.physical, Drift(rate=1e-3), seed=3)
        hist = learner.fit(net, x, y, epochs=2, batch_size=32, rng=np.random.default_rng(0),
                           progress=False, eval_data=eval_data)
        return net, hist

    plain, _ = run(None)
    evaluated, hist = run((xt, yt))
    assert np.all(np.isfinite(hist.eval_accuracy))
    assert [p.clock for p in _layers(evaluated)] == [p.clock for p in _layers(plain)]
    assert all(p.probe_queries > 0 for p in _layers(evaluated))
    assert all(p.probe_queries == 0 for p in _layers(plain))
    assert hist.queries[-1] == plain.queries  # evaluation is not training cost
