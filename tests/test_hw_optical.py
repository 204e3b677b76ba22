"""Optical speckle layer: shapes, determinism, speckle statistics, camera, nonlinearity."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from hardware_models.optical import Camera, OpticalSpeckle


def _x(batch, n, seed=0):
    return np.random.default_rng(seed).random((batch, n)).astype(np.float32)


def test_shapes_and_determinism():
    a = OpticalSpeckle(in_shape=(8, 8), camera_shape=(12, 12), pool=2, seed=3)
    b = OpticalSpeckle(in_shape=(8, 8), camera_shape=(12, 12), pool=2, seed=3)
    c = OpticalSpeckle(in_shape=(8, 8), camera_shape=(12, 12), pool=2, seed=4)
    assert (a.in_features, a.out_features) == (64, 36)
    x = _x(5, 64)
    ya, yb, yc = a(x), b(x), c(x)
    assert ya.shape == (5, 36) and ya.dtype == np.float32
    np.testing.assert_array_equal(ya, yb)  # noise included: same seed, same answers
    assert not np.allclose(ya, yc)
    assert not np.array_equal(a(x), ya)  # the camera is noisy from shot to shot
    rng = np.random.default_rng(9)
    np.testing.assert_array_equal(a(x, rng=np.random.default_rng(9)), b(x, rng=rng))


def test_speckle_intensity_is_exponential():
    layer = OpticalSpeckle(in_features=256, out_features=400, camera=None, seed=0)
    intensity = layer(_x(50, 256)).ravel()
    assert abs(intensity.mean() - 1.0) < 0.03
    assert abs(intensity.std() / intensity.mean() - 1.0) < 0.04  # speckle contrast 1
    for t in (1.0, 2.0, 4.0):
        assert abs((intensity > t).mean() - np.exp(-t)) < 0.01
    assert stats.kstest(intensity, "expon").pvalue > 1e-3
    # a pool of 2x2 independent grains is Gamma(4, 1/4): contrast 1/2
    pooled = OpticalSpeckle(in_features=256, camera_shape=(20, 20), pool=2, camera=None, seed=0)
    p = pooled(_x(50, 256)).ravel()
    assert abs(p.std() / p.mean() - 0.5) < 0.03


def test_pooling_averages_camera_blocks():
    full = OpticalSpeckle(in_features=16, camera_shape=(6, 9), camera=None, seed=2)
    pooled = OpticalSpeckle(in_features=16, camera_shape=(6, 9), pool=3, camera=None, seed=2)
    x = _x(3, 16)
    img = full(x).reshape(3, 6, 9)
    expect = img.reshape(3, 2, 3, 3, 3).mean(axis=(2, 4)).reshape(3, 6)
    np.testing.assert_allclose(pooled(x), expect, rtol=1e-5)


@pytest.mark.parametrize("encoding", ["phase", "amplitude"])
def test_superposition_fails(encoding):
    layer = OpticalSpeckle(in_features=64, out_features=64, encoding=encoding, camera=None,
                           seed=1)
    a, b = 0.5 * _x(20, 64, 1), 0.5 * _x(20, 64, 2)
    zero = np.zeros_like(a)
    lhs = layer(a + b) - layer(zero)
    rhs = (layer(a) - layer(zero)) + (layer(b) - layer(zero))
    assert np.linalg.norm(lhs - rhs) / np.linalg.norm(lhs) > 0.2


def test_camera_noise_saturation_and_bits():
    layer = OpticalSpeckle(in_features=32, out_features=50, seed=0,
                           camera=Camera(photons_per_unit=5000.0, read_noise=0.0,
                                         full_well=10000.0, bit_depth=8))
    y = layer(np.tile(_x(1, 32), (400, 1)))
    assert y.min() >= 0.0 and y.max() <= 1.0
    np.testing.assert_allclose(y * 255, np.round(y * 255), atol=1e-4)
    assert (y == 1.0).any()  # bright grains saturate (I > 2 happens for ~13 % of pixels)
    # shot noise: variance of the count equals its mean (Poisson), analogue camera
    ideal = OpticalSpeckle(in_features=32, out_features=50, seed=0, camera=None)
    shot = OpticalSpeckle(in_features=32, out_features=50, seed=0,
                          camera=Camera(photons_per_unit=100.0, read_noise=0.0,
                                        full_well=1e9, bit_depth=None))
    x = np.tile(_x(1, 32), (4000, 1))
    counts = shot(x).astype(np.float64) * 1e9
    mean_expected = ideal(x[:1])[0] * 100.0
    np.testing.assert_allclose(counts.mean(0), mean_expected, rtol=0.05, atol=1.0)
    keep = mean_expected > 20
    np.testing.assert_allclose(counts.var(0)[keep] / mean_expected[keep], 1.0, atol=0.12)


def test_exposure_and_decorrelation_parameters():
    layer = OpticalSpeckle(in_features=128, out_features=500, camera=None, seed=5)
    x = _x(20, 128)
    y0 = layer(x)
    layer.set_params(exposure=2.0)
    np.testing.assert_allclose(layer(x), 2 * y0, rtol=1e-5)
    layer.set_params(exposure=1.0, decorrelation=0.6)
    y1 = layer(x)
    # intensities of two complex Gaussian fields with correlation rho correlate as |rho|^2
    r = np.corrcoef(y0.ravel(), y1.ravel())[0, 1]
    assert abs(r - (1 - 0.6**2)) < 0.04
    with pytest.raises(ValueError, match="decorrelation"):
        layer.set_params(decorrelation=1.5)
    assert layer.params.decorrelation == 0.6


def test_bad_arguments():
    with pytest.raises(ValueError, match="in_features or in_shape"):
        OpticalSpeckle(out_features=3)
    with pytest.raises(ValueError, match="does not match camera_shape"):
        OpticalSpeckle(in_features=4, out_features=10, camera_shape=(4, 4), pool=2)
    with pytest.raises(ValueError, match="pool > 1 needs camera_shape"):
        OpticalSpeckle(in_features=4, out_features=10, pool=2)
    with pytest.raises(ValueError, match="encoding"):
        OpticalSpeckle(in_features=4, out_features=4, encoding="polar")
    with pytest.raises(ValueError, match="bit_depth"):
        Camera(bit_depth=0)
    layer = OpticalSpeckle(in_features=4, out_features=4)
    with pytest.raises(ValueError, match=r"x must have shape \(batch, 4\)"):
        layer(np.ones((2, 5)))
