"""``physnn bench wave`` on a tiny problem: the record's layout and the peers' agreement."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from physnn.bench import wave as bench_wave
from physnn.cli import main


def test_bench_wave_writes_the_record(tmp_path):
    # in a process of its own: once imported, JAX warns at every later os.fork (Ray's, in the
    # sweep tests of this same pytest process)
    path = tmp_path / "wave.json"
    done = subprocess.run([sys.executable, "-W", "error", "-m", "physnn.cli", "bench", "wave",
                           "--quick", "--batch", "2", "--steps", "30", "--repeats", "1",
                           "--json", str(path)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    rec = json.loads(path.read_text())
    assert set(rec) >= {"workload", "device", "results"}
    assert rec["workload"]["batch"] == 2 and rec["workload"]["steps"] == 30
    res = rec["results"]
    assert list(res)[:4] == ["physnn-cpu", "numpy-vectorised", "torch-cpu", "jax-cpu"]
    assert res["physnn-cpu"] > 0 and res["numpy-vectorised"] > 0 and res["bandwidth-floor"] > 0
    for name in ("torch-cpu", "jax-cpu"):
        if res[name] is None:
            assert rec["notes"][name].startswith("skipped")
        else:
            assert "agree" in rec["notes"][name]
    assert "agree" in rec["notes"]["numpy-vectorised"]
    assert "physnn-cpu" in done.stdout


def test_numpy_peer_matches_physnn():
    from physnn.wave import simulate_wave

    p = bench_wave.make_problem(batch=3, nx=40, ny=30, steps=80, absorb_width=5)
    ref = simulate_wave(p["medium"], p["forcing"], dt=p["dt"], sources=p["sources"],
                        probes=p["probes"]).probes
    out = bench_wave.numpy_wave(p)
    assert np.abs(ref).max() > 1e-3
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-5 * np.abs(ref).max())


def test_floor_arithmetic():
    # 12 bytes per cell, sample and step
    assert bench_wave.floor_seconds(64, 100, 160, 1000, 3e12) == pytest.approx(
        12 * 64 * 100 * 160 * 1000 / 3e12)


def test_cuda_device_without_gpu_says_what_to_install(capsys):
    from physnn.backends import available_backends

    if "cuda" in available_backends():
        pytest.skip("a GPU is present")
    assert main(["bench", "wave", "--device", "cuda", "--quick"]) == 2
    assert "install" in capsys.readouterr().err


def test_missing_jax_is_said_loudly(tmp_path, capsys, monkeypatch):
    """JAX is the strongest peer: when it cannot be imported the run says so in the table,
    on standard error and in the record, never by a silent skip."""
    def no_jax(p, platform):
        raise ImportError("No module named 'jax'", name="jax")

    monkeypatch.setattr(bench_wave, "jax_wave", no_jax)
    path = tmp_path / "wave.json"
    assert main(["bench", "wave", "--quick", "--batch", "2", "--steps", "20", "--repeats", "1",
                 "--json", str(path)]) == 0
    rec = json.loads(path.read_text())
    assert rec["results"]["jax-cpu"] is None
    assert "NOT RUN" in rec["notes"]["jax-cpu"] and "pip install jax" in rec["notes"]["jax-cpu"]
    assert set(rec["missing_peers"]) == {"jax-cpu"}
    captured = capsys.readouterr()
    assert "WARNING: peer jax-cpu was not run" in captured.out
    assert "jax-cpu was not run" in captured.err


def test_peers_left_out_on_request_are_named(tmp_path):
    path = tmp_path / "wave.json"
    assert main(["bench", "wave", "--quick", "--batch", "2", "--steps", "10", "--repeats", "1",
                 "--peers", "numpy", "--json", str(path)]) == 0
    rec = json.loads(path.read_text())
    assert rec["results"]["numpy-vectorised"] > 0
    for name in ("torch-cpu", "jax-cpu"):
        assert rec["results"][name] is None
        assert rec["notes"][name] == "skipped: left out with --peers numpy"
