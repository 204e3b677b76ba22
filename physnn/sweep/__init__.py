"""Sweeps over seeds, grids and searched hyperparameters, on Ray or in this process.

::

    from physnn.sweep import sweep

    res = sweep("phyll_digits_demo", quick=True, seeds=4, grid={"epochs": [2, 4]},
                engine="ray", out="out/digits-sweep")
    res.summary[0]["metrics"]["test_accuracy"]      # {"mean", "std", "n", "values"}

Each trial is one run of the experiment (its own config, seed and folder). ``engine="ray"``
runs trials as Ray tasks: on a local Ray started for the sweep (no setup), or on the cluster
at ``address``; ``engine="serial"`` runs them here one after another. A trial that raises is
reported with its config and traceback, retried up to ``max_failures`` times, and never
dropped: the other trials finish, and ``sweep.json`` says which failed and why.

Writes into ``out``:

- ``trials/<id>/<name>.json``, ``.png``, ``.physnn`` (the trained model, when the
  experiment hands one back) and ``attempt<k>.log`` (everything the trial logged);
  ``physnn run --config trials/<id>/<name>.json`` replays a trial;
- ``sweep.json``: ``experiment``, ``engine``, ``cluster``, ``base_config``, ``grid``,
  ``seeds``, ``search``, ``trials`` (each with ``config``, ``status``, ``metrics``, ``errors``)
  and ``summary`` (mean ± std of every metric per grid point), rewritten after every trial;
- ``sweep.png``: the headline metrics per grid point (per-seed dots, mean ± std), or for a
  search the objective of every trial;
- ``best.json`` after a search: the best config with the validation split switched back off,
  so that ``physnn run --config best.json`` trains on all training data and tests once.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime
import logging
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .._io import atomic_savefig, atomic_write_bytes, atomic_write_json
from ..config import ConfigError, build, field_types, load_file, parse_assignment, to_dict
from ._engine import ClusterUnreachableError, RayEngine, SerialEngine, make_engine
from ._plan import Param, TrialSpec, expand_grid, parse_grid, parse_space, seeds_for
from ._report import Progress, flatten, lookup, summarize, sweep_figure
from ._search import Search
from ._trial import TrialOutcome, run_trial, write_log

__all__ = [
    "ClusterUnreachableError",
    "Param",
    "RayEngine",
    "SerialEngine",
    "SweepResult",
    "TrialOutcome",
    "TrialSpec",
    "flatten",
    "run_trial",
    "summarize",
    "sweep",
]

log = logging.getLogger("physnn.sweep")


@dataclasses.dataclass
class SweepResult:
    """A finished sweep: ``record`` is what ``sweep.json`` holds."""

    out: Path
    record: dict

    @property
    def trials(self) -> list[dict]:
        return self.record["trials"]

    @property
    def summary(self) -> list[dict]:
        return self.record["summary"]

    @property
    def failed(self) -> list[dict]:
        """The trials that failed on every attempt."""
        return [t for t in self.trials if t["status"] == "failed"]


def _grid_dict(cls: type, grid: Mapping[str, Sequence[Any]] | Sequence[str] | None,
               owner: str) -> dict[str, list[Any]]:
    if grid is None:
        return {}
    if isinstance(grid, Mapping):
        out = {}
        for key, values in grid.items():
            if isinstance(values, str) or not isinstance(values, Sequence) or not values:
                raise ConfigError(f"grid[{key!r}] must be a non-empty list of values")
            out[key] = [getattr(build(cls, {key: v}, source=f"grid {key}", owner=owner), key)
                        for v in values]
        return out
    return parse_grid(cls, grid, owner)


def _space_list(cls: type, space: Mapping[str, str] | Sequence[str] | None,
                owner: str) -> list[Param]:
    if not space:
        return []
    items = [f"{k}={v}" for k, v in space.items()] if isinstance(space, Mapping) else space
    return parse_space(cls, items, owner)


def _trial_dir(out: Path, trial_id: int) -> Path:
    return out / "trials" / f"{trial_id:04d}"


def _slug(label: str) -> str:
    keep = "".join(c if c.isalnum() or c in "-_" else "-" for c in label.lower())
    return "-".join(p for p in keep.split("-") if p)


def sweep(experiment: str, *, grid: Mapping[str, Sequence[Any]] | Sequence[str] | None = None,
          seeds: int | None = 1, seed: int | None = None, quick: bool = False,
          config_file: str | os.PathLike | None = None, overrides: Sequence[str] = (),
          engine: str = "ray", address: str | None = None, cpus_per_trial: float = 1.0,
          gpus_per_trial: float = 0.0, max_failures: int = 0, search: str | None = None,
          trials: int | None = None, space: Mapping[str, str] | Sequence[str] | None = None,
          metric: str | None = None, direction: str = "maximize",
          early_stop: str | None = None, validation: float | None = None,
          out: str | os.PathLike = "out/sweep", progress: bool = True,
          connect_timeout: float = 15.0) -> SweepResult:
    """Run an experiment over seeds and a grid of settings, or search its hyperparameters.

    Parameters
    ----------
    experiment : str
        A registered experiment (``physnn list``).
    grid : mapping or list of "KEY=V1,V2"
        Settings to take every combination of; each value is type-checked.
    seeds : int, default 1
        Trials per grid point, with seeds ``seed, seed + 1, ...``. Each trial runs one seed
        (an experiment's ``n_seeds`` is set to 1 unless you set it).
    seed : int, optional
        The first seed (default: the config's).
    quick, config_file, overrides
        The base config, as for ``physnn run`` (``--quick``, ``--config``, ``--set``).
    engine : {"ray", "serial"}
    address : str, optional
        A running Ray cluster (``HOST:PORT``, ``ray://HOST:PORT`` or ``auto``); without it a
        local Ray is started for the sweep and stopped after it.
    cpus_per_trial, gpus_per_trial : float
        Resources each Ray task reserves; a trial with ``device="cuda"`` gets one GPU.
    max_failures : int
        Retries of a trial that raises (each failed attempt is reported and kept).
    search : {None, "optuna"}
        Search ``space`` with Optuna for ``trials`` trials, maximising (``direction``) the
        validation ``metric`` (default: the experiment's ``OBJECTIVE``) on a fraction of
        the training data held out from it; the test set is never used to choose.
    validation : float, optional
        That held-out fraction: this value when given (a base config that sets another one
        is an error), else the base config's ``validation`` when it holds one out, else 0.2.
        ``best.json`` switches it back to the base config's value.
    space : mapping or list of "KEY=SPEC"
        ``V1,V2,...`` (a choice), ``LOW..HIGH`` (uniform) or ``LOW..HIGH:log``.
    early_stop : {None, "asha"}
        Stop unpromising search trials early (asynchronous successive halving on the
        per-epoch validation score).
    out : path
        The sweep's folder (checked for writing before any work).
    progress : bool
        The progress line on standard error.
    connect_timeout : float
        Seconds to wait for a Ray cluster before giving up.

    Raises
    ------
    ConfigError
        For bad input (unknown experiment, key, value type, engine, an unreachable
        ``address``, an unwritable ``out``), before any trial runs.
    """
    from ..experiments import get, make_config
    from ..experiments._runner import check_out, environment

    exp = get(experiment)
    mod = exp.load()
    cls = mod.Config
    if engine not in ("ray", "serial"):
        raise ConfigError(f"--engine {engine!r}: choose 'ray' or 'serial'")
    if isinstance(max_failures, bool) or not isinstance(max_failures, int) or max_failures < 0:
        raise ConfigError(f"--max-failures must be an integer >= 0, got {max_failures!r}")
    if not cpus_per_trial > 0 or gpus_per_trial < 0:
        raise ConfigError("--cpus-per-trial must be > 0 and --gpus-per-trial >= 0, got "
                          f"{cpus_per_trial!r} and {gpus_per_trial!r}")
    explicit = set()
    for text in overrides:
        explicit.add(parse_assignment(text)[0])
    if config_file is not None:
        cf = load_file(config_file)
        explicit |= set(cf.values)
        config_file = cf
    base = make_config(exp, quick=quick, config_file=config_file, overrides=overrides)
    types_ = field_types(cls)
    if seed is not None:
        base = build(cls, {"seed": seed}, base=base, source="--seed", owner=exp.name)
    grid_d = _grid_dict(cls, grid, exp.name)
    params = _space_list(cls, space, exp.name)
    search_info = None
    if search is not None:
        if search != "optuna":
            raise ConfigError(f"--search {search!r}: the only search is 'optuna'")
        if grid_d:
            raise ConfigError("--grid and --search exclude each other: give the search space "
                              "with --space KEY=SPEC")
        if not params:
            raise ConfigError("--search optuna needs a search space: --space KEY=V1,V2 | "
                              "KEY=LOW..HIGH | KEY=LOW..HIGH:log")
        if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
            raise ConfigError(f"--trials must be a positive integer, got {trials!r}")
        if seeds not in (None, 1):
            raise ConfigError("--seeds: a search trial runs one seed; leave --seeds out")
        if direction not in ("maximize", "minimize"):
            raise ConfigError(f"--direction {direction!r}: choose 'maximize' or 'minimize'")
        if early_stop not in (None, "asha"):
            raise ConfigError(f"--early-stop {early_stop!r}: the only rule is 'asha'")
        if "validation" not in types_:
            raise ConfigError(f"--search: {exp.name} has no validation split (no 'validation' "
                              "setting), and a search must not choose on the test set")
        metric = metric or getattr(mod, "OBJECTIVE", "validation_accuracy")
        if "validation" not in metric or "test" in metric:
            raise ConfigError(f"--metric {metric!r}: a search chooses on a validation metric "
                              "(held out from the training data), never on the test set")
        search_base_validation = base.validation
        if validation is None:
            validation = base.validation if base.validation > 0 else 0.2
        elif "validation" in explicit and base.validation != validation:
            raise ConfigError(f"--validation {validation!r} and the config's validation = "
                              f"{base.validation!r} disagree: give one of them")
        if isinstance(validation, bool) or not 0.0 < validation < 1.0:
            raise ConfigError(f"--validation must lie in (0, 1), got {validation!r}")
        if base.validation != validation:
            base = build(cls, {"validation": validation}, base=base, owner=exp.name)
        search_info = {"kind": "optuna", "trials": trials, "metric": metric,
                       "direction": direction, "early_stop": early_stop,
                       "space": {p.key: p.as_dict() for p in params},
                       "validation": base.validation, "sampler": "TPE", "sampler_seed":
                       getattr(base, "seed", 0)}
    elif params or trials is not None or early_stop is not None:
        raise ConfigError("--space, --trials and --early-stop belong to --search optuna")
    if "n_seeds" in types_ and "n_seeds" not in explicit and "n_seeds" not in grid_d:
        base = build(cls, {"n_seeds": 1}, base=base, owner=exp.name)
    seed_list = None
    if search is None and seeds is not None and "seed" not in grid_d:
        seed_list = seeds_for(getattr(base, "seed", 0), seeds)
    planned = expand_grid(base, grid_d, seed_list, exp.name) if search is None else []
    devices = {getattr(c, "device", "cpu") for _, c in planned} | {getattr(base, "device",
                                                                           "cpu")}
    if engine == "ray" and gpus_per_trial == 0 and "cuda" in devices:
        gpus_per_trial = 1.0
        log.info("device cuda: each trial reserves one GPU (--gpus-per-trial 1)")
    # ------------------------------------------------------------------ before any work
    out = Path(out)
    check_out(out, "sweep")
    if hasattr(mod, "check"):  # data and packages the runs need (they do not vary by trial)
        mod.check(base)
    eng = make_engine(engine, address=address, cpus_per_trial=cpus_per_trial,
                      gpus_per_trial=gpus_per_trial, connect_timeout=connect_timeout)
    t_start = time.perf_counter()
    eng.start()
    searcher = None
    try:
        if search is not None:
            searcher = Search(params, direction, int(getattr(base, "seed", 0)), early_stop,
                              remote=isinstance(eng, RayEngine))
        record = {
            "experiment": exp.name,
            "engine": eng.name,
            "cluster": eng.describe(),
            "status": "running",
            "base_config": to_dict(base),
            "grid": {k: [to_dict_value(v) for v in vs] for k, vs in grid_d.items()},
            "seeds": seed_list,
            "max_failures": max_failures,
            "search": search_info,
            "trials": [],
            "summary": [],
            "run": {**environment(exp.name, base), "wall_s": None},
        }
        record["run"].pop("experiment")
        out.mkdir(parents=True, exist_ok=True)
        result = _drive(exp, mod, eng, record, planned, searcher, base, trials, out,
                        max_failures, progress)
        if searcher is not None:
            best = searcher.best()
            record["search"]["best"] = best
            if best is not None:
                tid = next(i for i, n in searcher.numbers.items() if n == best["number"])
                best_trial = record["trials"][tid]
                cfg = dict(best_trial["config"], validation=search_base_validation)
                atomic_write_json(out / "best.json", {
                    "experiment": exp.name, "config": cfg,
                    "search": {"metric": metric, "value": best["value"],
                               "trial": best_trial["id"], "params": best["params"]}})
        record["status"] = "complete"
        record["run"]["wall_s"] = round(time.perf_counter() - t_start, 3)
        _write(out, record)
        _figure(out, exp.name, mod, record)
        return result
    finally:
        eng.close()


def to_dict_value(v: Any) -> Any:
    """A config value as plain JSON (tuples as lists)."""
    return [to_dict_value(a) for a in v] if isinstance(v, tuple | list) else v


def _write(out: Path, record: dict) -> None:
    record["summary"] = summarize(record["trials"])
    atomic_write_json(out / "sweep.json", record)


def _figure(out: Path, name: str, mod: Any, record: dict) -> None:
    import matplotlib.pyplot as plt

    s = record["search"]
    title = (f"{name}: Optuna search, {len(record['trials'])} trials" if s else
             f"{name}: {len(record['trials'])} trials, mean ± std over seeds")
    fig = sweep_figure(record["summary"], record["trials"], title=title,
                       metrics=getattr(mod, "SWEEP_METRICS", None), search=s)
    atomic_savefig(fig, out / "sweep.png", dpi=110)
    plt.close(fig)


def _drive(exp: Any, mod: Any, eng: Any, record: dict, planned: list, searcher: Search | None,
           base: Any, n_trials: int | None, out: Path, max_failures: int,
           progress: bool) -> SweepResult:
    """The driver loop: submit up to the engine's capacity, collect, retry, record."""
    trials = record["trials"]
    queue: collections.deque[TrialSpec] = collections.deque()
    cpus = eng.trial_cpus()

    def new_trial(point: dict, cfg: Any) -> TrialSpec:
        tid = len(trials)
        seed = getattr(cfg, "seed", None)
        trials.append({"id": tid, "point": point, "seed": seed, "config": to_dict(cfg),
                       "status": "pending", "attempts": 0, "metrics": None, "errors": [],
                       "node": None, "host": None, "wall_s": None, "files": {}})
        return TrialSpec(id=tid, experiment=exp.name, module=exp.module, config=to_dict(cfg),
                         point={k: to_dict_value(v) for k, v in point.items()}, attempt=1,
                         cpus=cpus, report=searcher is not None and record["search"][
                             "early_stop"] is not None,
                         log_path=str(_trial_dir(out, tid) / "attempt1.log"),
                         driver_node=eng.driver_node)

    for point, cfg in planned:
        queue.append(new_trial({k: v for k, v in point.items()}, cfg))
    total = len(trials) if searcher is None else n_trials
    bar = Progress(total, f"sweep {exp.name} ({eng.name})", enabled=progress)
    running: dict[int, TrialSpec] = {}
    asked = 0
    counts = collections.Counter()

    def status_line() -> None:
        bar.update(counts["ok"] + counts["failed"] + counts["pruned"], len(running),
                   counts["failed"], counts["pruned"], counts["retried"])

    def handle(o: TrialOutcome) -> None:
        spec = running.pop(o.id)
        t = trials[o.id]
        tdir = _trial_dir(out, o.id)
        t.update(attempts=o.attempt, node=o.node, host=o.host, wall_s=round(o.wall_s, 3))
        logname = f"attempt{o.attempt}.log"
        write_log(tdir / logname, o.log)
        t["files"]["logs"] = [f"attempt{k}.log" for k in range(1, o.attempt + 1)]
        if o.status == "ok":
            value = None
            if searcher is not None:
                value = lookup(o.record["metrics"], record["search"]["metric"])
                if value is None:
                    o.status, o.error = "failed", (
                        f"metric {record['search']['metric']!r} not among the trial's "
                        f"metrics: {sorted(flatten(o.record['metrics']))}")
        if o.status == "ok":
            rec = dict(o.record)
            rec["trial"] = {"sweep": str(out / "sweep.json"), "id": o.id, "attempt": o.attempt,
                            "point": t["point"], "node": o.node, "host": o.host}
            name = exp.name
            files = {"record": f"{name}.json"}
            if o.png is not None:
                atomic_write_bytes(tdir / f"{name}.png", o.png)
                files["figure"] = f"{name}.png"
            models = {}
            for label, data in o.models.items():
                fname = (f"{name}.physnn" if len(o.models) == 1
                         else f"{name}-{_slug(label) or 'model'}.physnn")
                atomic_write_bytes(tdir / fname, data)
                models[label] = fname
            if models:
                files["models"] = models
            rec["trial"]["files"] = files
            atomic_write_json(tdir / f"{name}.json", rec)
            t["files"].update(files)
            t["status"], t["metrics"] = "ok", o.record["metrics"]
            t["wall_s_run"] = o.record["run"].get("wall_s")
            counts["ok"] += 1
            if searcher is not None:
                t["intermediate"] = o.intermediate
                searcher.tell(o.id, "ok", value)
        elif o.status == "pruned":
            t["status"], t["intermediate"] = "pruned", o.intermediate
            t["errors"].append({"attempt": o.attempt, "error": o.error, "traceback": None,
                                "node": o.node, "host": o.host})
            counts["pruned"] += 1
            searcher.tell(o.id, "pruned")
        else:
            t["errors"].append({"attempt": o.attempt, "error": o.error,
                                "traceback": o.traceback, "node": o.node, "host": o.host})
            retry = o.attempt <= max_failures
            log.error("trial %d (attempt %d of %d) failed on %s: %s\n  config: %s\n%s",
                      o.id, o.attempt, max_failures + 1, o.host or "?", o.error, t["config"],
                      (o.traceback or "").rstrip())
            if retry:
                t["status"] = "retrying"
                counts["retried"] += 1
                nxt = dataclasses.replace(
                    spec, attempt=o.attempt + 1,
                    log_path=str(tdir / f"attempt{o.attempt + 1}.log"))
                queue.appendleft(nxt)
            else:
                t["status"] = "failed"
                counts["failed"] += 1
                if searcher is not None:
                    searcher.tell(o.id, "failed")
        _write(out, record)

    _write(out, record)
    try:
        while True:
            cap = eng.capacity()
            while len(running) < cap:
                if queue:
                    spec = queue.popleft()
                elif searcher is not None and asked < n_trials:
                    asked += 1
                    params = searcher.ask(len(trials))
                    cfg = build(type(base), params, base=base, source="--space",
                                owner=exp.name)
                    spec = new_trial(params, cfg)
                else:
                    break
                trials[spec.id]["status"] = "running"
                running[spec.id] = spec
                if isinstance(eng, SerialEngine):
                    status_line()
                eng.submit(spec, searcher)
                if isinstance(eng, SerialEngine):
                    break
            status_line()
            if not running:
                break
            for o in eng.wait(timeout=0.5):
                handle(o)
    except KeyboardInterrupt:
        eng.cancel_all()
        for tid in running:
            trials[tid]["status"] = "cancelled"
        record["status"] = "interrupted"
        _write(out, record)
        bar.close()
        raise
    bar.close()
    done = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    record["run"]["finished"] = done
    return SweepResult(out, record)
