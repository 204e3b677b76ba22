"""Perturbation wrappers: each does what it says, composes, and replays exactly."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from physnn.perturb import (
    AdditiveNoise,
    DeadChannels,
    Drift,
    MultiplicativeNoise,
    ParameterDrift,
    Perturbed,
    Quantize,
    Shift,
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
    calls = {"n": 0}

    def sometimes(x):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("instrument dropped the batch")
        return x

    p = Perturbed(CallableLayer(sometimes, 3, 3), Drift(walk_std=0.1), seed=0)
    p(np.zeros((4, 3)))
    state = p._states[0].copy()
    with pytest.raises(RuntimeError, match="instrument dropped"):
        p(np.zeros((4, 3)))
    assert p.queries == 4
    np.testing.assert_array_equal(p._states[0], state)


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
