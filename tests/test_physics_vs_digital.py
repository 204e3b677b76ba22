"""physics_vs_digital_compute: its --quick run writes the figure and a record with both Pareto
fronts and a computed claim; the front and the equal-MACs comparison are right on toy points."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from physnn.experiments import physics_vs_digital_compute as pvd

REPO = Path(__file__).resolve().parents[1]
FASHION = Path("/usr/share/datasets/fashion-mnist")


def test_pareto_front_keeps_only_points_no_cheaper_point_beats():
    pts = [(100, 0.5), (50, 0.6), (200, 0.55), (400, 0.9), (400, 0.7), (10, 0.2)]
    assert pvd.pareto_front(pts) == [(10, 0.2), (50, 0.6), (400, 0.9)]
    front = pvd.pareto_front(pts)
    assert pvd.best_within(front, 5) is None
    assert pvd.best_within(front, 60) == (50, 0.6)
    assert pvd.best_within(front, 1e9) == (400, 0.9)


def test_passthrough_and_networks_count_the_digital_work():
    layer = pvd.Passthrough(5)
    x = np.random.default_rng(0).random((3, 5)).astype(np.float32)
    np.testing.assert_array_equal(layer(x), x)
    ff = pvd.ff_network(8, 794)
    assert [b.digital.macs(1) for b in ff.blocks] == [794 * 8, 8 * 8]
    opt = pvd.optical_network(6, 4, 794, seed=0)
    assert not opt.blocks[0].skip and opt.blocks[0].digital.in_features == 36


def test_config_refuses_empty_sides():
    with pytest.raises(ValueError, match="optical width"):
        pvd.Config(readout_widths=(), phyll_widths=())
    with pytest.raises(ValueError, match="validation"):
        pvd.Config(validation=0.0)


@pytest.mark.skipif(not FASHION.is_dir(),
                    reason="Fashion-MNIST missing: apt-get install dataset-fashion-mnist")
def test_quick_run_writes_fronts_and_a_computed_claim(tmp_path):
    name = "physics_vs_digital_compute"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, "-W", "error", str(REPO / "experiments" / f"{name}.py"),
                           "--quick", "--out", str(tmp_path), "--no-progress"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rec = json.loads((tmp_path / f"{name}.json").read_text())
    m = rec["metrics"]
    assert set(m["families"]) == set(pvd.FAMILIES.values()) - {pvd.FAMILIES["mlp_pool2"]}
    for side in ("optical", "digital"):
        front = m["pareto_front"][side]
        assert front and all(a[0] <= b[0] and a[1] < b[1]
                             for a, b in zip(front, front[1:], strict=False))
    phyll = m["families"][pvd.FAMILIES["phyll"]][0]
    assert phyll["macs_per_image"] == 10 * 16 * 16 * phyll["width"]  # 10 label passes
    readout = m["families"][pvd.FAMILIES["readout"]][0]
    assert readout["macs_per_image"] == 16 * 16 * readout["width"] + 10 * readout["width"]
    assert len(readout["validation_accuracy_per_epoch"][0]) == rec["config"]["epochs"]
    margins = [c["margin_points"] for c in m["comparison"] if c["margin_points"] is not None]
    assert m["target_met"] == any(g >= pvd.TARGET_POINTS for g in margins)
    against_full, against_all = rec["claim"].split(" And ")
    assert ("is NOT" in against_full) != m["target_met"]
    assert ("is NOT" in against_all) != m["with_pooled_inputs"]["target_met"]
    assert "pooled" in against_all and m["pareto_front"]["digital_with_pooled_inputs"]
