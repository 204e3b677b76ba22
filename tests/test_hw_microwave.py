"""Microwave metasurface cavity (PhysFad coupled dipoles): reciprocity, solver, nonlinearity."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special

from hardware_models.microwave import MicrowaveCavity, MicrowaveParams


@pytest.fixture(scope="module")
def cavity():
    return MicrowaveCavity(in_features=20, n_elements=40, seed=0)


def test_shapes_and_determinism(cavity):
    x = np.random.default_rng(0).random((6, 20))
    y = cavity(x)
    assert y.shape == (6, 20) and y.dtype == np.float32 and (y > 0).all()
    np.testing.assert_array_equal(y, MicrowaveCavity(seed=0)(x))
    assert not np.allclose(y, MicrowaveCavity(seed=1)(x))
    small = MicrowaveCavity(in_features=4, n_elements=12, frequencies=[0.95, 1.0, 1.05])
    assert small(np.zeros((2, 4))).shape == (2, 3) and small.bits == 3


def test_reciprocity_s21_equals_s12(cavity):
    states = np.random.default_rng(1).integers(0, 2, (5, 40))
    for method in ("schur", "dense"):
        h = cavity.transfer(states[:2] if method == "dense" else states, method=method)
        np.testing.assert_allclose(h[..., 1, 0], h[..., 0, 1], rtol=1e-9, atol=0)
    # reciprocity is not automatic: swapping the antennas' roles without symmetry would break it
    assert np.abs(h[..., 1, 0]).min() > 1e-3


def test_schur_solve_matches_dense_inverse(cavity):
    states = np.random.default_rng(2).integers(0, 2, (3, 40))
    np.testing.assert_allclose(cavity.transfer(states), cavity.transfer(states, method="dense"),
                               rtol=1e-8, atol=1e-12)


def test_multiple_scattering_makes_it_nonlinear(cavity):
    rng = np.random.default_rng(3)
    a, b = 0.5 * rng.random((40, 20)), 0.5 * rng.random((40, 20))
    zero = np.zeros_like(a)
    lhs = cavity(a + b) - cavity(zero)
    rhs = cavity(a) + cavity(b) - 2 * cavity(zero)
    assert np.linalg.norm(lhs - rhs) / np.linalg.norm(lhs) > 0.3
    # the complex field itself is nonlinear in the element states (not only through |.|)
    s = np.zeros((4, 40), dtype=int)
    s[1, :10] = s[3, :10] = 1
    s[2, 20:30] = s[3, 20:30] = 1
    h = cavity.transfer(s)[..., 1, 0]
    excess = h[3] - h[1] - h[2] + h[0]
    assert np.linalg.norm(excess) > 0.1 * np.linalg.norm(h[3] - h[0])


def test_two_bit_quantisation(cavity):
    x = np.zeros((1, 20))
    x[0, :4] = [0.0, 0.3, 0.6, 1.0]
    s = cavity.states(x)
    assert s.shape == (1, 40)
    np.testing.assert_array_equal(s[0, :8], [0, 0, 0, 1, 1, 0, 1, 1])
    assert s[0, 8:].sum() == 0


def test_parameters_and_noise():
    cav = MicrowaveCavity(frequencies=[0.93, 0.97, 1.0, 1.04], seed=0)
    x = np.random.default_rng(4).random((1, 20))
    clean = cav(x)[0]
    cav.set_params(detuning=0.01)
    assert np.abs(cav(x)[0] - clean).mean() > 0.01
    cav.set_params(detuning=0.0, noise=0.01)
    h = cav.transfer(cav.states(x))[0, :, 1, 0]
    ys = cav(np.repeat(x, 1500, axis=0), rng=np.random.default_rng(0))
    # |h + n| with n circular complex Gaussian of total variance noise^2 is Rician
    # (mean sigma sqrt(pi/2) L_1/2(-nu^2 / 2 sigma^2), variance 2 sigma^2 + nu^2 - mean^2)
    sigma, nu = 0.01 / np.sqrt(2), np.abs(h)
    z = -(nu**2) / (2 * sigma**2)
    laguerre = (1 - z) * special.i0e(-z / 2) - z * special.i1e(-z / 2)
    mean = sigma * np.sqrt(np.pi / 2) * laguerre
    np.testing.assert_allclose(ys.mean(0), mean, rtol=0.005)
    np.testing.assert_allclose(ys.std(0), np.sqrt(2 * sigma**2 + nu**2 - mean**2), rtol=0.1)
    with pytest.raises(ValueError, match="absorption"):
        cav.set_params(absorption=-1.0)
    cav.set_params(noise=0.0, absorption=500.0)
    assert cav(x)[0].mean() < clean.mean()  # absorption damps the reverberant build-up
    assert isinstance(cav.params, MicrowaveParams)


def test_bad_arguments(cavity):
    with pytest.raises(ValueError, match="multiple of in_features"):
        MicrowaveCavity(in_features=20, n_elements=30)
    with pytest.raises(ValueError, match="frequencies"):
        MicrowaveCavity(frequencies=[1.0, -1.0])
    with pytest.raises(ValueError, match=r"states must be 0/1 of shape \(batch, 40\)"):
        cavity.transfer(np.full((1, 40), 2))
    with pytest.raises(ValueError, match="method"):
        cavity.transfer(np.zeros((1, 40), int), method="lu")
    with pytest.raises(ValueError, match=r"x must have shape \(batch, 20\)"):
        cavity(np.zeros((1, 40)))
