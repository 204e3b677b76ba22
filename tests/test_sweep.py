"""``physnn sweep``: trials in this process and as Ray tasks on a local Ray.

Ray starts at most twice in this module: once inside the first test (the sweep starts and
stops its own local Ray, as ``physnn sweep`` does with no ``--address``), then once for the
module (fixture ``ray_local``) for the other Ray tests. The toy experiment
(``tests/sweep_toy.py``) is instant and fails on demand; Ray's workers import it through
``PYTHONPATH``, set before Ray starts.
"""

from __future__ import annotations

import json
import logging
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

import physnn as pn
from physnn import experiments
from physnn.cli import main
from physnn.config import ConfigError
from physnn.sweep import sweep

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
experiments.register("sweep_toy", "sweep_toy", "a toy for the sweep tests")


def toy_score(lr: float, seed: int) -> float:
    return 1 - (math.log10(lr) + 2.5) ** 2 / 10 + 0.01 * seed


pytestmark = pytest.mark.usefixtures("reset_cli_logging")


@pytest.fixture(scope="module")
def tests_on_pythonpath():
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(TESTS), old) if p)
    yield
    if old is None:
        os.environ.pop("PYTHONPATH", None)
    else:
        os.environ["PYTHONPATH"] = old


@pytest.fixture(scope="module")
def ray_local(tests_on_pythonpath):
    ray = pytest.importorskip("ray")
    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                 logging_level=logging.ERROR)
    yield ray
    ray.shutdown()


# ----------------------------------------------------------------------------- serial engine


def test_serial_grid_times_seeds_with_summary_logs_and_replayable_trials(tmp_path):
    out = tmp_path / "sw"
    res = sweep("sweep_toy", grid={"lr": [1e-3, 1e-2]}, seeds=3, engine="serial", out=out,
                progress=False, overrides=["epochs=2"])
    rec = json.loads((out / "sweep.json").read_text())
    assert rec == json.loads(json.dumps(res.record))
    assert rec["engine"] == "serial" and rec["status"] == "complete"
    assert [t["point"] for t in rec["trials"]] == [{"lr": 1e-3}] * 3 + [{"lr": 1e-2}] * 3
    assert [t["seed"] for t in rec["trials"]] == [0, 1, 2, 0, 1, 2]
    assert all(t["status"] == "ok" and t["attempts"] == 1 for t in rec["trials"])
    assert all(t["config"]["n_seeds"] == 1 for t in rec["trials"])  # the sweep owns seeds
    assert [s["point"] for s in rec["summary"]] == [{"lr": 1e-3}, {"lr": 1e-2}]
    for s in rec["summary"]:
        acc = s["metrics"]["test_accuracy"]
        vals = [toy_score(s["point"]["lr"], k) for k in range(3)]
        assert s["n"] == 3 and s["failed"] == 0 and acc["n"] == 3
        assert acc["values"] == pytest.approx(vals)
        assert acc["mean"] == pytest.approx(sum(vals) / 3)
        assert acc["std"] == pytest.approx(0.01 * math.sqrt(2 / 3))
        assert s["metrics"]["nested.half"]["mean"] == pytest.approx(acc["mean"] / 2)
    assert (out / "sweep.png").read_bytes()[:4] == b"\x89PNG"
    t = rec["trials"][4]
    tdir = out / "trials" / "0004"
    log = (tdir / "attempt1.log").read_text()
    assert "stdout of seed 1" in log and "toy run, seed 1" in log
    trial_rec = json.loads((tdir / "sweep_toy.json").read_text())
    assert trial_rec["config"] == t["config"] and trial_rec["trial"]["id"] == 4
    # a trial's record replays it
    again = experiments.replay(tdir / "sweep_toy.json", out=None)
    assert again.record["metrics"] == trial_rec["metrics"]


