"""The hardware gallery script writes its figure and the numbers behind it."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_gallery_writes_png_and_json(tmp_path):
    spec = importlib.util.spec_from_file_location("hardware_gallery",
                                                  REPO / "experiments" / "hardware_gallery.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    png, js = mod.main(["--out", str(tmp_path)])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    metrics = json.loads(js.read_text())["metrics"]
    assert set(metrics) == {"optical", "microwave", "acoustic", "acoustic_physics",
                            "spiking"}
    assert abs(metrics["optical"]["speckle_contrast"] - 1) < 0.05
    assert metrics["microwave"]["max_reciprocity_error"] < 1e-9
    assert metrics["spiking"]["total_spikes_perturbed"] < metrics["spiking"]["total_spikes_clean"]
