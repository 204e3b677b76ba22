"""Typed configs: values from text, TOML and JSON are checked against the field types."""

from __future__ import annotations

import dataclasses
import json
from typing import Literal

import pytest

from physnn.config import (
    ConfigError,
    build,
    coerce,
    describe,
    load_file,
    parse_assignment,
    parse_text,
    to_dict,
)


@dataclasses.dataclass(frozen=True)
class Cfg:
    seed: int = 0
    lr: float = 1e-3
    name: str = "a"
    flag: bool = False
    device: Literal["cpu", "cuda", "auto"] = "cpu"
    shape: tuple[int, int] = (20, 20)
    methods: tuple[Literal["phyll", "readout"], ...] = ("phyll", "readout")
    limit: int | None = None

    def __post_init__(self) -> None:
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")


@pytest.mark.parametrize("key,text,value", [
    ("seed", "3", 3), ("lr", "1e-4", 1e-4), ("lr", "2", 2.0), ("name", "hello", "hello"),
    ("name", '"quoted"', "quoted"), ("flag", "true", True), ("flag", "no", False),
    ("device", "cuda", "cuda"), ("shape", "8,12", (8, 12)), ("shape", "[8, 12]", (8, 12)),
    ("methods", "phyll", ("phyll",)), ("methods", "readout,phyll", ("readout", "phyll")),
    ("limit", "none", None), ("limit", "7", 7),
])
def test_parse_text_reads_each_type(key, text, value):
    from physnn.config import field_types

    tp = field_types(Cfg)
    got = parse_text(key, tp[key], text)
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize("key,text", [
    ("seed", "abc"), ("seed", "1.5"), ("lr", "fast"), ("flag", "maybe"), ("device", "tpu"),
    ("shape", "1,2,3"), ("methods", "phyll,bogus"), ("limit", "x"),
])
def test_parse_text_rejects_wrong_types_naming_the_key(key, text):
    from physnn.config import field_types

    with pytest.raises(ConfigError, match=rf"--set: {key} expects .*got"):
        parse_text(key, field_types(Cfg)[key], text, "--set")


def test_coerce_is_strict():
    assert coerce("lr", float, 1) == 1.0
    for tp, v in ((int, True), (int, 1.0), (bool, 1), (str, 3), (float, "1")):
        with pytest.raises(ConfigError):
            coerce("k", tp, v)


def test_build_unknown_key_names_the_valid_ones_and_a_close_match():
    with pytest.raises(ConfigError) as e:
        build(Cfg, {"sed": 1}, source="--set", owner="toy")
    msg = str(e.value)
    assert "toy has no setting 'sed'" in msg and "did you mean 'seed'" in msg
    assert "valid keys: seed, lr, name, flag, device, shape, methods, limit" in msg


def test_build_runs_the_dataclass_checks():
    with pytest.raises(ConfigError, match="toy: seed must be >= 0"):
        build(Cfg, {"seed": -1}, owner="toy")
    c = build(Cfg, {"shape": [1, 2], "lr": 3}, base=Cfg(seed=4))
    assert c == Cfg(seed=4, shape=(1, 2), lr=3.0)


def test_to_dict_round_trips_through_json():
    c = Cfg(seed=2, lr=0.1 + 0.2, shape=(3, 4), limit=5)
    back = build(Cfg, json.loads(json.dumps(to_dict(c))))
    assert back == c


def test_parse_assignment():
    assert parse_assignment("a=b=c") == ("a", "b=c")
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        parse_assignment("novalue")


def test_load_file_toml_json_and_errors(tmp_path):
    t = tmp_path / "c.toml"
    t.write_text('experiment = "toy"\n[config]\nseed = 3\nshape = [1, 2]\n')
    f = load_file(t)
    assert f.experiment == "toy" and f.values == {"seed": 3, "shape": [1, 2]}
    t.write_text("seed = 3\n")
    assert load_file(t).values == {"seed": 3} and load_file(t).experiment is None
    j = tmp_path / "r.json"
    j.write_text(json.dumps({"claim": "x", "metrics": {}, "config": {"seed": 1},
                             "run": {"experiment": "toy"}}))
    assert load_file(j).experiment == "toy" and load_file(j).values == {"seed": 1}
    bad = tmp_path / "bad.toml"
    bad.write_text("seed = = 3\n")
    with pytest.raises(ConfigError, match=r"--config '.*bad.toml' is not valid TOML"):
        load_file(bad)
    badj = tmp_path / "bad.json"
    badj.write_text("{not json")
    with pytest.raises(ConfigError, match="is not valid JSON"):
        load_file(badj)
    with pytest.raises(ConfigError, match="no such file"):
        load_file(tmp_path / "missing.toml")
    other = tmp_path / "c.yaml"
    other.write_text("seed: 1\n")
    with pytest.raises(ConfigError, match="expected a .toml file"):
        load_file(other)
    arr = tmp_path / "arr.json"
    arr.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="table of settings"):
        load_file(arr)


def test_describe_rows():
    rows = describe(Cfg(), Cfg(seed=1))
    assert rows[0][:4] == ("seed", "int", 0, 1)
    assert rows[4][1] == "'cpu' | 'cuda' | 'auto'"
