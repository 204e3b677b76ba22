"""The hardware gallery script writes its figure and the numbers behind it, or, without the
acoustic measurements, stops at once with a message and a non-zero exit status."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("quick", [True, pytest.param(False, marks=pytest.mark.slow)])
def test_gallery_writes_png_and_json(tmp_path, data_dir, monkeypatch, quick):
    from physnn import experiments

    monkeypatch.setenv("PHYSNN_DATA", str(data_dir))
    done = experiments.run("hardware_gallery",
                           experiments.make_config("hardware_gallery", quick=quick),
                           out=tmp_path, progress=False)
    assert done.png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    metrics = json.loads(done.json_path.read_text())["metrics"]
    assert set(metrics) == {"optical", "microwave", "acoustic", "acoustic_physics",
                            "spiking"}
    assert abs(metrics["optical"]["speckle_contrast"] - 1) < 0.05
    assert metrics["microwave"]["max_reciprocity_error"] < 1e-9
    assert len(metrics["microwave"]["frequencies"]) == (61 if quick else 241)
    assert metrics["spiking"]["total_spikes_perturbed"] < metrics["spiking"]["total_spikes_clean"]


def test_gallery_without_acoustic_data_exits_nonzero(tmp_path):
    empty, out = tmp_path / "empty", tmp_path / "out"
    empty.mkdir()
    env = dict(os.environ, PYTHONPATH=str(REPO), PHYSNN_DATA=str(empty))
    proc = subprocess.run([sys.executable, "-W", "error",
                           str(REPO / "experiments" / "hardware_gallery.py"), "--out", str(out)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert proc.stderr.startswith("hardware_gallery: phyll_acoustic/x_data.csv, "
                                  "phyll_acoustic/y_data.csv not found in")
    assert "PHYSNN_DATA" in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()  # fails before any work: no figure with blank panels
