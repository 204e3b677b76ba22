"""``physnn run robustness``: a quick run writes robustness.png and robustness.json, its claim is
computed from its numbers, and its settings are typed and checked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from physnn import experiments
from physnn.config import ConfigError

REPO = Path(__file__).resolve().parents[2]


def test_quick_run_writes_png_and_json(tmp_path, data_dir):
    """One task of the quick run (the CI check; about 30 s on one core)."""
    pytest.importorskip("torch")
    cfg = experiments.make_config("robustness", quick=True, overrides=["tasks=vowels-acoustic"])
    out = experiments.run("robustness", cfg, out=tmp_path, progress=False)
    assert out.png_path == tmp_path / "robustness.png"
    assert out.png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rec = json.loads((tmp_path / "robustness.json").read_text())
    assert rec["run"]["experiment"] == "robustness" and rec["config"]["quick"] is True
    m = rec["metrics"]
    assert set(m) == {"vowels-acoustic"}
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
    g = t["no_perturbation_online_worst_gap_vs_frozen_points"]
    assert f"at worst {g:.1f} points below frozen" in rec["claim"]
    assert ("within the 1-point" in rec["claim"]) == (g <= 1.0)
    assert not t["any_nonfinite"]
    per = t["per_split"]["no_perturbation_online_worst_gap_vs_frozen_points"]
    assert len(per["values"]) == ac["splits"] == 1
    sel = ac["selection_on_validation"]
    assert ac["online_settings"]["name"] == sel["online"] in sel["online_table"]
    assert "ablation_on_test" not in ac  # extras are off in a quick run
    assert rec["timings"]["vowels-acoustic"]["wall_s"] > 0


@pytest.mark.slow
def test_quick_run_of_every_task_from_the_script(tmp_path, data_dir):
    """``experiments/robustness.py --quick`` (the three tasks; a few minutes)."""
    if not Path("/usr/share/datasets/fashion-mnist").is_dir():
        pytest.skip("Fashion-MNIST missing: apt-get install dataset-fashion-mnist")
    env = dict(os.environ, PYTHONPATH=str(REPO), PHYSNN_DATA=str(data_dir))
    proc = subprocess.run([sys.executable, str(REPO / "experiments" / "robustness.py"),
                           "--quick", "--out", str(tmp_path), "--no-progress"],
                          capture_output=True, text=True, env=env, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rec = json.loads((tmp_path / "robustness.json").read_text())
    assert set(rec["metrics"]) == {"vowels-acoustic", "vowels-microwave", "fashion-optics"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["robustness.json", "robustness.png"]


def test_configuration_is_typed_and_checked():
    from physnn.experiments import robustness as rb

    assert "robustness" in experiments.names()
    cfg = experiments.make_config("robustness", quick=True,
                                  overrides=["tasks=[vowels-acoustic, fashion-optics]",
                                             "n_seeds=2"])
    assert cfg == rb.Config(quick=True, extras=False, n_seeds=2,
                            tasks=("vowels-acoustic", "fashion-optics"))
    with pytest.raises(ConfigError, match="tasks"):
        experiments.make_config("robustness", overrides=["tasks=vowels-violin"])
    for bad, match in (({"n_seeds": -1}, "n_seeds"), ({"tasks": ()}, "tasks"),
                       ({"batch_size": 0}, "batch_size"), ({"tolerance": 1.5}, "tolerance"),
                       ({"tasks": ("fashion-optics", "fashion-optics")}, "tasks")):
        with pytest.raises(ValueError, match=match):
            rb.Config(**bad)
    specs = rb.task_specs(quick=False)
    assert specs["vowels-acoustic"].splits * 52 >= 300  # 1 point >= 3 pooled test samples
    assert specs["vowels-microwave"].splits * 52 >= 300
    assert specs["fashion-optics"].n_test >= 300
    assert rb.split_seeds(specs["vowels-acoustic"], rb.Config(seed=3)) == list(range(3, 9))
    assert rb.split_seeds(specs["vowels-acoustic"], rb.Config(seed=3, n_seeds=2)) == [3, 4]
    for name in rb.TASKS:  # every candidate a task compares exists
        cands = rb.adapter_candidates(specs[name].phyll_lr, specs[name].inner_steps)
        assert set(specs[name].candidates or cands) <= set(cands)


def test_selection_rule_counts_missed_targets_first():
    """The online settings are ranked by validation targets missed, then shortfall."""
    from physnn.experiments import robustness as rb

    def row(rec, short, drift, q):
        return {"validation_none_worst_gap_vs_frozen_points": 0.0,
                "validation_shift_recovery_queries": rec,
                "validation_shift_final_minus_before_points": -short,
                "validation_drift_worst_gap_vs_drift_free_points": drift,
                "validation_adapt_queries": q}

    table = {"recovers, drifts away": row(250, 0.0, 9.6, 100),
             "slow to recover, tracks the drift": row(None, 1.5, 1.9, 100),
             "both, but expensive": row(500, 0.0, 1.0, 10_000),
             "unstable": row(0, 0.0, 0.0, 1) | {
                 "validation_none_worst_gap_vs_frozen_points": 3.0}}
    assert rb.rank_online(table, "both, but expensive") < rb.rank_online(
        table, "slow to recover, tracks the drift") < rb.rank_online(
        table, "recovers, drifts away")
    chosen, ok = rb._pick(table, "validation_none_worst_gap_vs_frozen_points",
                          lambda c: rb.rank_online(table, c))
    assert chosen == "both, but expensive" and ok


def test_selection_never_sees_the_test_change():
    from physnn.experiments import robustness as R

    for quick in (False, True):
        for name, spec in R.task_specs(quick).items():
            # another parameter, or the same one moved by another amount
            assert (spec.select_parameter, spec.select_shift) != (spec.parameter, spec.shift), name
            assert (spec.select_parameter, spec.select_shift) != (spec.parameter, spec.drift), name
            sel = R.scenarios(spec, 1.0, select=True)
            assert set(sel) == {"none", "selection shift", "selection drift"}
