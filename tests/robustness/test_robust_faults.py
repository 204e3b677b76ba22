"""Injected faults: a physical layer that raises, hangs, returns NaN or the wrong shape is
reported with its name and corrupts neither parameters, nor learner state, nor checkpoints;
BPTT / SLTT commit their updates atomically."""

from __future__ import annotations

import copy
import threading
import time

import numpy as np
import pytest
from robust_toys import D, GainProjection, K, blobs

import physnn as pn
from physnn.perturb import Drift, hold
from physnn.physical import CallableLayer, PhysicalQueryError
from physnn.robustness import OnlineAdapter, Scenario, deploy, evaluate_under
from physnn.snn import Dense, SpikingNetwork


class Instrument:
    """A driver that answers like a fixed projection, except on the calls listed in
    ``faults`` (call index -> "raise", "hang", "nan" or "shape")."""

    def __init__(self) -> None:
        self.layer = GainProjection(16, 24, seed=5)
        self.calls = 0
        self.faults: dict[int, str] = {}
        self.release = threading.Event()

    def __call__(self, x):
        self.calls += 1
        mode = self.faults.get(self.calls)
        y = self.layer._forward(x, None)
        if mode == "raise":
            raise OSError("GPIB bus error")
        if mode == "hang":
            self.release.wait(10.0)
        if mode == "nan":
            y = y.copy()
            y[0, 3] = np.nan
        if mode == "shape":
            y = y[:, :-1]
        return y


def _network(driver, learner):
    width = learner.input_width(D, K)
    return pn.PhysicalNetwork([
        pn.Block(GainProjection(width, 24, seed=0), pn.Linear(24 + width, 16)),
        pn.Block(CallableLayer(driver, 16, 24, name="scope", timeout=0.25),
                 pn.Linear(24 + 16, 16), encode=pn.nets.abs_max_scale),
    ])


LEARNERS = {
    "phyll": lambda: pn.learning.PhyLL(alpha=4.0, inner_steps=3, optimizer=pn.optim.Adam(3e-3)),
    "readout": lambda: pn.learning.LocalReadout(inner_steps=3, optimizer=pn.optim.Adam(3e-3)),
}
MESSAGES = {"raise": "GPIB bus error", "hang": "no answer within timeout=0.25 s",
            "nan": "NaN or infinite", "shape": "returned shape"}


@pytest.fixture
def trained():
    driver = Instrument()
    learner = LEARNERS["phyll"]()
    x, y = blobs(200, 0)
    net = _network(driver, learner)
    learner.fit(net, x, y, epochs=3, batch_size=32, rng=np.random.default_rng(0),
                progress=False)
    return driver, learner, net, x, y


@pytest.mark.parametrize("mode", ["raise", "hang", "nan", "shape"])
def test_fault_is_reported_with_the_layers_name_and_corrupts_nothing(trained, mode, tmp_path):
    driver, learner, net, x, y = trained
    xt, yt = blobs(100, 50)
    ck = tmp_path / "deployed.physnn"
    first = driver.calls
    # serving, adapting and probing each call the instrument once per step: fail a few
    driver.faults = {first + k: mode for k in (2, 4, 9)}
    scen = Scenario("drift", [Drift(walk_std=1e-3)])
    try:
        rep = evaluate_under(net, xt, yt, scen, method=OnlineAdapter(learner, lr=3e-4),
                             stream=(x, y), horizon=192, eval_every=64, checkpoint=ck,
                             checkpoint_every=1)
    finally:
        driver.release.set()
    assert len(rep.faults) == 3
    for f in rep.faults:
        assert f.layer == "scope" and f.error == "PhysicalLayerError"
        assert "'scope'" in f.message and MESSAGES[mode] in f.message
    assert {f.stage for f in rep.faults} <= {"serve", "adapt", "probe"}
    assert not rep.nonfinite
    dep = rep.network
    assert all(np.all(np.isfinite(p.weight)) for p in dep.get_params())
    # the checkpoint holds the last good step: loadable, finite, the deployed parameters
    loaded, lrn = pn.load(ck, drivers={"scope": driver})
    for a, b in zip(loaded.get_params(), dep.get_params(), strict=True):
        np.testing.assert_array_equal(a.weight, b.weight)
    assert lrn.state is not None and isinstance(lrn, pn.learning.PhyLL)
    assert [p.name for p in tmp_path.iterdir()] == ["deployed.physnn"]  # nothing half-written