def test_serial_failures_are_reported_retried_and_never_lose_the_others(tmp_path, capsys):
    out = tmp_path / "sw"
    flaky = tmp_path / "flaky"
    flaky.mkdir()
    code = main(["sweep", "sweep_toy", "--engine", "serial", "--seeds", "4", "--set",
                 "fail_seeds=2", "--set", f"flaky_dir={flaky}", "--max-failures", "1",
                 "--out", str(out), "--no-progress"])
    assert code == 1
    err = capsys.readouterr().err
    assert "trial 2 (attempt 1 of 2) failed" in err and "toy failure for seed 2" in err
    assert "'fail_seeds': [2]" in err and "Traceback" in err
    assert "1 trial(s) failed on every attempt (2)" in err
    rec = json.loads((out / "sweep.json").read_text())
    status = [t["status"] for t in rec["trials"]]
    assert status == ["ok", "ok", "failed", "ok"]
    bad = rec["trials"][2]
    assert bad["attempts"] == 2 and len(bad["errors"]) == 2
    assert all("RuntimeError: toy failure for seed 2" in e["traceback"] for e in bad["errors"])
    assert bad["config"]["seed"] == 2
    for t in (rec["trials"][0], rec["trials"][1], rec["trials"][3]):  # flaky: second try
        assert t["attempts"] == 2 and "flaky failure" in t["errors"][0]["error"]
        assert t["files"]["logs"] == ["attempt1.log", "attempt2.log"]
    assert "OSError: flaky failure" in (out / "trials/0000/attempt1.log").read_text()
    s = rec["summary"][0]
    assert s["n"] == 3 and s["failed"] == 1
    assert s["metrics"]["test_accuracy"]["values"] == pytest.approx(
        [toy_score(0.003, k) for k in (0, 1, 3)])


def test_serial_optuna_search_with_asha_chooses_on_validation(tmp_path):
    pytest.importorskip("optuna")
    out = tmp_path / "search"
    res = sweep("sweep_toy", search="optuna", trials=8, space={"lr": "1e-4..1e-1:log"},
                early_stop="asha", engine="serial", out=out, progress=False,
                overrides=["epochs=4"])
    rec = res.record
    s = rec["search"]
    assert s["metric"] == "validation_accuracy" and s["early_stop"] == "asha"
    assert len(rec["trials"]) == 8
    # seeded TPE in one process: the same trials every time; ASHA stops the later weak ones
    status = [t["status"] for t in rec["trials"]]
    assert status[:4] == ["ok"] * 4 and "pruned" in status[4:] and set(status) == {"ok",
                                                                                  "pruned"}
    for t in rec["trials"]:
        if t["status"] == "pruned":
            assert len(t["intermediate"]) < 4 and t["metrics"] is None
    assert all(t["config"]["validation"] == 0.2 for t in rec["trials"])
    done = [t for t in rec["trials"] if t["status"] == "ok"]
    best = max(done, key=lambda t: t["metrics"]["validation_accuracy"])
    assert s["best"]["value"] == best["metrics"]["validation_accuracy"]
    assert s["best"]["params"]["lr"] == pytest.approx(best["config"]["lr"])
    chosen = json.loads((out / "best.json").read_text())
    assert chosen["config"]["validation"] == 0.0  # the final run trains on all and tests
    assert chosen["config"]["lr"] == best["config"]["lr"]
    cfg = experiments.make_config("sweep_toy", config_file=out / "best.json")
    assert cfg.lr == best["config"]["lr"]
    assert all(t["intermediate"] for t in rec["trials"])


def test_unreachable_address_fails_fast_with_a_clear_message(tmp_path, capsys):
    pytest.importorskip("ray")
    code = main(["sweep", "sweep_toy", "--address", "127.0.0.1:1", "--out",
                 str(tmp_path / "o")])
    assert code == 2
    err = capsys.readouterr().err
    assert "--address 127.0.0.1:1: cannot reach 127.0.0.1:1" in err
    assert not (tmp_path / "o").exists()


def test_an_address_that_is_not_ray_times_out(tmp_path):
    """A port that accepts connections but is no Ray head: an error after the timeout (in a
    process of its own: the abandoned connection attempt must not outlive the test)."""
    pytest.importorskip("ray")
    import socket

    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(8)
        port = srv.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-W", "error", "-m", "physnn.cli", "sweep", "phyll_digits_demo",
             "--address", f"127.0.0.1:{port}", "--connect-timeout", "2", "--out",
             str(tmp_path / "o")], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert f"--address 127.0.0.1:{port}: no Ray cluster answered within 2 s" in proc.stderr
    assert not (tmp_path / "o").exists()


# ----------------------------------------------------------------------------- Ray engine


