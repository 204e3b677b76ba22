"""Local learners on physical networks: learning, inference, accounting, failures."""

from __future__ import annotations

import numpy as np
import pytest
from phyll_toys import FailingLayer, SaturatingProjection

import physnn
from physnn.layers import Linear
from physnn.learning import (
    ForwardForward,
    LocalReadout,
    PhyLL,
    losses,
    overlay_labels,
)
from physnn.nets import Block, PhysicalLayerError, PhysicalNetwork, abs_max_scale
from physnn.optim import Adam
from physnn.physical import PhysicalLayer

K = 3


def blobs(n_per=20, d=4, seed=0):
    rng = np.random.default_rng(seed)
    centres = np.eye(K, d) * 0.8 + 0.1
    x = np.concatenate([c + 0.05 * rng.standard_normal((n_per, d)) for c in centres])
    y = np.repeat(np.arange(K), n_per)
    return x.clip(0, 1), y


def make_net(learner, d=4, width=12, phys=None, seed=0):
    n0 = learner.input_width(d, K)
    p0 = phys if phys is not None else SaturatingProjection(n0, 16, seed=seed + 1)
    return PhysicalNetwork([
        Block(p0, Linear(16 + n0, width)),
        Block(SaturatingProjection(width, 16, seed=seed + 2), Linear(16 + width, width),
              encode=abs_max_scale),
    ])


LEARNERS = {
    "phyll": lambda: PhyLL(alpha=4.0, inner_steps=5, optimizer=Adam(1e-2)),
    "ff": lambda: ForwardForward(theta=0.5, inner_steps=5, optimizer=Adam(1e-2)),
    "readout": lambda: LocalReadout(inner_steps=5, optimizer=Adam(1e-2)),
}


@pytest.mark.parametrize("name", LEARNERS)
def test_learner_separates_a_tiny_problem(name):
    learner = LEARNERS[name]()
    x, y = blobs()
    net = make_net(learner)
    hist = learner.fit(net, x, y, epochs=30, batch_size=16, rng=np.random.default_rng(0),
                       eval_data=(x, y), progress=False)
    assert learner.evaluate(net, x, y)["accuracy"] == 1.0
    assert hist.loss[-1] < hist.loss[0]
    assert len(hist) == 30 and hist.eval_accuracy[-1] == 1.0


def test_fit_is_reproducible_from_the_rng():
    x, y = blobs()
    outs = []
    for _ in range(2):
        learner = LEARNERS["phyll"]()
        net = make_net(learner)
        learner.fit(net, x, y, epochs=2, batch_size=16, rng=np.random.default_rng(7),
                    progress=False)
        outs.append(net[1].digital.params.weight.copy())
    np.testing.assert_array_equal(*outs)


@pytest.mark.parametrize("name", ["phyll", "ff"])
def test_summed_goodness_inference_equals_brute_force(name):
    learner = LEARNERS[name]()
    x, y = blobs(n_per=5)
    net = make_net(learner)
    learner.fit(net, x, y, epochs=2, batch_size=8, rng=np.random.default_rng(0), progress=False)
    pred = learner.predict(net, x)
    for i in range(len(x)):
        totals = []
        for c in range(K):
            h = np.concatenate([np.zeros(K), x[i]])
            h[c] = np.abs(x[i]).max()
            total = 0.0
            for ell, blk in enumerate(net):
                z = blk.physical.forward(blk.encode(h[None, :]))[0]
                p = blk.digital.params
                yv = p.weight @ np.concatenate([z, h]) + p.bias
                if name == "phyll":
                    xi = net.readout.xi[ell]
                    g = np.abs(yv) @ xi / np.linalg.norm(yv)
                    h = yv
                else:
                    a = np.maximum(yv, 0)
                    g = np.mean(a**2)
                    h = a / (np.linalg.norm(a) + 1e-8)
                total += g
            totals.append(total)
        assert pred[i] == int(np.argmax(totals))


