"""Every PhyLL experiment's ``--quick`` mode runs (as the thin script in ``experiments/``) and
writes its PNG and JSON; Fashion-MNIST seeds go through a sweep and match single runs."""

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
    "phyll_fashion_optics": ["PhyLL (cosine goodness)", "local readout (one pass)", "baselines"],
    "phyll_vs_pat": ["drive gain 1.0", "drive gain 0.6", "twin_r2_on_uniform_queries"],
    "phyll_wave_audio": ["3 vowels (ae ei iy)", "baselines", "hyperparameters"],
}
NEEDS_TORCH = {"phyll_vs_pat"}
BASELINES = ("physics_silenced", "random_linear", "digital_same_params", "logistic_regression")
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
    assert set(rec) == {"claim", "metrics", "config", "timings", "setup", "run"}
    assert rec["run"]["experiment"] == name
    assert isinstance(rec["claim"], str) and rec["claim"]
    for key in EXPERIMENTS[name]:
        assert key in rec["metrics"], key
    # every training experiment reports its controls and baselines, and its claim uses them
    baselines = rec["metrics"]["baselines"]
    assert set(BASELINES) <= set(baselines), sorted(baselines)
    for key in BASELINES:
        acc = baselines[key]["test_accuracy"]
        assert 0.0 <= acc["mean"] <= 1.0 and len(acc["values"]) >= 1, key
    assert "silenc" in rec["claim"] and "random linear" in rec["claim"]
    assert rec["config"]["quick"] is True
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{name}.json", f"{name}.png"]


@pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist").is_dir(),
                    reason="Fashion-MNIST missing: apt-get install dataset-fashion-mnist")
def test_fashion_seeds_in_a_sweep_match_single_runs(tmp_path):
    """Two seeds as a sweep (one trial each) report mean ± std over the seeds; one run with
    ``n_seeds = 2`` gives the same per-seed numbers (seed ``s`` alone or in a set: the same)."""
    from physnn import experiments
    from physnn.sweep import sweep

    settings = ["methods=phyll", "negatives=2"]
    res = sweep("phyll_fashion_optics", quick=True, seeds=2, overrides=settings,
                engine="serial", out=tmp_path / "sweep", progress=False)
    assert [t["status"] for t in res.trials] == ["ok", "ok"]
    acc = [t["metrics"]["PhyLL (cosine goodness)"]["test_accuracy"] for t in res.trials]
    summ = res.summary[0]["metrics"]["PhyLL (cosine goodness).test_accuracy"]
    assert summ["mean"] == pytest.approx(sum(acc) / 2)
    assert summ["std"] == pytest.approx(abs(acc[0] - acc[1]) / 2)
    model = tmp_path / "sweep/trials/0001/phyll_fashion_optics.physnn"
    assert model.is_file()
    both = experiments.run("phyll_fashion_optics", experiments.make_config(
        "phyll_fashion_optics", quick=True, overrides=settings + ["n_seeds=2"]),
        out=None, progress=False)
    m = both.record["metrics"]["PhyLL (cosine goodness)"]
    assert m["seeds"] == [0, 1] and m["test_accuracy_per_seed"] == acc
    assert m["test_accuracy_std"] == pytest.approx(abs(acc[0] - acc[1]) / 2)
    assert "± " in both.record["claim"] and both.record["config"]["negatives"] == 2
