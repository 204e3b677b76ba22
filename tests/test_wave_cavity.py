"""WaveCavity: the physical layer on the wave kernel, and its geometry description."""

from __future__ import annotations

import numpy as np
import pytest

from hardware_models.wave_cavity import CavityGeometry, WaveCavity, WaveCavityParams

SHAPE = (48, 72)


def _geometry(nonlinear=True, **kw):
    return CavityGeometry.example(SHAPE, n_scatterers=5, nonlinear=nonlinear, seed=3, **kw)


def _cavity(nonlinear=True, **kw):
    args = dict(n_steps=300, amplitude=0.3)
    args.update(kw)
    return WaveCavity(_geometry(nonlinear), 4, **args)


def test_forward_shapes_queries_and_determinism():
    cav = _cavity(n_windows=3)
    x = np.random.default_rng(0).uniform(0, 1, (5, 4))
    y = cav(x)
    assert y.shape == (5, 3 * 3) and y.dtype == np.float32
    assert cav.out_features == 9 and cav.queries == 5
    assert np.all(y >= 0) and y.max() > 0  # integrated intensities
    np.testing.assert_array_equal(cav(x), y)
    assert cav.queries == 10
    np.testing.assert_array_equal(cav(np.zeros((2, 4))), 0)


@pytest.mark.parametrize("nonlinear", [False, True])
def test_superposition_of_the_field_fails_only_in_the_nonlinear_cavity(nonlinear):
    cav = _cavity(nonlinear, amplitude=5.0)
    a = np.array([[1.0, 0, 0.5, 0]])
    b = np.array([[0, 1.0, 0, 0.7]])
    sig = cav.probe_signals(np.concatenate([a, b, a + b])).astype(np.float64)
    mismatch = np.abs(sig[:, 2] - sig[:, 0] - sig[:, 1]).max() / np.abs(sig[:, 2]).max()
    if nonlinear:
        assert mismatch > 0.05
    else:
        assert mismatch < 1e-4


def test_nonlinear_material_is_driven_into_its_nonlinear_regime():
    """With the drive of the test above, |u| inside the nonlinear disk exceeds u_sat."""
    from physnn.wave import simulate_wave

    cav = _cavity(True, amplitude=5.0)
    g = cav.geometry
    y0, x0, r = g.nonlinear[0]
    f = cav.forcing(np.array([[1.0, 1.0, 0.5, 0.7]]))
    res = simulate_wave(cav._medium, f, dt=cav.dt, sources=g.sources,
                        probes=[(int(y0), int(x0))])
    assert np.abs(res.probes).max() > g.u_sat


def test_spectrum_readout_finds_the_tone_that_was_played():
    cav = _cavity(False, readout="spectrum", n_steps=600)
    assert cav.out_features == 3 * 4
    y = cav(np.eye(4)).reshape(4, 3, 4)  # (input tone, probe, readout frequency)
    for k in range(4):
        assert np.all(np.argmax(y[k], axis=1) == k)


def test_bands_readout_is_the_band_power_of_each_probe():
    edges = [0.0375, 0.0625, 0.0875, 0.1125, 0.1375]  # one band around each default tone
    cav = _cavity(False, readout="bands", band_edges=edges, n_steps=600, band_steps=500)
    assert cav.out_features == 3 * 4
    y = cav(np.eye(4)).reshape(4, 3, 4)  # (input tone, probe, band)
    for k in range(4):
        assert np.all(np.argmax(y[k], axis=1) == k)
    # oracle: Hann-windowed DFT of the last 500 steps, |U|^2 summed per band, times dt / N
    sig = cav.probe_signals(np.eye(4)).astype(np.float64)[-500:]
    f = np.fft.rfftfreq(500, cav.dt)
    spec = np.abs(np.fft.rfft(sig * np.hanning(500)[:, None, None], axis=0)) ** 2
    bands = zip(edges[:-1], edges[1:], strict=True)
    want = np.stack([spec[(f >= lo) & (f < hi)].sum(0) for lo, hi in bands], -1) * cav.dt / 500
    np.testing.assert_allclose(y, want.astype(np.float32), rtol=1e-5)
    with pytest.raises(ValueError, match="band_edges"):
        _cavity(readout="bands", band_edges=[0.1, 0.05])
    with pytest.raises(ValueError, match="hold no DFT frequency"):
        _cavity(readout="bands", band_edges=[0.1, 0.1001, 0.2], n_steps=100)
    with pytest.raises(ValueError, match="band_steps"):
        _cavity(readout="bands", band_steps=10**6)


