"""`physnn bench lif` and the spiking demo, end to end (small sizes)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import physnn
from physnn.cli import main

REPO = Path(__file__).resolve().parents[1]


def test_bench_lif_quick_writes_the_record(tmp_path, capsys):
    out = tmp_path / "lif.json"
    assert main(["bench", "lif", "--quick", "--repeats", "1", "--json", str(out)]) == 0
    rec = json.loads(out.read_text())
    assert set(rec) >= {"workload", "device", "results"}
    assert rec["workload"]["T"] == 20
    for impl in ("physnn-cpu", "numpy-loop", "memcpy-limit", "physnn-cpu-fwd+bwd"):
        assert rec["results"][impl] > 0
    assert {"snntorch-cpu", "spikingjelly-cpu", "snntorch-cpu-fwd+bwd",
            "spikingjelly-cpu-fwd+bwd"} <= set(rec["results"])
    # the small-call rows: one step (T=1, batch 1, N=100, state carried), per call
    assert rec["workload"]["small_call"] == {"T": 1, "batch": 1, "N": 100,
                                             "state": "carried", "rows": "seconds per call"}
    assert rec["results"]["physnn-cpu-step"] > 0 and rec["results"]["njit-call"] > 0
    assert "snntorch-cpu-step" in rec["results"]
    assert "physnn-cpu-step / njit-call" in rec["ratios"]
    assert "physnn-cpu / memcpy-limit" in rec["ratios"]
    out = capsys.readouterr().out
    assert "physnn-cpu" in out and "physnn-cpu-step / njit-call" in out


def test_bench_lif_cuda_without_gpu_says_what_to_install(tmp_path, capsys):
    if "cuda" in physnn.available_backends():
        pytest.skip("a CUDA device is present")
    assert main(["bench", "lif", "--device", "cuda", "--json", str(tmp_path / "x.json")]) == 2
    assert "physnn[cuda]" in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()


def test_spiking_demo_writes_png_and_json(tmp_path):
    subprocess.run([sys.executable, str(REPO / "experiments" / "spiking_demo.py"), "--out",
                    str(tmp_path), "--set", "steps=60", "--set", "neurons=8", "--device", "cpu"],
                   check=True, cwd=REPO, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin"})
    assert (tmp_path / "spiking_demo.png").stat().st_size > 10_000
    rec = json.loads((tmp_path / "spiking_demo.json").read_text())
    assert rec["metrics"]["spikes"] > 0 and {"claim", "metrics", "config", "run"} <= set(rec)