def test_ray_sweep_of_quick_digits_saves_models_and_matches_a_serial_run(
        tmp_path, tests_on_pythonpath, capsys):
    """The issue's target command (two seeds, one epoch): the sweep starts a local Ray and
    stops it; each trial's record, figure, log and trained model are written."""
    ray = pytest.importorskip("ray")
    out = tmp_path / "digits"
    code = main(["sweep", "phyll_digits_demo", "--quick", "--seeds", "2", "--set", "epochs=1",
                 "--engine", "ray", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    rec = json.loads((out / "sweep.json").read_text())
    assert rec["engine"] == "ray" and rec["cluster"]["address"] == "local"
    assert [t["status"] for t in rec["trials"]] == ["ok", "ok"]
    for t in rec["trials"]:
        tdir = out / "trials" / f"{t['id']:04d}"
        assert t["files"]["models"] == {"PhyLL": "phyll_digits_demo.physnn"}
        net, learner = pn.load(tdir / "phyll_digits_demo.physnn")
        assert isinstance(net, pn.PhysicalNetwork) and learner is not None
        assert (tdir / "phyll_digits_demo.png").is_file()
        assert "test accuracy" in (tdir / "attempt1.log").read_text()
    assert not ray.is_initialized()  # the sweep stopped the Ray it started
    one = experiments.run("phyll_digits_demo",
                          experiments.make_config("phyll_digits_demo", quick=True, epochs=1,
                                                  seed=1), out=None, progress=False)
    assert one.record["metrics"] == rec["trials"][1]["metrics"]


def test_ray_failing_trial_is_reported_and_retried_others_finish(tmp_path, ray_local):
    flaky = tmp_path / "flaky"
    flaky.mkdir()
    res = sweep("sweep_toy", seeds=4, engine="ray", out=tmp_path / "sw", progress=False,
                max_failures=1, overrides=["fail_seeds=1", f"flaky_dir={flaky}"])
    status = [t["status"] for t in res.trials]
    assert status == ["ok", "failed", "ok", "ok"]
    bad = res.trials[1]
    assert bad["attempts"] == 2 and bad["config"]["fail_seeds"] == [1]
    assert all("toy failure for seed 1" in e["traceback"] for e in bad["errors"])
    assert all(e["node"] for e in bad["errors"])
    good = [t for t in res.trials if t["status"] == "ok"]
    assert all(t["attempts"] == 2 for t in good)
    pids = {json.loads((tmp_path / "sw/trials" / f"{t['id']:04d}/sweep_toy.json")
                       .read_text())["timings"]["pid"] for t in good}
    assert os.getpid() not in pids  # they ran in Ray's workers
    assert res.summary[0]["n"] == 3 and res.summary[0]["failed"] == 1
    assert ray_local.is_initialized()  # a Ray it did not start is left running


def test_ray_optuna_search_with_asha(tmp_path, ray_local):
    pytest.importorskip("optuna")
    res = sweep("sweep_toy", search="optuna", trials=6, space={"lr": "1e-4..1e-1:log"},
                early_stop="asha", engine="ray", out=tmp_path / "s", progress=False,
                overrides=["epochs=3"])
    assert len(res.trials) == 6
    assert {t["status"] for t in res.trials} <= {"ok", "pruned"}
    assert res.record["search"]["best"] is not None
    assert (tmp_path / "s" / "best.json").is_file() and (tmp_path / "s/sweep.png").is_file()


def test_scripts_run_the_registered_experiments(tmp_path):
    """``experiments/<name>.py`` is a thin script with the same flags as ``physnn run``."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, "-W", "error", str(REPO / "experiments" /
                                                               "spiking_demo.py"),
                           "--quick", "--set", "neurons=16", "--out", str(tmp_path)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rec = json.loads((tmp_path / "spiking_demo.json").read_text())
    assert rec["config"]["neurons"] == 16 and rec["run"]["experiment"] == "spiking_demo"


@pytest.mark.parametrize(("overrides", "validation", "used"), [
    (["validation=0.3"], None, 0.3),   # the experiment's own held-out fraction
    (["validation=0.3"], 0.3, 0.3),    # the same value twice is no conflict
    ([], 0.25, 0.25),                  # --validation sets it
    ([], None, 0.2),                   # neither: 0.2
])
def test_search_validation_fraction_comes_from_the_flag_or_the_config(
        tmp_path, overrides, validation, used):
    pytest.importorskip("optuna")
    out = tmp_path / "s"
    res = sweep("sweep_toy", search="optuna", trials=2, space={"lr": "1e-3..1e-2:log"},
                engine="serial", out=out, progress=False, validation=validation,
                overrides=["epochs=1", *overrides])
    assert res.record["search"]["validation"] == used
    assert all(t["config"]["validation"] == used for t in res.record["trials"])
    base = 0.3 if overrides else 0.0  # best.json trains as the base config does
    assert json.loads((out / "best.json").read_text())["config"]["validation"] == base


def test_search_validation_flag_and_config_must_agree(tmp_path):
    pytest.importorskip("optuna")
    with pytest.raises(ConfigError, match=r"--validation 0.25 and the config's validation"):
        sweep("sweep_toy", search="optuna", trials=2, space={"lr": "1e-3..1e-2:log"},
              engine="serial", out=tmp_path / "s", progress=False, validation=0.25,
              overrides=["validation=0.3"])
    assert not (tmp_path / "s").exists()  # refused before any work
