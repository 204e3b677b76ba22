"""The wave-cavity demo writes its figure and numbers; ``import physnn`` stays GPU-free."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_wave_cavity_demo_writes_png_and_json(tmp_path):
    sys.path.insert(0, str(REPO / "experiments"))
    try:
        import wave_cavity_demo
    finally:
        sys.path.remove(str(REPO / "experiments"))
    assert wave_cavity_demo.main(["--out", str(tmp_path), "--quick"]) == 0
    png = tmp_path / "wave_cavity_demo.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rec = json.loads((tmp_path / "wave_cavity_demo.json").read_text())["metrics"]
    assert rec["superposition_error_nonlinear"] > 100 * rec["superposition_error_linear"]
    assert len(rec["probe_peak"]) == 3 and min(rec["probe_peak"]) > 0


def test_import_physnn_does_not_load_the_cuda_driver():
    code = ("import sys, physnn, hardware_models; "
            "assert 'physnn.kernels.wave_cuda' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)