def test_waveform_encoding_runs_a_raw_signal():
    t = np.arange(200)
    wave = np.sin(2 * np.pi * 0.07 * t) * np.hanning(200)
    cav = WaveCavity(_geometry(), 200, encoding="waveform", n_steps=300, n_windows=2)
    y = cav(wave[None, :])
    assert y.shape == (1, 6) and np.all(np.isfinite(y)) and y.max() > 0


def test_vowel_recording_through_the_cavity(data_dir):
    with np.load(data_dir / "hillenbrand_vowels_16k.npz") as d:
        audio, offsets = d["audio"], d["offsets"]
    clip = audio[offsets[0]:offsets[1]].astype(np.float64)
    mid = len(clip) // 2
    clip = clip[mid - 250:mid + 250] / np.abs(clip).max()
    cav = WaveCavity(_geometry(), 500, encoding="waveform", n_steps=600, n_windows=3)
    y = cav(clip[None, :])
    assert np.all(np.isfinite(y)) and y.max() > 0


def test_drive_param_scales_the_linear_intensity_quadratically():
    cav = _cavity(False)
    x = np.array([[0.3, 1.0, 0.2, 0.6]])
    y1 = cav(x)
    cav.set_params(drive=2.0)
    np.testing.assert_allclose(cav(x), 4 * y1, rtol=1e-4)


def test_speed_drift_beyond_the_time_step_is_refused_and_rolled_back():
    cav = _cavity()
    cav.set_params(speed_scale=1.1)
    assert cav.params.speed_scale == 1.1
    with pytest.raises(ValueError, match="CFL bound"):
        cav.set_params(speed_scale=2.0)
    assert cav.params == WaveCavityParams(drive=1.0, speed_scale=1.1)


def test_noise_follows_the_rng():
    cav = _cavity(noise=0.01)
    x = np.ones((2, 4))
    a = cav(x, rng=np.random.default_rng(7))
    b = cav(x, rng=np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, cav(x, rng=np.random.default_rng(8)))


def test_geometry_round_trip_and_drawing(tmp_path):
    g = CavityGeometry(**{**_geometry().to_dict(), "walls": [[10, 12, 30, 40]]})
    path = tmp_path / "cavity.json"
    g.save(path)
    assert CavityGeometry.load(path) == g
    c, nl, walls = g.maps()
    assert walls[10:12, 30:40].all() and walls.sum() == 20
    assert nl.any() and c.min() < c.max()
    png = tmp_path / "cavity.png"
    g.draw(png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_geometry_and_layer_validation(tmp_path):
    with pytest.raises(ValueError, match="outside the interior"):
        CavityGeometry(shape=(20, 30), sources=((5, 29),), probes=((5, 5),), absorb_width=3)
    with pytest.raises(ValueError, match="unknown cavity geometry field"):
        CavityGeometry.from_dict({"shape": [20, 30], "colour": "red"})
    bad = tmp_path / "x.json"
    bad.write_text('{"something": 1}')
    with pytest.raises(ValueError, match="cavity_geometry"):
        CavityGeometry.load(bad)
    with pytest.raises(ValueError, match="frequencies"):
        WaveCavity(_geometry(), 2, frequencies=[0.05, 0.1, 0.2])
    with pytest.raises(ValueError, match="CFL"):
        WaveCavity(_geometry(), 2, dt=5.0)
    with pytest.raises(ValueError, match="shorter than the waveform"):
        WaveCavity(_geometry(), 500, encoding="waveform", n_steps=100)
    with pytest.raises(ValueError, match=r"shape \(batch, 4\)"):
        _cavity()(np.ones((2, 3)))
