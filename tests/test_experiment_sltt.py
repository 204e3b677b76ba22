"""The SLTT vs BPTT experiment in --quick mode writes its figure and numbers; its claim is
computed from them and says which method wins, whichever does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_sltt_vs_bptt_quick(tmp_path):
    pytest.importorskip("physnn.data")
    from physnn.data import FASHION_MNIST_DIR

    if not (Path(FASHION_MNIST_DIR) / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip("Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    subprocess.run([sys.executable, "-W", "error", str(REPO / "experiments" / "sltt_vs_bptt.py"),
                    "--quick", "--out", str(tmp_path)], check=True, cwd=REPO, env=env,
                   stdout=subprocess.DEVNULL)
    rec = json.loads((tmp_path / "sltt_vs_bptt.json").read_text())
    assert set(rec) == {"claim", "metrics", "config", "timings", "setup", "run"}
    assert rec["config"]["quick"] is True and rec["config"]["steps"] == [2, 4]
    m = rec["metrics"]
    for kind in ("mlp", "cnn"):
        assert set(m["accuracy"][kind]) >= {"BPTT", "SLTT", "SLTT-2"}
        for T in ("2", "4"):
            for name in ("BPTT", "SLTT", "SLTT-2"):
                assert m["scaling"][kind][T][name]["peak_bytes"] > 0
                assert m["scaling"][kind][T][name]["seconds_per_batch"] > 0
        cos = m["cosine"][kind]["0.0"]
        assert all(abs(c - 1) < 1e-4 for c in cos)  # beta = 0: SLTT is BPTT
    assert (tmp_path / "sltt_vs_bptt.png").stat().st_size > 20_000
    # the claim is the one the recorded numbers give, and quotes them
    from physnn.experiments.sltt_vs_bptt import claim

    assert rec["claim"] == claim(m, rec["config"])
    for kind in ("mlp", "cnn"):
        s = m["summary"][kind]
        assert s["seconds_per_epoch"]["BPTT"] > 0 and s["seconds_per_epoch"]["SLTT"] > 0
        assert s["epoch_time_ratio_sltt_over_bptt"] == pytest.approx(
            s["seconds_per_epoch"]["SLTT"] / s["seconds_per_epoch"]["BPTT"])
        for name in ("BPTT", "SLTT", "SLTT-2"):
            assert f"{name} {100 * m['accuracy'][kind][name]['mean']:.1f} %" in rec["claim"]
    assert "--quick smoke run" in rec["claim"]


def fake_metrics(*, sltt_time=1.0, bptt_time=1.0, sltt_mem=1.0, bptt_mem=1.0,
                 sltt_acc=0.8, bptt_acc=0.8, std=0.0, n_seeds=1):
    """Made-up metrics of one MLP in the experiment's layout (times in s, memory in MiB)."""
    def acc(a):
        return {"mean": a, "std": std, "runs": [{"seed": i, "accuracy": a, "train_s": 1.0}
                                                for i in range(n_seeds)]}

    summary = {"at_T": 32, "memory_from_T": 4,
               "seconds_per_epoch": {"BPTT": bptt_time, "SLTT": sltt_time, "SLTT-2": sltt_time},
               "epoch_time_ratio_sltt_over_bptt": sltt_time / bptt_time,
               "epoch_time_ratio_sltt2_over_bptt": sltt_time / bptt_time,
               "time_ratio_sltt_over_bptt": sltt_time / bptt_time,
               "memory_ratio_bptt_over_sltt": bptt_mem / sltt_mem,
               "sltt_memory_growth": 1.0, "bptt_memory_growth": 8.0 * bptt_mem / sltt_mem}
    metrics = {"summary": {"mlp": summary},
               "accuracy": {"mlp": {"BPTT": acc(bptt_acc), "SLTT": acc(sltt_acc),
                                    "SLTT-2": acc(sltt_acc)}},
               "cosine": {"mlp": {"0.0": [1.0, 1.0], "0.9": [0.95, 1.0]}}}
    config = {"n_seeds": n_seeds, "epochs": 3, "acc_steps": 4, "train_size": 60000,
              "cnn_train_size": 10000, "cos_steps": 16, "reps": 3, "quick": False}
    return metrics, config


def test_claim_says_which_method_is_faster_both_ways():
    from physnn.experiments.sltt_vs_bptt import claim

    faster = claim(*fake_metrics(sltt_time=1.0, bptt_time=2.0))
    slower = claim(*fake_metrics(sltt_time=3.0, bptt_time=1.5))
    assert "SLTT is 2.00x faster than BPTT per training epoch" in faster
    assert "SLTT is 2.00x slower than BPTT per training epoch" in slower
    assert "slower" not in faster and "faster" not in slower
    same = claim(*fake_metrics(sltt_time=1.01, bptt_time=1.0))
    assert "SLTT is as fast as BPTT per training epoch" in same


def test_claim_says_which_method_uses_less_memory_and_is_more_accurate():
    from physnn.experiments.sltt_vs_bptt import claim

    light = claim(*fake_metrics(sltt_mem=1.0, bptt_mem=4.0, sltt_acc=0.85, bptt_acc=0.80))
    heavy = claim(*fake_metrics(sltt_mem=3.0, bptt_mem=1.0, sltt_acc=0.80, bptt_acc=0.85))
    assert "SLTT uses 4.00x less peak activation memory than BPTT" in light
    assert "SLTT uses 3.00x more peak activation memory than BPTT" in heavy
    assert "SLTT is more accurate than BPTT by 5.0 points" in light
    assert "BPTT is more accurate than SLTT by 5.0 points" in heavy
    assert "test accuracy BPTT 80.0 %, SLTT 85.0 %" in light
    # several seeds: mean ± std, and a gap inside the seeds' spread is no win
    tie = claim(*fake_metrics(sltt_acc=0.81, bptt_acc=0.80, std=0.02, n_seeds=3))
    assert "SLTT is as accurate as BPTT" in tie and "BPTT 80.0 ± 2.0 %" in tie
    assert "3 seeds" in tie and "1 seed" in claim(*fake_metrics())
    assert "0.950 at beta=0.9" in tie
