"""``physnn run`` / ``physnn list``: typed configs, exact replay, and clear usage errors."""

from __future__ import annotations

import json
import tomllib

import pytest

from physnn import __version__, experiments
from physnn.cli import main

pytestmark = pytest.mark.usefixtures("reset_cli_logging")


def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == f"physnn {__version__}"


def test_list_names_every_experiment_and_shows_settings(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in ("phyll_digits_demo", "phyll_vowels", "phyll_fashion_optics", "sltt_vs_bptt",
                 "hardware_gallery", "wave_cavity_demo", "spiking_demo"):
        assert name in out
        assert experiments.get(name).description in out
    assert main(["list", "phyll_digits_demo"]) == 0
    out = capsys.readouterr().out
    assert "epochs" in out and "10 -> 2" in out and "'cpu' | 'cuda' | 'auto'" in out


def test_every_experiment_declares_a_typed_config_and_quick_settings():
    for name in experiments.names():
        exp = experiments.get(name)
        default, quick = exp.default_config(), exp.quick_config()
        assert quick.quick is True and default.quick is False
        assert default.device == "cpu" and isinstance(default.seed, int)
        assert default != quick


def test_run_writes_record_and_replay_gives_identical_metrics(tmp_path, capsys):
    first, second = tmp_path / "a", tmp_path / "b"
    assert main(["run", "phyll_digits_demo", "--quick", "--set", "epochs=1", "--seed", "3",
                 "--out", str(first), "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "test accuracy" in err and "wrote" in err
    rec = json.loads((first / "phyll_digits_demo.json").read_text())
    assert set(rec) == {"claim", "metrics", "config", "timings", "setup", "run"}
    assert rec["config"]["epochs"] == 1 and rec["config"]["seed"] == 3
    assert rec["config"]["quick"] is True and rec["config"]["camera"] == [20, 20]
    run = rec["run"]
    assert run["experiment"] == "phyll_digits_demo" and run["physnn"] == __version__
    assert run["device"].startswith("cpu") and "git_commit" in run and run["wall_s"] > 0
    assert (first / "phyll_digits_demo.png").read_bytes()[:4] == b"\x89PNG"
    # replay from the JSON alone: the same config and the same numbers
    assert main(["run", "--config", str(first / "phyll_digits_demo.json"), "--out",
                 str(second), "--no-progress"]) == 0
    again = json.loads((second / "phyll_digits_demo.json").read_text())
    assert again["config"] == rec["config"]
    assert again["metrics"] == rec["metrics"]


def test_toml_config_set_overrides_and_show_config(tmp_path, capsys):
    cfg = tmp_path / "digits.toml"
    cfg.write_text('experiment = "phyll_digits_demo"\n[config]\nepochs = 4\nlr = 0.002\n'
                   'camera = [8, 8]\n')
    assert main(["run", "--config", str(cfg), "--set", "lr=5e-3", "--device", "auto",
                 "--show-config"]) == 0
    printed = capsys.readouterr().out
    shown = tomllib.loads(printed)
    assert shown["experiment"] == "phyll_digits_demo"
    c = shown["config"]
    assert c["epochs"] == 4 and c["lr"] == 0.005 and c["camera"] == [8, 8]
    assert c["device"] == "auto" and c["quick"] is False
    # what --show-config prints is itself a config file
    again = tmp_path / "shown.toml"
    again.write_text(printed)
    cfg2 = experiments.make_config("phyll_digits_demo", config_file=again)
    assert cfg2 == experiments.make_config("phyll_digits_demo", config_file=cfg,
                                           overrides=["lr=5e-3", "device=auto"])


@pytest.mark.parametrize("argv,expected", [
    (["run", "nope"], "unknown experiment 'nope'"),
    (["run", "phyll_digit_demo"], "did you mean 'phyll_digits_demo'"),
    (["run", "phyll_digits_demo", "--set", "epoch=3"],
     "phyll_digits_demo has no setting 'epoch' (did you mean 'epochs'?); valid keys: seed,"),
    (["run", "phyll_digits_demo", "--set", "epochs=abc"], "epochs expects int, got 'abc'"),
    (["run", "phyll_digits_demo", "--set", "epochs=0"], "epochs must be >= 1"),
    (["run", "phyll_digits_demo", "--set", "camera=1,2,3"], "camera expects tuple[int, int]"),
    (["run", "phyll_digits_demo", "--set", "noequals"], "expected KEY=VALUE"),
    (["run"], "give an experiment NAME or --config FILE"),
    (["sweep", "phyll_digits_demo", "--grid", "epochs=1,x"], "epochs expects int, got 'x'"),
    (["sweep", "phyll_digits_demo", "--grid", "epoch=1,2"], "has no setting 'epoch'"),
    (["sweep", "nope"], "unknown experiment 'nope'"),
    (["sweep", "phyll_digits_demo", "--search", "optuna", "--trials", "2"],
     "needs a search space"),
    (["sweep", "phyll_digits_demo", "--search", "optuna", "--trials", "2", "--space",
      "lr=1e-4..1e-2:log", "--metric", "test_accuracy"], "never on the test set"),
    (["sweep", "phyll_vowels", "--search", "optuna", "--trials", "2", "--space",
      "phyll_lr=1e-4..1e-2"], "phyll_vowels has no validation split"),
    (["sweep", "phyll_digits_demo", "--engine", "serial", "--address", "localhost:6379"],
     "--address joins a Ray cluster: it needs --engine ray"),
    (["sweep", "phyll_digits_demo", "--max-failures", "-1"], "--max-failures must be"),
])
def test_usage_errors_exit_2_naming_the_argument(argv, expected, capsys, tmp_path):
    assert main(argv + ["--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert expected in err, err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("argv,flag", [
    (["sweep", "phyll_digits_demo", "--engine", "dask"], "--engine"),
    (["run", "phyll_digits_demo", "--device", "tpu"], "--device"),
    (["run", "phyll_digits_demo", "--seed", "x"], "--seed"),
])
def test_argparse_errors_exit_2(argv, flag, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2 and flag in capsys.readouterr().err


def test_config_file_errors(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("epochs = = 2\n")
    assert main(["run", "phyll_digits_demo", "--config", str(bad)]) == 2
    assert f"--config '{bad}' is not valid TOML" in capsys.readouterr().err
    rec = tmp_path / "rec.json"
    rec.write_text(json.dumps({"config": {"seed": 1}, "run": {"experiment": "phyll_vowels"}}))
    assert main(["run", "phyll_digits_demo", "--config", str(rec)]) == 2
    assert "is a config of 'phyll_vowels', not of 'phyll_digits_demo'" in (
        capsys.readouterr().err)
    typed = tmp_path / "typed.toml"
    typed.write_text('epochs = "ten"\n')
    assert main(["run", "phyll_digits_demo", "--config", str(typed)]) == 2
    assert "epochs expects int, got 'ten'" in capsys.readouterr().err


def test_unwritable_out_is_refused_before_any_work(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert main(["run", "phyll_digits_demo", "--quick", "--out", str(blocker / "sub")]) == 2
    err = capsys.readouterr().err
    assert "--out" in err and "not a writable folder" in err
    assert main(["sweep", "phyll_digits_demo", "--engine", "serial", "--out",
                 str(blocker)]) == 2
    assert "--out" in capsys.readouterr().err


def test_missing_data_exits_1_before_writing(tmp_path, monkeypatch, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PHYSNN_DATA", str(empty))
    out = tmp_path / "out"
    assert main(["run", "phyll_vowels", "--quick", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("physnn run phyll_vowels: hillenbrand_formants_women7.csv")
    assert not out.exists()


def test_quiet_and_verbose(tmp_path, capsys):
    assert main(["-q", "run", "spiking_demo", "--quick", "--out", str(tmp_path)]) == 0
    assert capsys.readouterr().err == ""
    assert main(["run", "spiking_demo", "--quick", "--out", str(tmp_path), "-v"]) == 0
    err = capsys.readouterr().err
    assert "INFO physnn.experiments.spiking_demo:" in err


def test_unavailable_device_is_a_usage_error(tmp_path, capsys):
    if "cuda" in __import__("physnn").available_backends():
        pytest.skip("a CUDA device is usable here")
    assert main(["run", "phyll_digits_demo", "--quick", "--device", "cuda", "--out",
                 str(tmp_path / "o")]) == 2
    assert "--device cuda:" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