@pytest.mark.parametrize("name", ["phyll", "readout"])
@pytest.mark.parametrize("mode", ["raise", "nan", "shape"])
def test_a_failed_update_leaves_network_and_learner_untouched(name, mode):
    driver = Instrument()
    learner = LEARNERS[name]()
    x, y = blobs(128, 1)
    net = _network(driver, learner)
    learner.fit(net, x, y, epochs=1, batch_size=32, rng=np.random.default_rng(0),
                progress=False)
    rng = np.random.default_rng(1)
    dep = deploy(net)
    adapter = OnlineAdapter(learner, lr=1e-3, replay=64, replay_batch=16)
    adapter.start(dep, rng)
    with hold(dep):
        adapter.adapt(dep, x[:32], y[:32], None, rng)  # one good update
    params, readout = copy.deepcopy(dep.get_params()), dep.readout
    state, macs, buf = adapter.learner.state, adapter.learner.train_macs, adapter._buf_x
    driver.faults = {driver.calls + 1: mode}
    with pytest.raises(pn.PhysicalLayerError, match="'scope'") as err, hold(dep):
        adapter.adapt(dep, x[32:64], y[32:64], None, rng)
    assert err.value.layer == "scope"
    for a, b in zip(dep.get_params(), params, strict=True):
        np.testing.assert_array_equal(a.weight, b.weight)
        np.testing.assert_array_equal(a.bias, b.bias)
    assert dep.readout is readout and adapter.learner.state is state
    assert adapter.learner.train_macs == macs and adapter._buf_x is buf
    with hold(dep):
        adapter.adapt(dep, x[32:64], y[32:64], None, rng)  # and it carries on
    assert adapter.updates == 2


def test_callable_layer_timeout():
    release = threading.Event()
    calls = []

    def slow(x):
        calls.append(1)
        if len(calls) == 1:
            release.wait(10.0)
        return x * 2

    layer = CallableLayer(slow, 3, 3, name="scope", timeout=0.2)
    t0 = time.perf_counter()
    with pytest.raises(PhysicalQueryError, match="'scope' failed .* TimeoutError: no answer "
                                                 "within timeout=0.2 s"):
        layer(np.ones((2, 3)))
    assert time.perf_counter() - t0 < 5.0  # did not wait for the hung call
    assert layer.queries == 0
    np.testing.assert_array_equal(layer(np.ones((2, 3))), 2.0)  # the next call is fine
    release.set()
    retried = CallableLayer(_HangOnce(), 3, 3, name="scope", timeout=0.2, retries=1)
    np.testing.assert_array_equal(retried(np.ones((1, 3))), 1.0)
    for bad in (0, -1.0, float("nan"), "1", True):
        with pytest.raises(ValueError, match="timeout must be a positive number"):
            CallableLayer(slow, 3, 3, timeout=bad)


class _HangOnce:
    def __init__(self):
        self.n = 0
        self.release = threading.Event()

    def __call__(self, x):
        self.n += 1
        if self.n == 1:
            self.release.wait(1.0)
        return x


def test_perturbed_name_is_the_wrapped_layers():
    p = pn.Perturbed(CallableLayer(np.tanh, 2, 2, name="scope"), Drift(rate=0.1))
    assert p.name == "scope"
    assert pn.Perturbed(GainProjection(2, 2), Drift(rate=0.1)).name == "GainProjection"


# -- BPTT / SLTT: atomic updates ------------------------------------------------------------


class _Interrupting(pn.optim.Adam):
    """Adam that raises on its ``fail_at``-th step."""

    def __init__(self, exc=KeyboardInterrupt):
        super().__init__(1e-2)
        self.fail_at, self.exc, self.n = None, exc, 0

    def step(self, params, grads, state):
        self.n += 1
        if self.n == self.fail_at:
            raise self.exc("interrupted inside the update loop")
        return super().step(params, grads, state)


def _snn():
    return SpikingNetwork([Dense(6, 12), Dense(12, 3)], beta=0.5, seed=1)


@pytest.mark.parametrize("make", [
    lambda opt: pn.learning.BPTT(num_steps=4, optimizer=opt),
    lambda opt: pn.learning.SLTT(num_steps=4, optimizer=opt),
    lambda opt: pn.learning.SLTT(num_steps=4, optimizer=opt, online=True),
], ids=["bptt", "sltt", "sltt-online"])
@pytest.mark.parametrize("exc", [KeyboardInterrupt, FloatingPointError])
def test_spiking_learners_commit_atomically(make, exc):
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (16, 6)).astype(np.float32)
    y = rng.integers(0, 3, 16)
    net, ref_net = _snn(), _snn()
    opt = _Interrupting(exc=exc)
    learner, ref = make(opt), make(pn.optim.Adam(1e-2))
    learner.update(net, x, y, rng=np.random.default_rng(1))
    ref.update(ref_net, x, y, rng=np.random.default_rng(1))
    opt.fail_at = opt.n + 2  # the next batch's 2nd step: layer 1 stepped, layer 2 not yet
    before = [(p.weight.copy(), p.bias.copy()) for p in net.params]
    states = list(learner._opt_states)
    params_list = net.params
    with pytest.raises(exc, match="interrupted"):
        learner.update(net, x, y, rng=np.random.default_rng(2))
    assert net.params is params_list  # the same list, with every layer as before
    for (w, b), p in zip(before, net.params, strict=True):
        np.testing.assert_array_equal(p.weight, w)
        np.testing.assert_array_equal(p.bias, b)
    assert all(a is b for a, b in zip(learner._opt_states, states, strict=True))
    # the next update is the one the failed call would have made
    learner.update(net, x, y, rng=np.random.default_rng(2))
    ref.update(ref_net, x, y, rng=np.random.default_rng(2))
    for p, q in zip(net.params, ref_net.params, strict=True):
        np.testing.assert_array_equal(p.weight, q.weight)
