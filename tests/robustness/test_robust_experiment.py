"""experiments/robustness.py --quick writes its figure and its numbers, and its claim is
computed from them."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _module():
    spec = importlib.util.spec_from_file_location("robustness_experiment",
                                                  REPO / "experiments" / "robustness.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # its dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.slow
def test_quick_run_writes_png_and_json(tmp_path, data_dir):
    png, js = _module().main(["--quick", "--out", str(tmp_path)])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rec = json.loads(js.read_text())
    m = rec["metrics"]
    assert set(m) == {"vowels-acoustic", "vowels-microwave", "fashion-optics"}
    ac = m["vowels-acoustic"]
    assert set(ac["scenarios"]) == {"none", "slow drift", "sudden shift", "growing noise",
                                    "dying channels"}
    assert {"frozen (PhyLL)", "online PhyLL", "PAT, stale twin", "PAT, refitted twin",
            "in-silico, stale twin", "in-silico, refitted twin"} <= set(
        ac["scenarios"]["sudden shift"])
    t = ac["targets"]
    shift = ac["scenarios"]["sudden shift"]
    assert t["shift_frozen_drop_points"] == pytest.approx(
        shift["frozen (PhyLL)"]["max_drop_points"])
    assert f"{t['shift_frozen_drop_points']:.1f} points" in rec["claim"]
    assert not t["any_nonfinite"]
    assert ac["online_settings"]["name"] in ac["selection_on_validation"]["online_table"]


def test_configuration_is_typed_and_checked():
    mod = _module()
    cfg, _ = mod.parse(["--quick", "--tasks", "vowels-acoustic", "--splits", "2"])
    assert cfg == mod.RobustnessConfig(quick=True, tasks=("vowels-acoustic",), splits=2)
    with pytest.raises(SystemExit):
        mod.parse(["--tasks", "vowels-violin"])
    specs = mod.task_specs(quick=False)
    assert specs["vowels-acoustic"].splits * 52 >= 300  # 1 point >= 3 pooled test samples
    assert specs["vowels-microwave"].splits * 52 >= 300
    assert specs["fashion-optics"].n_test >= 300