def test_overlay_labels():
    x = np.array([[0.2, -0.5, 0.1], [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(overlay_labels(x, np.array([1, 0]), 2),
                               [[0, 0.5, 0.2, -0.5, 0.1], [1, 0, 0, 0, 0]])
    np.testing.assert_allclose(overlay_labels(x, np.array([0, 1]), 2, mode="replace"),
                               [[0.5, 0, 0.1], [0, 1, 0]])
    with pytest.raises(ValueError, match="mode"):
        overlay_labels(x, np.array([0, 1]), 2, mode="append")


class _Strict(PhysicalLayer):
    """Records every attribute a caller reads; the physics lives in a closure."""

    def __init__(self, n, m):
        object.__setattr__(self, "accessed", set())
        super().__init__()
        self.in_features, self.out_features = n, m
        inner = SaturatingProjection(n, m, seed=3)
        self.__dict__["_physics"] = inner._forward

    def __getattribute__(self, name):
        object.__getattribute__(self, "accessed").add(name)
        return object.__getattribute__(self, name)

    def _forward(self, x, rng):
        return self.__dict__["_physics"](x, rng)


@pytest.mark.parametrize("name", LEARNERS)
def test_learners_only_query_forward(name):
    learner = LEARNERS[name]()
    strict = _Strict(learner.input_width(4, K), 16)
    net = make_net(learner, phys=strict)
    x, y = blobs(n_per=4)
    learner.fit(net, x, y, epochs=1, batch_size=6, rng=np.random.default_rng(0), progress=False)
    learner.evaluate(net, x, y)
    allowed = {"forward", "in_features", "out_features", "queries",  # the protocol
               "_forward", "_queries", "_physics", "accessed", "__dict__"}  # base / test plumbing
    extra = {a for a in strict.accessed if not (a.startswith("__") and a.endswith("__"))}
    assert extra <= allowed, extra - allowed


def test_query_and_mac_accounting():
    x, y = blobs(n_per=10)
    n = len(x)
    for learner, per_sample_train, per_sample_eval in (
            (LEARNERS["phyll"](), 2, K), (LEARNERS["readout"](), 1, 1)):
        net = make_net(learner)
        hist = learner.fit(net, x, y, epochs=2, batch_size=n, rng=np.random.default_rng(0),
                           eval_data=(x, y), progress=False)
        assert hist.queries == [per_sample_train * n * 2, per_sample_train * n * 2 * 2]
        assert hist.macs[1] == 2 * hist.macs[0] > 0
        ev = learner.evaluate(net, x, y)
        assert ev["queries"] == per_sample_eval * n * 2
        assert ev["macs"] == per_sample_eval * n * sum(b.digital.macs(1) for b in net) + (
            0 if per_sample_eval == K else n * 12 * K)


@pytest.mark.parametrize("mode", ["raise", "nan"])
def test_failing_layer_keeps_last_good_parameters(mode):
    learner = LEARNERS["phyll"]()
    x, y = blobs(n_per=4)
    n0 = learner.input_width(4, K)
    bad = FailingLayer(16, 16, ok_queries=2 * 12, mode=mode)
    net = PhysicalNetwork([Block(SaturatingProjection(n0, 16), Linear(16 + n0, 16)),
                           Block(bad, Linear(32, 12))])
    rng = np.random.default_rng(0)
    learner.update(net, x, y, rng=rng)  # 24 queries on the second block: still good
    good = net.get_params()
    good_state = learner.state
    with pytest.raises(PhysicalLayerError, match="disconnected" if mode == "raise" else "NaN"):
        learner.update(net, x, y, rng=rng)
    for a, b in zip(net.get_params(), good, strict=True):
        np.testing.assert_array_equal(a.weight, b.weight)
    assert learner.state is good_state


def test_failure_during_fit_leaves_checkpoint_intact(tmp_path):
    learner = LEARNERS["phyll"]()
    x, y = blobs(n_per=4)  # 12 samples, one batch per epoch, 24 queries per block per epoch
    n0 = learner.input_width(4, K)
    net = PhysicalNetwork([Block(FailingLayer(n0, 16, ok_queries=24 + 10), Linear(16 + n0, 8))])
    ck = tmp_path / "ck.physnn"
    snaps = []
    with pytest.raises(PhysicalLayerError):
        learner.fit(net, x, y, epochs=3, batch_size=12, rng=np.random.default_rng(0),
                    checkpoint=ck, progress=False, callback=lambda r: snaps.append(ck.read_bytes()))
    assert len(snaps) == 1 and ck.read_bytes() == snaps[0]
    after_epoch_1 = net.get_params()
    saved, saved_learner = physnn.load(ck)
    np.testing.assert_array_equal(saved[0].digital.params.weight, after_epoch_1[0].weight)
    assert len(saved.readout.xi) == 1 and isinstance(saved_learner, PhyLL)
    assert [p.name for p in tmp_path.iterdir()] == ["ck.physnn"]  # no temporary left behind


def test_bad_input_is_named():
    learner = LEARNERS["phyll"]()
    x, y = blobs(n_per=4)
    net = make_net(learner)
    with pytest.raises(RuntimeError, match="fit"):
        learner.evaluate(net, x, y)
    with pytest.raises(ValueError, match=r"x must have shape \(n, 4\)"):
        learner.fit(net, x[:, :3], y, epochs=1, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="NaN"):
        learner.fit(net, np.full_like(x, np.nan), y, epochs=1, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="labels"):
        learner.fit(net, x, y.astype(float), epochs=1, rng=np.random.default_rng(0))
    with pytest.raises(TypeError, match="rng"):
        learner.fit(net, x, y, epochs=1, rng=0)
    with pytest.raises(ValueError, match="epochs"):
        learner.fit(net, x, y, epochs=0, rng=np.random.default_rng(0))
    assert net[0].digital.params is None  # nothing was initialised by the failed calls
    with pytest.raises(ValueError, match="alpha"):
        PhyLL(alpha=-1.0)
    with pytest.raises(ValueError, match="inner_steps"):
        PhyLL(inner_steps=0)


def test_network_validation():
    p = SaturatingProjection(4, 8)
    with pytest.raises(ValueError, match="digital.in_features must be 12"):
        Block(p, Linear(8, 3))
    Block(p, Linear(8, 3), skip=False)
    with pytest.raises(ValueError, match=r"blocks\[1\].in_features"):
        PhysicalNetwork([Block(p, Linear(12, 5)), Block(p, Linear(12, 5))])
    with pytest.raises(TypeError, match="PhysicalLayer"):
        Block(lambda x: x, Linear(8, 3))


def test_cosine_goodness_used_is_the_papers():
    learner = LEARNERS["phyll"]()
    x, y = blobs(n_per=3)
    net = make_net(learner)
    learner.fit(net, x, y, epochs=1, rng=np.random.default_rng(0), progress=False)
    for xi in net.readout.xi:
        np.testing.assert_allclose(np.linalg.norm(xi), 1.0, rtol=1e-6)
    yv = np.random.default_rng(1).standard_normal((2, 12)).astype(np.float32)
    np.testing.assert_allclose(learner._goodness(0, yv),
                               losses.cosine_goodness(yv, net.readout.xi[0]))


def test_history_records_and_callback():
    learner = LEARNERS["readout"]()
    x, y = blobs(n_per=4)
    net = make_net(learner)
    seen = []
    hist = learner.fit(net, x, y, epochs=3, batch_size=6, rng=np.random.default_rng(0),
                       progress=False, callback=seen.append)
    assert [r.epoch for r in seen] == [1, 2, 3] and hist.records == tuple(seen)
    d = hist.as_dict()
    assert d["epoch"] == [1, 2, 3] and all(np.isnan(d["eval_accuracy"]))
    assert d["wall_s"] == sorted(d["wall_s"]) and d["queries"][-1] == 3 * len(x) * 2
    with pytest.raises(AttributeError):
        _ = hist.not_a_field


def test_lr_schedule_sets_each_epochs_rate_and_restores_it():
    learner = LEARNERS["phyll"]()
    x, y = blobs(n_per=4)
    net = make_net(learner)
    rates = []
    learner.fit(net, x, y, epochs=4, batch_size=6, rng=np.random.default_rng(0), progress=False,
                lr_schedule="cosine", callback=lambda r: rates.append(learner.optimizer.lr))
    expect = [1e-2 * 0.5 * (1 + np.cos(np.pi * e / 4)) for e in range(4)]
    np.testing.assert_allclose(rates, expect, rtol=1e-12)
    assert learner.optimizer.lr == 1e-2
    rates.clear()
    learner.fit(net, x, y, epochs=2, batch_size=6, rng=np.random.default_rng(0), progress=False,
                lr_schedule=lambda e, n: 0.1 * e,
                callback=lambda r: rates.append(learner.optimizer.lr))
    np.testing.assert_allclose(rates, [1e-3, 2e-3])
    with pytest.raises(ValueError, match="lr_schedule"):
        learner.fit(net, x, y, epochs=1, rng=np.random.default_rng(0), lr_schedule="step")
    with pytest.raises(ValueError, match="lr_schedule gave"):
        learner.fit(net, x, y, epochs=1, rng=np.random.default_rng(0), progress=False,
                    lr_schedule=lambda e, n: 0.0)
    assert learner.optimizer.lr == 1e-2


def test_negative_candidates_are_distinct_wrong_labels():
    learner = PhyLL(negatives=4)
    learner.num_classes = 5
    y = np.random.default_rng(0).integers(0, 5, size=200)
    neg = learner._draw_negatives(y, np.random.default_rng(1))
    assert neg.shape == (4, 200)
    assert (neg != y).all()
    assert all(len(set(neg[:, i])) == 4 for i in range(200))  # all four wrong labels, once each
    with pytest.raises(ValueError, match="negatives"):
        PhyLL(negatives=0)
    with pytest.raises(ValueError, match="negatives must be <= num_classes - 1"):
        PhyLL(negatives=3, num_classes=3)
    x, yb = blobs(n_per=4)
    many = PhyLL(negatives=3)
    net = make_net(many)
    with pytest.raises(ValueError, match="negatives=3 needs at least 4 classes"):
        many.fit(net, x, yb, epochs=1, rng=np.random.default_rng(0), progress=False)
    assert net[0].digital.params is None


@pytest.mark.parametrize("learner", [PhyLL(alpha=4.0, inner_steps=5, optimizer=Adam(1e-2),
                                           negatives=2),
                                     ForwardForward(theta=0.5, inner_steps=5,
                                                    optimizer=Adam(1e-2), negatives=2)],
                         ids=["phyll", "ff"])
def test_hard_negatives_train_each_block_on_its_hardest_candidate(learner):
    """One batch replayed by hand: each block's update is the local-loss
    gradient step on the positive rows and, per sample, the candidate that block scores
    highest; the accounting counts the (1 + m) B rows."""
    x, y = blobs(n_per=6)
    net = make_net(learner)
    rng = np.random.default_rng(3)
    learner._bind(net, K, rng)
    before = net.get_params()
    state = learner.state
    draw = np.random.default_rng(11)
    learner.update(net, x, y, rng=np.random.default_rng(11))
    # replay by hand with the same random stream
    neg = learner._draw_negatives(y, draw)
    h = np.concatenate([overlay_labels(x, y, K)] + [overlay_labels(x, c, K) for c in neg])
    b = len(x)
    for i, blk in enumerate(net.blocks):
        u = blk.measure(h, rng=draw)
        g = learner._goodness(i, blk.digital.forward(u[b:], before[i])).reshape(2, b)
        hardest = u[b + np.argmax(g, axis=0) * b + np.arange(b)]
        p, st = before[i], state.opt_states[i]
        for _ in range(learner.inner_steps):
            _, grads = learner.local_loss(i, blk.digital, p, u[:b], hardest)
            p, st = learner.optimizer.step(p, grads, st)
        np.testing.assert_allclose(net[i].digital.params.weight, p.weight, rtol=1e-6)
        h = learner._next(blk.digital.forward(u, p))
    assert all(blk.physical.queries >= 3 * b for blk in net.blocks)


def test_hard_negatives_learn_a_tiny_problem():
    x, y = blobs()
    learner = PhyLL(alpha=4.0, inner_steps=5, optimizer=Adam(1e-2), negatives=2)
    net = make_net(learner)
    hist = learner.fit(net, x, y, epochs=30, batch_size=16, rng=np.random.default_rng(0),
                       progress=False)
    assert learner.evaluate(net, x, y)["accuracy"] == 1.0
    assert hist.queries[0] == 3 * len(x) * 2  # (1 + m) rows per sample, two blocks
