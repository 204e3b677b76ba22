"""A sweep's plan: the grid, the seeds, the search space, and one :class:`TrialSpec` per trial."""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..config import ConfigError, build, field_types, parse_assignment, parse_text
from ..config import _split_top as split_values

__all__ = ["Param", "TrialSpec", "expand_grid", "parse_grid", "parse_space"]


@dataclasses.dataclass(frozen=True)
class TrialSpec:
    """Everything a worker needs to run one trial (plain data: it travels to other nodes).

    Attributes
    ----------
    id : int
        The trial's number in the sweep (its folder is ``trials/<id:04d>``).
    experiment, module : str
        The experiment's name and the module that implements it.
    config : dict
        Every setting of the trial (:func:`physnn.config.to_dict`).
    point : dict
        The grid point or searched parameters this trial stands for (seed excluded).
    attempt : int
        1 for the first try, 2 for the first retry, ...
    cpus : float
        CPU cores the trial may use (its Numba and BLAS thread count).
    report : bool
        Whether the trial reports its objective per epoch (early stopping).
    log_path : str or None
        Where the trial streams its log when it runs on the driver's machine.
    driver_node : str or None
        The Ray node id of the driver (a trial elsewhere does not write to ``log_path``).
    """

    id: int
    experiment: str
    module: str
    config: dict
    point: dict
    attempt: int = 1
    cpus: float = 1.0
    report: bool = False
    log_path: str | None = None
    driver_node: str | None = None


def _field(cls: type, key: str, source: str, owner: str) -> Any:
    types_ = field_types(cls)
    if key not in types_:
        build(cls, {key: None}, source=source, owner=owner)  # raises: names the valid keys
    return types_[key]


def parse_grid(cls: type, items: Iterable[str], owner: str) -> dict[str, list[Any]]:
    """``["epochs=2,4", "lr=1e-3,3e-3"]`` -> ``{"epochs": [2, 4], "lr": [0.001, 0.003]}``,
    each value checked against the field's type (commas inside ``[...]`` do not split)."""
    grid: dict[str, list[Any]] = {}
    for text in items:
        key, values = parse_assignment(text, "--grid")
        tp = _field(cls, key, f"--grid {text}", owner)
        if key in grid:
            raise ConfigError(f"--grid {text}: {key} is already in the grid")
        parts = [v for v in split_values(values) if v != ""]
        if not parts:
            raise ConfigError(f"--grid {text}: give at least one value (KEY=V1,V2,...)")
        grid[key] = [parse_text(key, tp, v, f"--grid {text}") for v in parts]
    return grid


@dataclasses.dataclass(frozen=True)
class Param:
    """One searched setting: a choice among ``values``, or a range ``low .. high`` (``log``)."""

    key: str
    kind: str  # "choice", "int", "float"
    values: tuple = ()
    low: float = 0.0
    high: float = 0.0
    log: bool = False

    def suggest(self, trial: Any) -> Any:
        """Draw the value from an Optuna trial."""
        if self.kind == "choice":
            return trial.suggest_categorical(self.key, list(self.values))
        if self.kind == "int":
            return trial.suggest_int(self.key, int(self.low), int(self.high), log=self.log)
        return trial.suggest_float(self.key, self.low, self.high, log=self.log)

    def as_dict(self) -> dict:
        if self.kind == "choice":
            return {"choice": list(self.values)}
        return {self.kind: [self.low, self.high], "log": self.log}


def parse_space(cls: type, items: Iterable[str], owner: str) -> list[Param]:
    """Search-space items ``KEY=V1,V2`` (a choice), ``KEY=LOW..HIGH`` (uniform; integers for
    an int setting) or ``KEY=LOW..HIGH:log`` (log-uniform)."""
    params = []
    for text in items:
        key, spec = parse_assignment(text, "--space")
        tp = _field(cls, key, f"--space {text}", owner)
        src = f"--space {text}"
        if any(p.key == key for p in params):
            raise ConfigError(f"{src}: {key} is already in the search space")
        spec = spec.strip()
        log = spec.endswith(":log")
        body = spec[:-4] if log else spec
        if ".." in body:
            if tp not in (int, float):
                raise ConfigError(f"{src}: a range needs a number setting; {key} is not one "
                                  "(give a choice: KEY=V1,V2,...)")
            lo_t, _, hi_t = body.partition("..")
            lo, hi = parse_text(key, tp, lo_t, src), parse_text(key, tp, hi_t, src)
            if not lo < hi:
                raise ConfigError(f"{src}: the range needs LOW < HIGH, got {lo} .. {hi}")
            if log and lo <= 0:
                raise ConfigError(f"{src}: a log range needs LOW > 0, got {lo}")
            params.append(Param(key, "int" if tp is int else "float", low=lo, high=hi, log=log))
        else:
            if log:
                raise ConfigError(f"{src}: ':log' applies to a range LOW..HIGH only")
            parts = [v for v in split_values(body) if v != ""]
            if not parts:
                raise ConfigError(f"{src}: give a choice V1,V2,... or a range LOW..HIGH")
            params.append(Param(key, "choice",
                                values=tuple(parse_text(key, tp, v, src) for v in parts)))
    return params


def seeds_for(first: int, n: int) -> list[int]:
    """``first, first + 1, ..., first + n - 1``."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"--seeds must be a positive integer, got {n!r}")
    return list(range(first, first + n))


def expand_grid(base: Any, grid: Mapping[str, Sequence[Any]], seeds: Sequence[int] | None,
                owner: str) -> list[tuple[dict, Any]]:
    """``[(point, config)]`` for every grid point and seed (points vary slowest), each config
    type-checked before any trial runs."""
    cls = type(base)
    types_ = field_types(cls)
    if seeds is not None and "seed" in grid:
        raise ConfigError("--grid seed=... and --seeds both choose seeds; give one of them")
    if seeds is not None and "seed" not in types_:
        raise ConfigError(f"--seeds: {owner} has no 'seed' setting")
    keys = list(grid)
    out = []
    for combo in itertools.product(*(grid[k] for k in keys)):
        point = dict(zip(keys, combo, strict=True))
        for s in seeds if seeds is not None else [None]:
            values = dict(point)
            if s is not None:
                values["seed"] = s
            out.append((point, build(cls, values, base=base, source=f"--grid {_label(point)}",
                                     owner=owner)))
    return out


def _label(point: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in point.items()) or "base config"


def point_label(point: Mapping[str, Any]) -> str:
    """``"epochs=2, lr=0.001"`` (``"base config"`` for the empty point)."""
    return _label(point)


def is_number(v: Any) -> bool:
    """A finite int or float (not a bool)."""
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
