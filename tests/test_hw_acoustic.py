"""Acoustic cavity fitted to real measurements: held-out fit, nonlinearity, gradient check."""

from __future__ import annotations

import numpy as np
import pytest

from hardware_models import acoustic
from hardware_models._mlp import MLP, mse_and_grad
from hardware_models.acoustic import AcousticCavity, load_acoustic_measurements


@pytest.fixture(scope="module")
def folder(data_dir):
    path = data_dir / "phyll_acoustic"
    if not path.is_dir():
        pytest.skip(f"{path} not found")
    return path


@pytest.fixture(scope="module")
def cavity(folder):
    return AcousticCavity.from_measurements(folder, seed=0)


def test_held_out_fit_beats_linear(cavity):
    fit = cavity.fit
    assert fit.r2_test >= 0.98
    assert fit.r2_test > fit.r2_test_linear + 0.02
    assert 0.94 < fit.r2_test_linear < 0.97  # the affine baseline of the data README


def test_layer_reproduces_held_out_rows(cavity, folder):
    x, y = load_acoustic_measurements(folder)
    pred = cavity(x[9300:])
    assert acoustic.variance_weighted_r2(pred, y[9300:]) == pytest.approx(cavity.fit.r2_test,
                                                                          abs=1e-5)
    assert pred.min() >= 0.0
    assert cavity.queries == 700


def test_superposition_fails(cavity):
    rng = np.random.default_rng(0)
    a, b = 0.5 * rng.random((50, 20)), 0.5 * rng.random((50, 20))
    zero = np.zeros((50, 20))
    lhs = cavity(a + b) - cavity(zero)
    rhs = cavity(a) + cavity(b) - 2 * cavity(zero)
    assert np.linalg.norm(lhs - rhs) / np.linalg.norm(lhs) > 0.1


def test_deterministic_given_seed(folder):
    acoustic._CACHE.clear()
    x = np.random.default_rng(1).random((8, 20))
    a = AcousticCavity.from_measurements(folder, seed=3, epochs=3)(x)
    acoustic._CACHE.clear()
    b = AcousticCavity.from_measurements(folder, seed=3, epochs=3)(x)
    c = AcousticCavity.from_measurements(folder, seed=4, epochs=3)(x)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_parameters_noise_and_gains(cavity):
    x = np.tile(np.random.default_rng(2).random((1, 20)), (3000, 1))
    clean = cavity(x[:1])[0]
    cavity.set_params(noise=1.0)
    try:
        y = cavity(x, rng=np.random.default_rng(0))
        np.testing.assert_allclose(y.std(0), cavity.residual_std, rtol=0.1)
        cavity.set_params(noise=0.0, output_gain=2.0)
        np.testing.assert_allclose(cavity(x[:1])[0], 2 * clean, rtol=1e-6)
        cavity.set_params(output_gain=1.0, input_gain=0.0)
        np.testing.assert_allclose(cavity(x[:1]), cavity(np.zeros((1, 20))))
        with pytest.raises(ValueError, match="input_gain"):
            cavity.set_params(input_gain=-1.0)
    finally:
        cavity.set_params(noise=0.0, output_gain=1.0, input_gain=1.0)


def test_missing_data_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="x_data.csv"):
        AcousticCavity.from_measurements(tmp_path)
    with pytest.raises(ValueError, match="hidden"):
        AcousticCavity.from_measurements(tmp_path, hidden=())


def test_mlp_gradient_matches_finite_differences():
    rng = np.random.default_rng(0)
    model = MLP.init([5, 7, 6, 3], rng)
    model.params = [p.astype(np.float64) for p in model.params]
    x, t = rng.standard_normal((11, 5)), rng.standard_normal((11, 3))
    _, grads = mse_and_grad(model, x, t)
    h = 1e-6
    for p, g in zip(model.params, grads, strict=True):
        for idx in list(np.ndindex(p.shape))[:: max(p.size // 12, 1)]:
            old = p[idx]
            p[idx] = old + h
            up, _ = mse_and_grad(model, x, t)
            p[idx] = old - h
            down, _ = mse_and_grad(model, x, t)
            p[idx] = old
            assert g[idx] == pytest.approx((up - down) / (2 * h), rel=1e-5, abs=1e-9)


def test_physics_cavity_shapes_and_determinism():
    from hardware_models.acoustic import acoustic_cavity_from_physics

    layer = acoustic_cavity_from_physics(20, seed=0, n_steps=300)
    assert (layer.in_features, layer.out_features) == (20, 20)
    x = np.random.default_rng(0).random((3, 20))
    y = layer(x)
    assert y.shape == (3, 20) and (y >= 0).all() and y.max() > 0
    np.testing.assert_array_equal(y, acoustic_cavity_from_physics(20, seed=0, n_steps=300)(x))
    assert not np.allclose(y, acoustic_cavity_from_physics(20, seed=1, n_steps=300)(x))


@pytest.mark.parametrize("n_nonlinear", [0, 4])
def test_physics_cavity_nonlinear_scatterers_break_superposition(n_nonlinear):
    from hardware_models.acoustic import acoustic_cavity_from_physics

    layer = acoustic_cavity_from_physics(20, n_nonlinear=n_nonlinear, seed=0, n_steps=400)
    rng = np.random.default_rng(1)
    a, b = 0.5 * rng.random((1, 20)), 0.5 * rng.random((1, 20))
    sig = layer.probe_signals(np.r_[a, b, a + b]).astype(np.float64)
    err = np.abs(sig[:, 2] - sig[:, 0] - sig[:, 1]).max() / np.abs(sig[:, 2]).max()
    if n_nonlinear:
        assert err > 0.05  # the field itself is nonlinear in the drive
    else:
        assert err < 1e-4
    # the intensity readout is nonlinear in any case
    y = layer(np.r_[a, b, a + b])
    assert np.linalg.norm(y[2] - y[0] - y[1]) > 0.2 * np.linalg.norm(y[2])


def test_physics_cavity_reverberates():
    from hardware_models.acoustic import acoustic_cavity_from_physics

    layer = acoustic_cavity_from_physics(20, seed=0, n_steps=400)
    y = layer(np.full((1, 20), 0.5)).reshape(10, 2)  # (microphone, window)
    # the drive stops at mid-run; rigid walls keep the sound ringing in the second window
    assert (y[:, 0] > 0).all()
    assert (y[:, 1] > 0.1 * y[:, 0]).all()
