"""Spiking substrate: LIF dynamics against a NumPy loop, mismatch, noise, nonlinearity."""

from __future__ import annotations

import numpy as np
import pytest

from hardware_models.spiking_substrate import SpikingParams, SpikingSubstrate


def _oracle(layer, x):
    """Plain NumPy LIF loop (snntorch convention, subtractive reset), noise-free."""
    cur = layer.currents(x).astype(np.float64)
    thr = layer.threshold.astype(np.float64) * layer.params.threshold_scale
    beta = layer.beta.astype(np.float64)
    u = np.zeros_like(cur)
    s = np.zeros_like(cur)
    counts = np.zeros_like(cur)
    for _ in range(layer.steps):
        inp = cur + (s @ layer.w_rec if layer.recurrent else 0.0)
        u = beta * u + inp - s * thr
        s = (u > thr).astype(np.float64)
        counts += s
    return counts


@pytest.mark.parametrize("recurrent", [False, True])
def test_counts_match_numpy_lif(recurrent):
    layer = SpikingSubstrate(12, 60, steps=40, recurrent=recurrent,
                             params=SpikingParams(noise=0.0), seed=2)
    x = np.random.default_rng(0).random((16, 12)).astype(np.float32)
    counts = layer(x)
    assert counts.shape == (16, 60) and counts.dtype == np.float32
    expect = _oracle(layer, x)
    # float32 kernel vs float64 loop: allow a spike's difference for rare threshold ties
    assert np.abs(counts - expect).max() <= 1
    assert np.mean(counts == expect) > 0.99
    assert 0 < counts.mean() < 40


def test_mismatch_statistics():
    layer = SpikingSubstrate(4, 4000, mismatch=0.1, beta=0.9, threshold=1.0, seed=0)
    assert abs(layer.threshold.mean() - 1.0) < 0.01
    assert abs(layer.threshold.std() - 0.1) < 0.01
    tau = -1.0 / np.log(layer.beta.astype(np.float64))
    assert abs(tau.std() / tau.mean() - 0.1) < 0.01
    uniform = SpikingSubstrate(4, 50, mismatch=0.0, seed=0)
    assert np.all(uniform.threshold == 1.0) and np.allclose(uniform.beta, 0.9)


def test_determinism_and_noise():
    x = np.random.default_rng(1).random((8, 10))
    a, b = SpikingSubstrate(10, 50, seed=5), SpikingSubstrate(10, 50, seed=5)
    np.testing.assert_array_equal(a(x), b(x))
    assert not np.array_equal(a(x), SpikingSubstrate(10, 50, seed=6)(x))
    assert not np.array_equal(a(x), a(x))  # current noise: repeated queries differ
    quiet = SpikingSubstrate(10, 50, params=SpikingParams(noise=0.0), seed=5)
    np.testing.assert_array_equal(quiet(x), quiet(x))


def test_superposition_fails():
    layer = SpikingSubstrate(20, 100, params=SpikingParams(noise=0.0), seed=0)
    rng = np.random.default_rng(2)
    a, b = 0.5 * rng.random((30, 20)), 0.5 * rng.random((30, 20))
    zero = np.zeros_like(a)
    lhs = layer(a + b) - layer(zero)
    rhs = layer(a) + layer(b) - 2 * layer(zero)
    assert np.linalg.norm(lhs - rhs) / np.linalg.norm(lhs) > 0.2


def test_threshold_drift_parameter():
    layer = SpikingSubstrate(10, 80, params=SpikingParams(noise=0.0), seed=0)
    x = np.random.default_rng(3).random((10, 10))
    base = layer(x).sum()
    layer.set_params(threshold_scale=1.5)
    assert layer(x).sum() < 0.8 * base
    with pytest.raises(ValueError, match="threshold_scale"):
        layer.set_params(threshold_scale=0.0)


def test_bad_arguments():
    with pytest.raises(ValueError, match="n_neurons"):
        SpikingSubstrate(4, 0)
    with pytest.raises(ValueError, match="beta"):
        SpikingSubstrate(4, 4, beta=1.0)
    with pytest.raises(ValueError, match="mismatch"):
        SpikingSubstrate(4, 4, mismatch=-0.1)
    with pytest.raises(ValueError, match=r"x must have shape \(batch, 4\)"):
        SpikingSubstrate(4, 4)(np.zeros((2, 3)))
