"""Every PhyLL experiment's ``--quick`` mode runs and writes its PNG and JSON."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXPERIMENTS = {
    "phyll_digits_demo": ["test_accuracy", "physical_queries_train", "digital_macs_train"],
    "phyll_vowels": ["PhyLL (cosine goodness)", "local readout (one pass)",
                     "digital_logistic_regression_accuracy"],
    "phyll_microwave_vowels": ["PhyLL (cosine goodness)", "digital_logistic_regression_accuracy"],
    "phyll_fashion_optics": ["PhyLL (cosine goodness)", "local readout (one pass)"],
    "phyll_vs_pat": ["drive gain 1.0", "drive gain 0.6", "twin_r2_on_uniform_queries"],
    "phyll_wave_audio": ["3 vowels (ae ei iy)", "7 vowels"],
}
NEEDS_TORCH = {"phyll_vs_pat"}
NEEDS_FASHION = {"phyll_fashion_optics"}


@pytest.mark.parametrize("name", sorted(EXPERIMENTS))
def test_quick_mode_writes_figure_and_record(name, tmp_path, data_dir):
    if name in NEEDS_TORCH and importlib.util.find_spec("torch") is None:
        pytest.skip("the backpropagation baselines need PyTorch (the 'ref' extra)")
    if name in NEEDS_FASHION and not Path("/usr/share/datasets/fashion-mnist").is_dir():
        pytest.skip("Fashion-MNIST missing: apt-get install dataset-fashion-mnist")
    env = dict(os.environ, PYTHONPATH=str(REPO), PHYSNN_DATA=str(data_dir))
    proc = subprocess.run([sys.executable, "-W", "error", str(REPO / "experiments" / f"{name}.py"),
                           "--quick",
                           "--out", str(tmp_path), "--no-progress"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    png = tmp_path / f"{name}.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rec = json.loads((tmp_path / f"{name}.json").read_text())
    assert set(rec) == {"claim", "metrics", "config"}
    assert isinstance(rec["claim"], str) and rec["claim"]
    for key in EXPERIMENTS[name]:
        assert key in rec["metrics"], key
    assert rec["config"]["quick"] is True
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{name}.json", f"{name}.png"]


@pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist").is_dir(),
                    reason="Fashion-MNIST missing: apt-get install dataset-fashion-mnist")
def test_fashion_seeds_in_worker_processes_match_a_serial_run(tmp_path):
    """``--seeds 2 --jobs 2`` reports mean ± std over the seeds, and seed 1 run alone
    (``--first-seed 1``) in this process gives the same accuracy."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    common = [sys.executable, "-W", "error", str(REPO / "experiments" / "phyll_fashion_optics.py"),
              "--quick", "--methods", "phyll", "--negatives", "2", "--no-progress"]
    recs = []
    for extra, out in ((["--seeds", "2", "--jobs", "2"], "pair"), (["--first-seed", "1"], "one")):
        proc = subprocess.run(common + extra + ["--out", str(tmp_path / out)],
                              capture_output=True, text=True, env=env, timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
        recs.append(json.loads((tmp_path / out / "phyll_fashion_optics.json").read_text()))
    pair = recs[0]["metrics"]["PhyLL (cosine goodness)"]
    one = recs[1]["metrics"]["PhyLL (cosine goodness)"]
    assert pair["seeds"] == [0, 1] and one["seeds"] == [1]
    acc = pair["test_accuracy_per_seed"]
    assert pair["test_accuracy"] == pytest.approx(sum(acc) / 2)
    assert pair["test_accuracy_std"] == pytest.approx(abs(acc[0] - acc[1]) / 2)
    assert one["test_accuracy"] == acc[1]
    assert "± " in recs[0]["claim"] and recs[0]["config"]["negatives"] == 2
