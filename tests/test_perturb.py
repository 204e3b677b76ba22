"""Perturbation wrappers: each does what it says, composes, and replays exactly."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from physnn.perturb import (
    AdditiveNoise,
    Constant,
    Cyclic,
    DeadChannels,
    Drift,
    MultiplicativeNoise,
    ParameterDrift,
    Perturbed,
    Quantize,
    Ramp,
    RandomWalk,
    Shift,
    Step,
    hold,
    probe,
    same_instant,
)
from physnn.physical import CallableLayer, PhysicalLayer


@dataclass(frozen=True)
class _Params:
    gain: float = 1.0


class _Gain(PhysicalLayer):
    """y = gain * x (+ optional own noise), a transparent system to see perturbations."""

    def __init__(self, n=4, noise=0.0):
        super().__init__()
        self.in_features = self.out_features = n
        self.noise = noise
        self.params = _Params()
        self.seen = []

    def _forward(self, x, rng):
        self.seen.append(float(self.params.gain))
        rng = rng if rng is not None else np.random.default_rng(123)
        return self.params.gain * x + self.noise * rng.standard_normal(x.shape)


def _ones(batch, n=4):
    return np.ones((batch, n), dtype=np.float32)


def test_additive_and_multiplicative_noise_statistics():
    y = Perturbed(_Gain(), AdditiveNoise(0.2), seed=0)(_ones(20000))
    assert abs(y.mean() - 1.0) < 0.005 and abs(y.std() - 0.2) < 0.004
    y = Perturbed(_Gain(), MultiplicativeNoise(0.1), seed=0)(3 * _ones(20000))
    assert abs(y.mean() - 3.0) < 0.006 and abs(y.std() - 0.3) < 0.006
    # input noise passes through the system (gain 2 doubles it)
    layer = _Gain()
    layer.set_params(gain=2.0)
    y = Perturbed(layer, AdditiveNoise(0.1, on="input"), seed=0)(_ones(20000))
    assert abs(y.std() - 0.2) < 0.004


def test_linear_drift_in_query_count():
    p = Perturbed(_Gain(), Drift(rate=0.01), seed=0)
    y1 = p(_ones(5))
    y2 = p(_ones(3))
    np.testing.assert_allclose(np.r_[y1, y2][:, 0], 1 + 0.01 * np.arange(8), rtol=1e-6)
    g = Perturbed(_Gain(), Drift(rate=0.1, mode="gain"), seed=0)(2 * _ones(3))
    np.testing.assert_allclose(g[:, 1], 2 * (1 + 0.1 * np.arange(3)), rtol=1e-6)


def test_random_walk_drift_is_continuous_and_diffusive():
    p = Perturbed(_Gain(), Drift(walk_std=0.01), seed=1)
    y = np.concatenate([p(np.zeros((n, 4))) for n in (100, 1, 37, 500, 362)])  # 1000 queries
    steps = np.diff(y, axis=0)
    assert np.abs(steps).max() < 6 * 0.01  # no jumps, also across batch boundaries
    assert abs(steps.std() - 0.01) < 0.0008
    assert y[0].tolist() == [0.0] * 4  # starts at zero
    # many independent walks: variance grows linearly, Var W(q) = q sigma^2
    many = Perturbed(_Gain(n=2000), Drift(walk_std=0.01), seed=2)(np.zeros((401, 2000)))
    assert abs(many[400].var() / (400 * 1e-4) - 1) < 0.1


def test_shift_at_given_query():
    p = Perturbed(_Gain(), Shift(at_query=7, offset=0.5, gain=2.0), seed=0)
    y = np.r_[p(_ones(5)), p(_ones(5))]
    np.testing.assert_array_equal(y[:7], 1.0)
    np.testing.assert_array_equal(y[7:], 2.5)
    per_channel = Perturbed(_Gain(), Shift(0, offset=[0, 1, 2, 3]), seed=0)(_ones(2))
    np.testing.assert_array_equal(per_channel[1], [1, 2, 3, 4])


def test_dead_channels_exactly_zero():
    layer = _Gain(n=50, noise=0.1)
    p = Perturbed(layer, DeadChannels(fraction=0.2), AdditiveNoise(0.0), seed=3)
    y = p(_ones(10, 50))
    dead = p.dead_outputs
    assert dead.sum() == 10
    assert np.all(y[:, dead] == 0.0) and np.all(y[:, ~dead] != 0.0)
    # the mask is fixed by the seed and kept across queries and resets
    p(_ones(3, 50))
    p.reset()
    np.testing.assert_array_equal(p.dead_outputs, dead)
    assert not np.array_equal(Perturbed(layer, DeadChannels(fraction=0.2), seed=4).dead_outputs,
                              dead)
    y = Perturbed(_Gain(), DeadChannels(channels=[1], on="input"), seed=0)(_ones(2))
    np.testing.assert_array_equal(y, [[1, 0, 1, 1]] * 2)
    with pytest.raises(ValueError, match="out of range"):
        Perturbed(_Gain(), DeadChannels(channels=[9]))


def test_quantize():
    x = np.linspace(-0.2, 1.2, 57, dtype=np.float32).reshape(-1, 1).repeat(4, 1)
    y = Perturbed(_Gain(), Quantize(bits=2), seed=0)(x)
    np.testing.assert_allclose(np.unique(y), [0.0, 1 / 3, 2 / 3, 1.0], rtol=1e-6)
    assert np.abs(y - np.clip(x, 0, 1)).max() <= 1 / 6 + 1e-6
    q_in = Perturbed(_Gain(), Quantize(bits=1, low=-1, high=1, on="input"), seed=0)(x)
    assert set(np.unique(q_in)) == {-1.0, 1.0}


def test_parameter_drift_changes_the_model_and_is_restored():
    layer = _Gain()
    p = Perturbed(layer, ParameterDrift("gain", rate=0.01, at_query=20, shift=1.0), seed=0)
    p(_ones(10))
    p(_ones(10))
    p(_ones(10))
    np.testing.assert_allclose(layer.seen, [1.0, 1.1, 2.2])
    p.reset()
    assert layer.params.gain == 1.0
    with pytest.raises(KeyError, match="valid names are"):
        Perturbed(layer, ParameterDrift("gian"))
    with pytest.raises(TypeError, match="no physical parameters"):
        Perturbed(CallableLayer(np.tanh, 2, 2), ParameterDrift("gain"))


def test_replay_is_identical_and_seed_matters():
    def make(seed):
        return Perturbed(_Gain(noise=0.3), AdditiveNoise(0.1), MultiplicativeNoise(0.05),
                         Drift(rate=1e-3, walk_std=0.01, mode="gain"), DeadChannels(fraction=0.25),
                         ParameterDrift("gain", walk_std=0.001), Quantize(bits=10, low=-3, high=3),
                         seed=seed)

    p = make(7)
    xs = [np.random.default_rng(i).random((n, 4)) for i, n in enumerate((5, 17, 1, 30))]
    first = [p(x) for x in xs]
    p.reset()
    again = [p(x) for x in xs]
    other = make(7)
    fresh = [other(x) for x in xs]
    for a, b, c in zip(first, again, fresh, strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)
    assert p.queries == 53
    assert not np.array_equal(make(8)(xs[0]), first[0])


def test_failure_leaves_state_untouched():
    # changed with the explicit clock: Drift keeps no running state any more (its random walk
    # is a pure function of the seed and the query index); what must not move on a failure
    # is the clock, the query count and the model's parameters
    calls = {"n": 0}

    def sometimes(x):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("instrument dropped the batch")
        return x

    p = Perturbed(CallableLayer(sometimes, 3, 3), Drift(walk_std=0.1), seed=0)
    p(np.zeros((4, 3)))
    with pytest.raises(RuntimeError, match="instrument dropped"):
        p(np.zeros((4, 3)))
    assert p.queries == 4 and p.clock == 4
    after = p(np.zeros((4, 3)))
    fresh = Perturbed(CallableLayer(lambda x: x, 3, 3), Drift(walk_std=0.1), seed=0)
    fresh(np.zeros((4, 3)))
    np.testing.assert_array_equal(after, fresh(np.zeros((4, 3))))  # exact continuation
    # a parameter drift set for the failed batch is undone
    bad = Perturbed(_Failing(), ParameterDrift("gain", shift=1.0, at_query=0), seed=0)
    with pytest.raises(RuntimeError, match="scope broke"):
        bad(_ones(2, 3))
    assert bad.layer.params.gain == 1.0 and bad.clock == 0 and bad.queries == 0


class _Failing(PhysicalLayer):
    def __init__(self):
        super().__init__()
        self.in_features = self.out_features = 3
        self.params = _Params()

    def _forward(self, x, rng):
        raise RuntimeError("scope broke")


def test_bad_arguments():
    with pytest.raises(ValueError, match="std must be finite and >= 0"):
        AdditiveNoise(-1.0)
    with pytest.raises(ValueError, match="on must be 'input' or 'output'"):
        MultiplicativeNoise(0.1, on="middle")
    with pytest.raises(ValueError, match="mode"):
        Drift(mode="twist")
    with pytest.raises(ValueError, match="offset must be a finite"):
        Shift(3, offset=[[1.0]])
    with pytest.raises(ValueError, match="exactly one of"):
        DeadChannels()
    with pytest.raises(ValueError, match="bits"):
        Quantize(bits=0)
    with pytest.raises(ValueError, match="low < high"):
        Quantize(bits=4, low=1, high=0)
    with pytest.raises(TypeError, match="layer must be a PhysicalLayer"):
        Perturbed(np.tanh, AdditiveNoise(0.1))
    with pytest.raises(TypeError, match="Perturbation objects"):
        Perturbed(_Gain(), 0.1)


def test_parameter_drift_on_a_hardware_model():
    from hardware_models.optical import OpticalSpeckle

    layer = OpticalSpeckle(in_features=16, out_features=16, camera=None, seed=0)
    x = np.random.default_rng(0).random((5, 16))
    clean = layer(x)
    p = Perturbed(layer, ParameterDrift("exposure", at_query=5, shift=1.0), seed=0)
    np.testing.assert_allclose(p(x), clean, rtol=1e-6)
    np.testing.assert_allclose(p(x), 2 * clean, rtol=1e-6)
    p.reset()
    assert layer.params.exposure == 1.0


# -- time: windows, schedules, clocks -------------------------------------------------------


def test_windows_limit_every_perturbation_to_its_queries():
    p = Perturbed(_Gain(), Shift(0, offset=1.0, start=3, stop=6),
                  AdditiveNoise(0.5, start=8), DeadChannels(channels=[0], start=2, stop=4),
                  seed=0)
    y = np.r_[p(_ones(4)), p(_ones(5)), p(_ones(3))]  # instants 0..11
    np.testing.assert_array_equal(y[:2], 1.0)
    np.testing.assert_array_equal(y[2, 1:], 1.0)  # dead channel 0 at q=2, 3 only
    np.testing.assert_array_equal(y[2:4, 0], 0.0)
    np.testing.assert_array_equal(y[4:6], 2.0)  # shifted in [3, 6), channel 0 alive again
    np.testing.assert_array_equal(y[6:8], 1.0)
    assert np.all(y[8:] != 1.0)  # noise from q=8 on
    # a windowed drift starts from zero at its start
    d = Perturbed(_Gain(), Drift(rate=0.5, start=2, stop=4), seed=0)(_ones(6))
    np.testing.assert_allclose(d[:, 0], [1, 1, 1, 1.5, 1, 1])


def test_dead_outputs_report_what_holds_now_not_later():
    p = Perturbed(_Gain(n=6), DeadChannels(channels=[1, 4], start=10), seed=0)
    assert not p.dead_outputs.any()  # they die at query 10, not before
    np.testing.assert_array_equal(p.dead_outputs_at(10), [0, 1, 0, 0, 1, 0])
    y = p(_ones(10, 6))
    assert not p.dead_outputs.any() or p.clock == 10
    assert np.all(y != 0)
    np.testing.assert_array_equal(p.dead_outputs, [0, 1, 0, 0, 1, 0])  # clock is 10 now
    assert np.all(p(_ones(2, 6))[:, [1, 4]] == 0)


def test_schedules_values_and_composition():
    q = np.array([0, 5, 10, 15, 20, 30])
    np.testing.assert_allclose(Ramp(10, 20, to=2.0)(q), [0, 0, 0, 1, 2, 2])
    np.testing.assert_allclose(Ramp(10, 20, to=-1.0, initial=1.0)(q), [1, 1, 1, 0, -1, -1])
    np.testing.assert_allclose(Step(15, 3.0)(q), [0, 0, 0, 3, 3, 3])
    np.testing.assert_allclose(Cyclic(2.0, period=20)(q), 2 * np.sin(2 * np.pi * q / 20),
                               atol=1e-12)
    np.testing.assert_allclose((Ramp(10, 20, to=2.0) + Step(15, 3.0) - 1)(q),
                               [-1, -1, -1, 3, 4, 4])
    np.testing.assert_allclose((2 * Step(15, 3.0))(q), [0, 0, 0, 6, 6, 6])
    assert Constant(0.5)(7) == 0.5 and isinstance(Constant(0.5)(7), float)
    assert (Ramp(10, 20, to=2.0) + Step(15, -3.0)).bounds == (-3.0, 2.0)
    assert (Ramp(10, 20, to=2.0) + Cyclic(1.0, 50, start=4)).onset == 4
    assert Constant(1.0).onset is None and Step(5, 0.0).onset is None


def test_random_walk_is_a_function_of_the_query_alone():
    w = RandomWalk(0.1, seed=3)
    seq = w(np.arange(3000))
    assert seq[0] == 0.0
    np.testing.assert_array_equal(w(np.array([2999, 17, 1500])), seq[[2999, 17, 1500]])
    steps = np.diff(seq)
    assert abs(steps.std() - 0.1) < 0.006 and abs(steps.mean()) < 0.01
    assert not np.array_equal(RandomWalk(0.1, seed=4)(np.arange(50)), seq[:50])
    late = RandomWalk(0.1, seed=3, start=1000)(np.arange(2000))
    np.testing.assert_array_equal(late[:1001], 0.0)
    np.testing.assert_allclose(late[1000:], seq[1000:2000] - seq[1000], atol=1e-12)


def test_drift_walk_does_not_depend_on_batching_or_on_the_callers_generator():
    def make():
        return Perturbed(_Gain(), Drift(walk_std=0.01, rate=1e-3), seed=5)

    one = make()(np.zeros((1500, 4)))
    p = make()
    cut = np.concatenate([p(np.zeros((n, 4)), rng=np.random.default_rng(n))
                          for n in (1, 700, 33, 766)])
    np.testing.assert_array_equal(one, cut)


def test_schedules_drive_noise_drift_and_parameters():
    noisy = Perturbed(_Gain(n=2000), AdditiveNoise(Ramp(0, 100, to=0.5)), seed=0)
    y = noisy(np.zeros((101, 2000)))
    assert y[0].std() == 0.0 and abs(y[50].std() - 0.25) < 0.02 and abs(y[100].std() - 0.5) < 0.03
    d = Perturbed(_Gain(), Drift(schedule=Cyclic(1.0, period=4)), seed=0)(_ones(4))
    np.testing.assert_allclose(d[:, 0], [1, 2, 1, 0], atol=1e-6)
    layer = _Gain()
    p = Perturbed(layer, ParameterDrift("gain", schedule=Ramp(0, 20, to=1.0)),
                  ParameterDrift("gain", at_query=10, shift=0.5), seed=0)
    for _ in range(3):
        p(_ones(10))
    np.testing.assert_allclose(layer.seen, [1.0, 2.0, 2.5])  # two drifts of one name add up
    with pytest.raises(ValueError, match="std must stay >= 0"):
        AdditiveNoise(RandomWalk(0.1))
    with pytest.raises(ValueError, match="std must stay >= 0"):
        AdditiveNoise(Ramp(0, 10, to=-0.1))


def test_probe_measures_as_of_a_query_without_moving_the_deployment():
    layer = _Gain()

    def make():
        return Perturbed(layer, Drift(walk_std=0.01, rate=0.001), AdditiveNoise(0.01),
                         ParameterDrift("gain", at_query=50, shift=1.0), seed=2)

    p = make()
    served = p(_ones(40))
    with probe(p):
        now = p(_ones(3))
    with probe(p, at=70):
        later = p(_ones(3))
    assert p.clock == 40 and p.queries == 46 and p.probe_queries == 6
    assert layer.params.gain == 1.0  # the probe at 70 set gain 2 and put it back
    rest = p(_ones(60))
    ref = make()
    np.testing.assert_array_equal(np.r_[served, rest], np.r_[ref(_ones(40)), ref(_ones(60))])
    # the probe sees every row as it is at one instant: the drift of q=40 and q=70
    clean = Perturbed(_Gain(), Drift(walk_std=0.01, rate=0.001),
                      ParameterDrift("gain", at_query=50, shift=1.0), seed=2)
    clean.clock = 40
    at40 = clean(_ones(1))
    clean.clock = 70
    at70 = clean(_ones(1))
    assert at70[0, 0] > 1.9  # the parameter shift of q=50 has happened
    assert np.all(np.abs(now - at40) < 0.05) and np.all(np.abs(later - at70) < 0.05)
    # hold: the same instant semantics, counted as use
    with hold(p):
        p(_ones(5))
    assert p.clock == 100 and p.hold_queries == 5 and p.probe_queries == 6


def test_probe_of_one_network_does_not_touch_another():
    a = Perturbed(_Gain(), Drift(rate=1.0), seed=0)
    b = Perturbed(_Gain(), Drift(rate=1.0), seed=0)
    with probe(a):
        a(_ones(3))
        b(_ones(3))
    assert a.clock == 0 and b.clock == 3


def test_a_nested_probe_keeps_the_enclosing_instant_and_layers():
    """A learner's ``evaluate`` probes its own network: inside ``probe(at=q)`` it still
    measures as of ``q``, and inside ``probe()`` of everything nothing is served."""
    a = Perturbed(_Gain(), Drift(rate=1.0), seed=0)
    b = Perturbed(_Gain(), Drift(rate=1.0), seed=0)
    with probe(a, at=7):
        with probe(a):
            assert a(_ones(1))[0, 0] == 8.0  # 1 + the drift of q=7
        with probe(a, at=2):  # its own instant wins
            assert a(_ones(1))[0, 0] == 3.0
    with probe():
        with probe(a):
            a(_ones(2))
            b(_ones(2))  # still inside the outer probe of every layer
    with hold(a, at=5):
        with probe(b):  # b joins; a stays at instant 5 (now counted as evaluation)
            assert a(_ones(1))[0, 0] == 6.0
            b(_ones(1))
    assert a.clock == 0 and b.clock == 0
    assert a.hold_queries == 0 and a.probe_queries == 5 and b.probe_queries == 3


def test_hypotheses_of_one_sample_share_one_instant():
    p = Perturbed(_Gain(), Drift(rate=1.0), seed=0)
    with same_instant(2):
        y = p(_ones(6))  # 3 hypotheses of 2 samples: rows r -> sample r % 2
    np.testing.assert_array_equal(y[:, 0], [1, 2, 1, 2, 1, 2])
    assert p.clock == 2 and p.queries == 6
    with same_instant(4):
        p(_ones(6))  # not a multiple: every row its own instant
    assert p.clock == 8


def test_clock_can_be_set_and_replays():
    p = Perturbed(_Gain(), Drift(walk_std=0.05), seed=1)
    ref = p(np.zeros((30, 4)))
    p.clock = 20
    np.testing.assert_array_equal(p(np.zeros((10, 4))), ref[20:])
    with pytest.raises(ValueError, match="clock must be >= 0"):
        p.clock = -1


def test_parameters_are_validated_at_construction():
    with pytest.raises(ValueError, match="Shift.gain has 2 values .* 4 channels"):
        Perturbed(_Gain(), Shift(0, gain=[1, 2]))
    Perturbed(_Gain(), Shift(0, gain=[1, 2, 3, 4]))
    with pytest.raises(ValueError, match="at_query must be an integer query index"):
        Shift(at_query=float("nan"))
    with pytest.raises(TypeError, match="at_query must be an integer query index"):
        Shift(at_query="3")
    with pytest.raises(ValueError, match="stop must be > start"):
        AdditiveNoise(0.1, start=5, stop=5)
    with pytest.raises(ValueError, match="start must be >= 0"):
        Drift(start=-1)
    with pytest.raises(TypeError, match="positional argument"):
        AdditiveNoise(0.1, "output", 3)  # start is keyword-only
    with pytest.raises(ValueError, match="at_query must be an integer"):
        ParameterDrift("gain", at_query=2.5)
    with pytest.raises(ValueError, match="std must be finite"):
        MultiplicativeNoise(float("inf"))
    with pytest.raises(ValueError, match="Ramp needs start < stop"):
        Ramp(10, 10, to=1.0)
    with pytest.raises(ValueError, match="period must be > 0"):
        Cyclic(1.0, period=0)
    with pytest.raises(ValueError, match="bits must be an integer"):
        Quantize(bits=2.5)
    with pytest.raises(ValueError, match="seed must be an integer"):
        Perturbed(_Gain(), AdditiveNoise(0.1), seed=float("nan"))
    assert Shift(1e3).at_query == 1000  # an integral float is a query index


def test_onsets_of_perturbations():
    assert Perturbed(_Gain(), AdditiveNoise(0.0), seed=0).onset is None
    assert Perturbed(_Gain(), Shift(50, gain=2.0, start=10), DeadChannels(channels=[0],
                                                                         start=70)).onset == 50
    assert ParameterDrift("gain", schedule=Step(30, 1.0), start=5).onset == 30
    assert AdditiveNoise(Ramp(100, 200, to=0.1)).onset == 100


def test_parameter_drift_sampled_every_n_queries():
    layer = _Gain()
    p = Perturbed(layer, ParameterDrift("gain", schedule=Ramp(0, 100, to=1.0), every=25), seed=0)
    for _ in range(6):
        p(_ones(10))
    np.testing.assert_allclose(layer.seen, [1.0, 1.0, 1.0, 1.25, 1.25, 1.5])
    with pytest.raises(ValueError, match="every must be >= 1"):
        ParameterDrift("gain", every=0)


def test_probe_reaches_nested_wrappers():
    inner = Perturbed(_Gain(), Drift(rate=1.0), seed=0)
    outer = Perturbed(inner, AdditiveNoise(0.0), seed=1)
    outer(_ones(3))
    with probe(outer):
        outer(_ones(2))
    assert inner.clock == outer.clock == 3
