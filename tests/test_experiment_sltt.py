"""The SLTT vs BPTT experiment in --quick mode writes its figure and numbers."""

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
