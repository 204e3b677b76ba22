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
    from physnn.experiments.hardware_gallery import claim

    said = json.loads(done.json_path.read_text())["claim"]
    assert said == claim(metrics) and "gives fewer spikes" in said
    assert f"({metrics['spiking']['total_spikes_perturbed']} vs " in said


def fake_gallery_metrics(contrast=1.0, spikes_clean=600, spikes_perturbed=500):
    return {
        "optical": {"speckle_contrast": contrast, "perturbation": "p",
                    "correlation_clean_perturbed": 0.7},
        "microwave": {"max_reciprocity_error": 1e-15, "perturbation": "p",
                      "mean_abs_change_between_configs": 0.05,
                      "mean_abs_change_perturbed": 0.02},
        "acoustic": {"r2_test_variance_weighted": 0.98, "r2_test_linear_fit": 0.95,
                     "perturbation": "p", "relative_change_perturbed": 0.5},
        "acoustic_physics": {"perturbation": "p", "relative_change": 0.05},
        "spiking": {"perturbation": "p", "total_spikes_clean": spikes_clean,
                    "total_spikes_perturbed": spikes_perturbed},
    }


def test_gallery_claim_follows_the_numbers():
    from physnn.experiments.hardware_gallery import claim

    assert "gives fewer spikes (500 vs 600)" in claim(fake_gallery_metrics())
    assert "gives more spikes (700 vs 600)" in claim(fake_gallery_metrics(spikes_perturbed=700))
    assert "(fully developed speckle" in claim(fake_gallery_metrics())
    assert "not fully developed speckle" in claim(fake_gallery_metrics(contrast=0.6))
    assert "held-out R² 0.980 (a linear fit 0.950)" in claim(fake_gallery_metrics())


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
