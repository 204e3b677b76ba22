"""physnn.robustness: deploy a trained network under a scenario, evaluate it as of regular
instants, adapt it online; every number of the report follows from the curve."""

from __future__ import annotations

import json

import numpy as np
import pytest
from robust_toys import D, GainProjection, K, blobs, network, trained

import physnn as pn
from physnn.perturb import DeadChannels, Drift, ParameterDrift, Perturbed, Ramp, probe
from physnn.robustness import (
    ChangeDetector,
    OnlineAdapter,
    RobustnessReport,
    Scenario,
    assert_robust,
    deploy,
    evaluate_under,
    unwrap,
)

SHIFT = Scenario("gain x3 at q=1000", [ParameterDrift("gain", at_query=1000, shift=2.0)])


def _phyll():
    return pn.learning.PhyLL(alpha=4.0, inner_steps=5, optimizer=pn.optim.Adam(3e-3))


def _readout():
    return pn.learning.LocalReadout(inner_steps=5, optimizer=pn.optim.Adam(3e-3))


@pytest.fixture(scope="module")
def phyll_net():
    learner = _phyll()
    return learner, *trained(learner)


def test_sudden_shift_drops_frozen_accuracy_and_online_phyll_recovers(phyll_net):
    learner, net, x, y, xt, yt = phyll_net
    frozen = evaluate_under(net, xt, yt, SHIFT, horizon=4000, eval_every=250)
    assert frozen.onset == 1000 and frozen.max_drop >= 0.10  # >= 10 points on 300 samples
    assert frozen.recovery_queries is None and not frozen.recovered
    online = evaluate_under(net, xt, yt, SHIFT, horizon=4000, eval_every=250,
                            method=OnlineAdapter(learner, lr=3e-4, replay=128,
                                                 replay_batch=32),
                            stream=(x, y))
    assert_robust(online, recover_within=3000)
    assert online.final_accuracy >= online.accuracy_before - 0.01
    assert 0 < online.recovery_cost <= online.cost["adapt_queries"]
    assert not online.nonfinite and not online.faults
    # the deployment is a copy: the trained network is untouched
    assert net.blocks[0].physical.params.gain == 1.0 and not isinstance(net.blocks[0].physical,
                                                                       Perturbed)


def test_adapting_costs_nothing_when_nothing_changes(phyll_net):
    learner, net, x, y, xt, yt = phyll_net
    frozen = evaluate_under(net, xt, yt, None, horizon=3000, eval_every=250)
    assert frozen.accuracy.min() == frozen.accuracy.max()  # a noiseless toy: a flat curve
    for method in (OnlineAdapter(learner, lr=3e-4, replay=128, replay_batch=32),
                   OnlineAdapter(learner, lr=3e-4, detector=ChangeDetector(),
                                 idle_updates=False)):
        online = evaluate_under(net, xt, yt, None, horizon=3000, eval_every=250,
                                method=method, stream=(x, y))
        assert np.all(online.accuracy >= frozen.accuracy - 0.01)
    # with change detection and no change, nothing is spent at all
    assert online.cost["adapt_queries"] == 0 and method.detector.alarms == 0
    np.testing.assert_array_equal(online.accuracy, frozen.accuracy)


@pytest.mark.parametrize("make", [_readout, lambda: pn.learning.ForwardForward(
    theta=2.0, inner_steps=5, optimizer=pn.optim.Adam(3e-3))], ids=["readout", "ff"])
def test_online_adaptation_works_for_every_local_learner(make):
    learner = make()
    net, x, y, xt, yt = trained(learner)
    method = OnlineAdapter(learner, lr=3e-4, alarm_lr=3e-3, replay=128, replay_batch=64,
                           detector=ChangeDetector())
    frozen = evaluate_under(net, xt, yt, SHIFT, horizon=4000, eval_every=250)
    online = evaluate_under(net, xt, yt, SHIFT, horizon=4000, eval_every=250, method=method,
                            stream=(x, y))
    assert method.detector.alarms >= 1
    assert online.final_accuracy >= frozen.final_accuracy + 0.05  # adapting pays off
    none = evaluate_under(net, xt, yt, None, horizon=2000, eval_every=250, method=method,
                          stream=(x, y))
    assert none.worst_accuracy >= frozen.accuracy_before - 0.01


