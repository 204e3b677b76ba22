"""Dataset loaders: shapes, label sets, paths and the error when files are missing."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from physnn import data

REPO = Path(__file__).resolve().parents[1]


def test_digits():
    x, y = data.load_digits()
    assert x.shape == (1797, 64) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() == 1.0
    assert set(np.unique(y)) == set(range(10))


def test_formants(data_dir):
    x, y, speakers = data.load_formants(data_dir)
    assert x.shape == (258, 12)
    assert np.bincount(y).tolist() == [37, 37, 37, 37, 37, 37, 36]
    assert 200 < x[:, 0].min() and x[:, 2].max() < 4000  # Hz
    assert len(speakers) == 258 and speakers[0].startswith("w")


def test_vowel_audio(data_dir):
    rec = data.load_vowel_audio(data_dir)
    assert len(rec.audio) == 1116 == len(rec.vowel)
    assert rec.sample_rate == 16000 and rec.audio[0].dtype == np.int16
    assert 5274 <= min(len(a) for a in rec.audio)


def _formants_csv(folder, rows=2):
    head = ["token", "speaker", "vowel"] + [f"f{i}" for i in range(12)]
    lines = [",".join(head)] + [",".join([f"t{r}", "w01", "iy"] + ["500"] * 12)
                                for r in range(rows)]
    (folder / "hillenbrand_formants_women7.csv").write_text("\n".join(lines) + "\n")


def test_data_dir_env(monkeypatch, tmp_path):
    monkeypatch.setenv("PHYSNN_DATA", str(tmp_path))
    assert data.data_dir() == tmp_path
    with pytest.raises(data.DataNotFoundError, match="PHYSNN_DATA") as err:
        data.load_formants()
    assert isinstance(err.value, FileNotFoundError)
    msg = str(err.value)
    assert f"not found in {tmp_path} (from PHYSNN_DATA)" in msg
    for name in data.DATA_FILES:  # it says what to put there
        assert name in msg
    # the files are read from PHYSNN_DATA, and an explicit path beats it
    _formants_csv(tmp_path)
    x, y, speakers = data.load_formants()
    assert x.shape == (2, 12) and y.tolist() == [5, 5] and speakers == ("w01", "w01")
    other = tmp_path / "other"
    other.mkdir()
    with pytest.raises(data.DataNotFoundError, match="the path argument"):
        data.load_formants(other)


def test_source_checkout_default(monkeypatch):
    """Imported from this checkout with PHYSNN_DATA unset: the checkout's ../shared/data."""
    monkeypatch.delenv("PHYSNN_DATA", raising=False)
    assert data.source_checkout() == REPO
    assert data.data_dir() == REPO.parent / "shared" / "data"


def test_no_data_folder_outside_a_checkout(monkeypatch, tmp_path):
    """An installed physnn (no checkout above it) without PHYSNN_DATA has no data folder."""
    monkeypatch.delenv("PHYSNN_DATA", raising=False)
    monkeypatch.setattr(data, "source_checkout", lambda: None)
    with pytest.raises(data.DataNotFoundError, match="PHYSNN_DATA is not set") as err:
        data.data_dir()
    assert "not a source checkout" in str(err.value)
    with pytest.raises(data.DataNotFoundError, match="hillenbrand_vowels_16k.npz needed"):
        data.load_vowel_audio()
    from hardware_models import AcousticCavity, load_acoustic_measurements

    for load in (load_acoustic_measurements, AcousticCavity.from_measurements):
        with pytest.raises(data.DataNotFoundError, match="PHYSNN_DATA") as err:
            load()
        assert "phyll_acoustic/x_data.csv" in str(err.value)
    monkeypatch.setenv("PHYSNN_DATA", str(tmp_path))  # the variable still works
    _formants_csv(tmp_path, rows=1)
    assert data.load_formants()[0].shape == (1, 12)


def test_acoustic_data_under_physnn_data(monkeypatch, tmp_path):
    from hardware_models import AcousticCavity

    monkeypatch.setenv("PHYSNN_DATA", str(tmp_path))
    with pytest.raises(data.DataNotFoundError, match=f"not found in {tmp_path} "
                                                     r"\(from PHYSNN_DATA\)"):
        AcousticCavity.from_measurements()


