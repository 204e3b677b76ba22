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
    from physnn.experiments.wave_cavity_demo import claim

    said = json.loads((tmp_path / "wave_cavity_demo.json").read_text())["claim"]
    assert said == claim(rec) and "the wave cavity breaks superposition" in said
    assert f"{rec['superposition_error_nonlinear']:.2g}" in said


def test_wave_claim_follows_the_numbers():
    from physnn.experiments.wave_cavity_demo import claim

    def said(nl, lin):
        return claim({"superposition_error_nonlinear": nl, "superposition_error_linear": lin})

    assert "cavity breaks superposition" in said(0.02, 1e-6)
    assert "raises the error 20,000x" in said(0.02, 1e-6)
    assert "cavity obeys superposition at its probes" in said(1e-5, 1e-6)
    assert "no qualitative difference" in said(1e-5, 1e-6)
    assert "without it the cavity breaks superposition" in said(0.02, 0.03)


def test_import_physnn_does_not_load_the_cuda_driver():
    code = ("import sys, physnn, hardware_models; "
            "assert 'physnn.kernels.wave_cuda' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)