def test_evaluation_measures_as_of_an_instant_without_moving_the_clock(phyll_net):
    _, net, x, y, xt, yt = phyll_net
    scen = Scenario("drift", [ParameterDrift("gain", schedule=Ramp(0, 4000, to=1.5)),
                              Drift(walk_std=0.002)])
    served = evaluate_under(net, xt, yt, scen, horizon=4000, eval_every=500, stream=(x, y))
    direct = evaluate_under(net, xt, yt, scen, horizon=4000, eval_every=500)  # no traffic
    np.testing.assert_array_equal(served.queries, direct.queries)
    np.testing.assert_array_equal(served.accuracy, direct.accuracy)
    assert served.cost["serve_queries"] == 4000 * K * 2  # K hypotheses, 2 blocks
    assert direct.cost["serve_queries"] == 0
    # a probe leaves the deployment where it was
    dep = deploy(net, scen)
    with probe(dep, at=3000):
        later = dep.predict(xt)
    assert all(b.physical.clock == 0 for b in dep.blocks)
    assert dep.blocks[0].physical.layer.params.gain == 1.0
    assert np.mean(later == yt) == pytest.approx(direct.accuracy[6], abs=0.02)


def test_label_hypotheses_of_a_sample_are_measured_at_one_instant(phyll_net):
    _, net, *_ , xt, yt = phyll_net
    dep = deploy(net, Scenario("fast drift", [Drift(rate=1e-3, walk_std=0.01)]))
    served = dep.readout.scores(dep, xt[:5])  # sample i served at instant i
    for i in range(5):
        with probe(dep, at=i):
            alone = dep.readout.scores(dep, xt[i:i + 1])
        np.testing.assert_allclose(served[i], alone[0], rtol=1e-5)
    assert dep.blocks[0].physical.clock == 5  # 5 samples served, K * 5 queries
    assert dep.blocks[0].physical.queries == 5 * K + 5 * K