@pytest.mark.parametrize("name", ["phyll_vowels", "phyll_vs_pat", "phyll_microwave_vowels",
                                  "phyll_wave_audio"])
def test_experiment_without_data_fails_fast(name, tmp_path):
    """No blank figure and exit 0: a clear message naming PHYSNN_DATA, exit 1, no output."""
    empty, out = tmp_path / "empty", tmp_path / "out"
    empty.mkdir()
    env = dict(os.environ, PYTHONPATH=str(REPO), PHYSNN_DATA=str(empty))
    proc = subprocess.run([sys.executable, "-W", "error", str(REPO / "experiments" / f"{name}.py"),
                           "--quick", "--no-progress", "--out", str(out)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert proc.stderr.startswith(f"{name}: ") and "PHYSNN_DATA" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists()


def _idx(path, arr):
    head = bytes([0, 0, 8, arr.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in arr.shape)
    with gzip.open(path, "wb") as fh:
        fh.write(head + arr.astype(np.uint8).tobytes())


def test_fashion_mnist_reader_and_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="dataset-fashion-mnist"):
        data.load_fashion_mnist(tmp_path)
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (3, 28, 28))
    _idx(tmp_path / "train-images-idx3-ubyte.gz", imgs)
    _idx(tmp_path / "train-labels-idx1-ubyte.gz", np.array([1, 2, 3]))
    _idx(tmp_path / "t10k-images-idx3-ubyte.gz", imgs[:2])
    _idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.array([9, 0]))
    s = data.load_fashion_mnist(tmp_path, flatten=True)
    assert s.x_train.shape == (3, 784) and s.x_test.shape == (2, 784)
    np.testing.assert_allclose(s.x_train[0], imgs[0].ravel() / 255.0, rtol=1e-6)
    assert s.y_test.tolist() == [9, 0]


@pytest.mark.skipif(not data.FASHION_MNIST_DIR.is_dir(), reason="dataset-fashion-mnist missing")
def test_fashion_mnist_installed():
    s = data.load_fashion_mnist()
    assert s.x_train.shape == (60000, 28, 28) and s.x_test.shape == (10000, 28, 28)
    assert np.bincount(s.y_test).tolist() == [1000] * 10


def test_stratified_split():
    y = np.repeat(np.arange(3), [10, 10, 5])
    tr, te = data.stratified_split(y, 0.2, np.random.default_rng(0))
    assert np.bincount(y[te]).tolist() == [2, 2, 1]
    assert len(np.intersect1d(tr, te)) == 0 and len(tr) + len(te) == 25
    with pytest.raises(ValueError, match="test_fraction"):
        data.stratified_split(y, 1.5, np.random.default_rng(0))


def test_vowel_windows(data_dir):
    x, y, spk = data.vowel_windows(path=data_dir)
    assert x.shape == (279, 1000) and x.dtype == np.float32
    assert np.bincount(y).tolist() == [93, 93, 93] and len(set(spk)) == 93
    np.testing.assert_allclose(np.abs(x).max(1), 1.0, rtol=1e-6)
    # the 16 kHz -> 10 kHz resampling keeps the pitch: the strongest low-frequency peak of a
    # voiced vowel lies between 80 and 400 Hz (fundamental or a low harmonic)
    spec = np.abs(np.fft.rfft(x[0] * np.hanning(1000)))
    f = np.fft.rfftfreq(1000, 1e-4)
    assert 80 <= f[np.argmax(np.where(f < 400, spec, 0))] <= 400
    x7, y7, _ = data.vowel_windows(data.FORMANT_VOWELS, sample_rate=8000, length=400,
                                   path=data_dir)
    assert x7.shape == (651, 400) and y7.max() == 6
    with pytest.raises(ValueError, match="vowels"):
        data.vowel_windows(("ae", "xx"), path=data_dir)
    with pytest.raises(ValueError, match="length"):
        data.vowel_windows(length=10**6, path=data_dir)
    with pytest.raises(ValueError, match="sample_rate"):
        data.vowel_windows(sample_rate=44100, path=data_dir)