def test_dying_channels_and_report_outputs(phyll_net, tmp_path):
    _, net, x, y, xt, yt = phyll_net
    scen = Scenario("dying", [DeadChannels(fraction=0.5, start=1000)], blocks=[0])
    rep = evaluate_under(net, xt, yt, scen, horizon=2000, eval_every=500)
    out = [rep.network]
    phys = out[0].blocks[0].physical
    assert phys.dead_outputs.sum() == 12 and not phys.dead_outputs_at(999).any()
    assert not isinstance(out[0].blocks[1].physical, Perturbed)
    assert rep.onset == 1000 and rep.accuracy_before == rep.accuracy[0]
    png = tmp_path / "curve.png"
    rep.plot(png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    d = json.loads(json.dumps(rep.to_dict()))
    assert d["queries"] == [0, 500, 1000, 1500, 2000] and d["onset"] == 1000
    pooled = RobustnessReport.pool([rep, rep])
    np.testing.assert_allclose(pooled.accuracy, rep.accuracy)
    assert pooled.n_eval == 2 * len(yt)
    assert unwrap(out[0]).blocks[0].physical is phys.layer


def test_report_numbers_follow_the_curve():
    q = np.arange(0, 1100, 100)
    acc = np.array([.90, .91, .90, .70, .80, .89, .905, .88, .895, .90, .90])
    rep = RobustnessReport("t", "m", q, acc, onset=300, accuracy_clean=0.9, tolerance=0.01,
                           cost_queries=q * 3, adapt_queries=q * 2, served_accuracy=acc,
                           cost={}, n_eval=300)
    assert rep.accuracy_before == pytest.approx(0.9033333)
    assert rep.worst_accuracy == 0.70 and rep.worst_query == 300
    assert rep.max_drop == pytest.approx(0.2033333)
    assert rep.recovery_queries == 800 - 300  # .88 at q=700 is outside the band: stays after
    assert rep.recovery_cost == 2 * 800 - 2 * 300
    flat = RobustnessReport("t", "m", q, np.full(11, 0.9), onset=300, accuracy_clean=0.9,
                            tolerance=0.01, cost_queries=q, adapt_queries=q * 0,
                            served_accuracy=acc, cost={}, n_eval=300)
    assert flat.recovery_queries == 0 and flat.max_drop == 0
    late = RobustnessReport("t", "m", q, np.r_[np.full(10, 0.9), 0.5], onset=300,
                            accuracy_clean=0.9, tolerance=0.01, cost_queries=q,
                            adapt_queries=q, served_accuracy=acc, cost={}, n_eval=300)
    assert late.recovery_queries is None and not late.recovered


def test_assert_robust_prints_the_curves_key_numbers(phyll_net):
    _, net, x, y, xt, yt = phyll_net
    frozen = evaluate_under(net, xt, yt, SHIFT, horizon=2000, eval_every=500)
    with pytest.raises(AssertionError) as err:
        assert_robust(frozen, max_drop=0.05, recover_within=1000)
    msg = str(err.value)
    for part in ("accuracy dropped", "recovery took longer than the run", "worst:",
                 "before (q < 1000)", "curve (query: accuracy %): 0: "):
        assert part in msg
    assert_robust(frozen, max_drop=0.5)  # a loose bound passes
    with pytest.raises(ValueError, match="max_drop must be a fraction"):
        assert_robust(frozen, max_drop=5)


def test_bad_arguments_are_named(phyll_net):
    learner, net, x, y, xt, yt = phyll_net
    with pytest.raises(ValueError, match="give stream="):
        evaluate_under(net, xt, yt, SHIFT, horizon=100, eval_every=10,
                       method=OnlineAdapter(learner))
    with pytest.raises(ValueError, match="horizon must be an int >= 1"):
        evaluate_under(net, xt, yt, SHIFT, horizon=0, eval_every=10)
    with pytest.raises(TypeError, match="perturbations must be physnn.perturb"):
        Scenario("x", [0.1])
    with pytest.raises(ValueError, match="perturbs blocks \\[5\\]"):
        deploy(net, Scenario("x", [Drift(rate=1.0)], blocks=[5]))
    with pytest.raises(ValueError, match="replay_batch .* cannot exceed"):
        OnlineAdapter(learner, replay=4, replay_batch=8)
    with pytest.raises(ValueError, match="idle_updates=False needs a detector"):
        OnlineAdapter(learner, idle_updates=False)
    with pytest.raises(TypeError, match="local learner"):
        OnlineAdapter(pn.learning.SLTT(num_steps=2))
    with pytest.raises(ValueError, match="lr must be a positive"):
        OnlineAdapter(learner, lr=-1)


def test_budget_limits_the_queries_of_an_update(phyll_net):
    learner, net, x, y, xt, yt = phyll_net
    method = OnlineAdapter(learner, lr=3e-4, budget=40)  # 2 x 2 queries per sample: 10
    rep = evaluate_under(net, xt, yt, None, horizon=320, eval_every=320, method=method,
                         stream=(x, y))
    assert rep.cost["adapt_queries"] == 10 * 40  # 10 steps of 40 queries
    with pytest.raises(ValueError, match="cannot pay for one sample"):
        evaluate_under(net, xt, yt, None, horizon=32, eval_every=32, stream=(x, y),
                       method=OnlineAdapter(learner, budget=3))


def test_twin_baselines_refit_when_their_twin_goes_stale(phyll_net):
    pytest.importorskip("torch")
    from physnn.learning.baselines import BackpropBaseline, fit_twin
    from physnn.robustness import PhysicsAwareAdapter, TwinRefit

    rng = np.random.default_rng(0)
    x, y = blobs(400, 0)
    xt, yt = blobs(300, 100)
    net = network(D)
    net = pn.PhysicalNetwork([net.blocks[0], pn.Block(GainProjection(16, 24, seed=1),
                                                      pn.Linear(24 + 16, K))])
    twins = [fit_twin(b.physical, n_queries=400, rng=rng, epochs=20, hidden=(32,))
             for b in net.blocks]
    BackpropBaseline("physics_aware", twins=twins, lr=3e-3).fit(net, x, y, epochs=10, rng=rng)
    refit = TwinRefit(n_queries=200, epochs=5, hidden=(32,))
    stale = PhysicsAwareAdapter(twins, lr=3e-4)
    fresh = PhysicsAwareAdapter(twins, lr=3e-4, refit=refit)
    kw = dict(horizon=2000, eval_every=500, stream=(x, y))
    r_stale = evaluate_under(net, xt, yt, SHIFT, method=stale, **kw)
    r_fresh = evaluate_under(net, xt, yt, SHIFT, method=fresh, **kw)
    assert stale.refits == 0 and fresh.refits >= 1
    assert fresh.refit_queries == fresh.refits * 2 * 200  # counted, both blocks
    assert r_fresh.cost["adapt_queries"] == r_stale.cost["adapt_queries"] + fresh.refit_queries
    assert not r_fresh.nonfinite and not r_stale.faults
    silico = PhysicsAwareAdapter(twins, mode="in_silico", lr=3e-3, refit=refit,
                                 train_data=(x, y), retrain_epochs=2)
    r_silico = evaluate_under(net, xt, yt, SHIFT, method=silico, **kw)
    assert silico.refits >= 1 and r_silico.cost["adapt_macs"] > 0


def test_a_deployment_saves_and_loads_with_its_clock(phyll_net, tmp_path):
    learner, net, x, y, xt, yt = phyll_net
    scen = Scenario("later", [DeadChannels(fraction=0.25, start=500),
                              ParameterDrift("gain", schedule=Ramp(0, 2000, to=0.5)),
                              Drift(walk_std=0.001)])
    method = OnlineAdapter(learner, lr=3e-4)
    rep = evaluate_under(net, xt, yt, scen, method=method, stream=(x, y), horizon=640,
                         eval_every=320)
    dep = rep.network
    pn.save(tmp_path / "deployed.physnn", dep, method.learner)
    again, lrn = pn.load(tmp_path / "deployed.physnn")
    for a, b in zip(again.blocks, dep.blocks, strict=True):
        assert a.physical.clock == b.physical.clock == 640
        np.testing.assert_array_equal(a.physical.dead_outputs, b.physical.dead_outputs)
    with probe(dep):
        p1 = dep.readout.scores(dep, xt[:20], rng=np.random.default_rng(0))
    with probe(again):
        p2 = again.readout.scores(again, xt[:20], rng=np.random.default_rng(0))
    np.testing.assert_allclose(p1, p2, rtol=1e-6)
    assert lrn.state is not None


def test_hard_negatives_measure_more_wrong_labels_per_update(phyll_net):
    learner, net, x, y, xt, yt = phyll_net
    method = OnlineAdapter(learner, lr=3e-4, negatives=3)
    rep = evaluate_under(net, xt, yt, None, horizon=64, eval_every=64, method=method,
                         stream=(x, y))
    # 2 updates of 32 samples, each measured with its label and 3 wrong ones, on 2 blocks
    assert rep.cost["adapt_queries"] == 2 * 32 * (1 + 3) * len(net.blocks)
    assert method.learner.negatives == 3 and learner.negatives == 1  # a private copy
    assert rep.worst_accuracy >= rep.accuracy_before - 0.01
    with pytest.raises(ValueError, match="goodness learners"):
        OnlineAdapter(_readout(), negatives=2)
    with pytest.raises(ValueError, match="negatives must be an int >= 1"):
        OnlineAdapter(learner, negatives=0)
    with pytest.raises(ValueError, match=f"negatives must be <= num_classes - 1 = {K - 1}"):
        evaluate_under(net, xt, yt, None, horizon=32, eval_every=32, stream=(x, y),
                       method=OnlineAdapter(learner, negatives=K))


def test_alarm_updates_add_replayed_updates_only_during_an_alarm(phyll_net):
    learner, net, x, y, xt, yt = phyll_net
    ref = float(np.mean(net.predict(x) != y))
    reps, methods = {}, {}
    for n in (1, 8):
        methods[n] = OnlineAdapter(learner, lr=3e-4, replay=512, replay_batch=32,
                                   idle_updates=False, alarm_updates=n,
                                   detector=ChangeDetector(reference=ref, rebase=False))
        reps[n] = evaluate_under(net, xt, yt, SHIFT, horizon=3072, eval_every=256,
                                 method=methods[n], stream=(x, y))  # batches of 32
    per_sample = (1 + learner.negatives) * len(net.blocks)
    for n, m in methods.items():
        # no query before the shift; then n updates of 32 served + 32 replayed per alarm batch
        assert m.detector.alarms >= 1 and m.updates >= 1
        assert reps[n].adapt_queries[reps[n].queries <= 1000].max() == 0
        assert reps[n].cost["adapt_queries"] == m.updates * n * 64 * per_sample
    # the burst relearns faster than one update per served batch, and recovers
    after = reps[1].queries > 1000
    assert reps[8].accuracy[after][1] > reps[1].accuracy[after][1]
    assert_robust(reps[8], recover_within=2000)
    assert reps[8].final_accuracy >= reps[8].accuracy_before - 0.01
    with pytest.raises(ValueError, match="alarm_updates > 1 needs a detector"):
        OnlineAdapter(learner, replay=64, alarm_updates=2)
    with pytest.raises(ValueError, match="alarm_updates > 1 needs a detector"):
        OnlineAdapter(learner, detector=ChangeDetector(), alarm_updates=2)
    with pytest.raises(ValueError, match="alarm_updates must be an int >= 1"):
        OnlineAdapter(learner, alarm_updates=0)


def test_average_serves_a_running_mean_of_the_learners_weights(phyll_net):
    learner, net, x, y, xt, yt = phyll_net
    rng = np.random.default_rng(3)
    avg, plain = deploy(net), deploy(net)
    m_avg = OnlineAdapter(learner, lr=3e-3, average=0.75)
    m_plain = OnlineAdapter(learner, lr=3e-3)
    m_avg.start(avg, rng)
    m_plain.start(plain, rng)
    served = [p.weight.copy() for p in avg.get_params()]
    for step in range(3):
        m_avg.adapt(avg, x[32 * step:32 * step + 32], y[32 * step:32 * step + 32], None,
                    np.random.default_rng(step))
        m_plain.adapt(plain, x[32 * step:32 * step + 32], y[32 * step:32 * step + 32], None,
                      np.random.default_rng(step))
        fast = [p.weight for p in m_avg._fast[0]]
        # the learner's own weights follow the plain adapter's exactly ...
        for f, p in zip(fast, plain.get_params(), strict=True):
            np.testing.assert_array_equal(f, p.weight)
        # ... and the network serves their running mean
        served = [0.75 * s + 0.25 * f for s, f in zip(served, fast, strict=True)]
        for s, p in zip(served, avg.get_params(), strict=True):
            np.testing.assert_allclose(p.weight, s, rtol=1e-5, atol=1e-7)
    assert not np.array_equal(avg.get_params()[0].weight, plain.get_params()[0].weight)
    for bad in (1.0, -0.1, True, "0.9"):
        with pytest.raises(ValueError, match="average must be a number in"):
            OnlineAdapter(learner, average=bad)
