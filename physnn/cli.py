"""The ``physnn`` command line.

::

    physnn list [NAME]                      the experiments (NAME: its settings)
    physnn run NAME [--quick] [--set KEY=VALUE ...] [--device D] [--seed N] --out DIR
    physnn run --config DIR/NAME.json       replay a run exactly
    physnn sweep NAME [--seeds N] [--grid KEY=V1,V2 ...] [--engine ray|serial] --out DIR
    physnn bench lif|wave [...]             time the kernels

``-v`` / ``--quiet`` set the level of the standard :mod:`logging` messages, ``--version``
prints the version. Exit status: 0 on success, 1 when the run failed (missing data, a sweep
trial that failed on every attempt), 2 for a usage error (unknown experiment, key, value,
engine; a config file that does not parse; an unwritable ``--out``; an unreachable
``--address``).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from typing import Any

# Benchmark name -> module under physnn.bench exposing add_arguments(parser) and run(args).
BENCHMARKS = {
    "lif": "physnn.bench.lif",
    "wave": "physnn.bench.wave",
}

log = logging.getLogger("physnn")


def _version() -> str:
    from . import __version__

    return f"physnn {__version__}"


def _verbosity(p: argparse.ArgumentParser, top: bool) -> None:
    default = 0 if top else argparse.SUPPRESS
    g = p.add_mutually_exclusive_group()
    g.add_argument("-v", "--verbose", action="count", default=default,
                   help="more log messages (-vv: debug messages of every library)")
    g.add_argument("-q", "--quiet", action="store_true",
                   default=False if top else argparse.SUPPRESS,
                   help="only warnings and errors; no progress bars")


def add_config_arguments(p: argparse.ArgumentParser, *, run: bool) -> None:
    """The flags shared by ``physnn run``, ``physnn sweep`` and the experiment scripts."""
    p.add_argument("--config", metavar="FILE",
                   help="settings from a TOML file or a run's JSON record (replays that run)")
    p.add_argument("--set", metavar="KEY=VALUE", action="append", default=[],
                   help="change one setting (repeatable); `physnn list NAME` shows the keys")
    p.add_argument("--quick", action="store_true",
                   help="start from the small smoke-test settings instead of the paper's")
    p.add_argument("--device", choices=("cpu", "cuda", "auto"), default=None,
                   help="where to compute (same as --set device=...)")
    p.add_argument("--seed", type=int, default=None,
                   help="the seed (same as --set seed=N)" if run else
                   "the first seed of the sweep (default: the config's)")
    p.add_argument("--out", metavar="DIR", default=None,
                   help="output folder (default: out)" if run else
                   "the sweep's folder (default: out/<NAME>-sweep)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars or line")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="physnn", description="Simulate and train neuromorphic and physical neural "
        "networks: run and sweep the experiments, time the kernels.",
        epilog="`physnn COMMAND --help` describes a command.")
    parser.add_argument("--version", action="version", version=_version())
    _verbosity(parser, top=True)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("list", help="the experiments, one line each (NAME: its settings)")
    p.add_argument("name", nargs="?", metavar="NAME")
    _verbosity(p, top=False)

    p = sub.add_parser("run", help="run one experiment: <out>/<NAME>.json and <NAME>.png",
                       description="Run one experiment and write DIR/NAME.json (claim, "
                       "metrics, config, versions) and DIR/NAME.png. With --config "
                       "DIR/NAME.json it replays that run exactly.")
    p.add_argument("name", nargs="?", metavar="NAME",
                   help="the experiment (optional with --config of a run's JSON)")
    add_config_arguments(p, run=True)
    p.add_argument("--show-config", action="store_true",
                   help="print the resolved settings as TOML and stop")
    _verbosity(p, top=False)

    p = sub.add_parser(
        "sweep", help="run an experiment over seeds / a grid, or search it, on Ray",
        description="Run NAME over seeds and a grid of settings (every combination), each "
        "trial a Ray task (a local Ray unless --address), or search its settings with "
        "Optuna. Writes DIR/sweep.json (trials, mean ± std per grid point), DIR/sweep.png "
        "and each trial's record, figure, model and log under DIR/trials/.")
    p.add_argument("name", metavar="NAME", help="the experiment (`physnn list` names them)")
    add_config_arguments(p, run=False)
    p.add_argument("--seeds", type=int, default=None,
                   help="trials per grid point, one seed each (default 1)")
    p.add_argument("--grid", metavar="KEY=V1,V2", action="append", default=[],
                   help="a setting to sweep (repeatable: every combination runs)")
    p.add_argument("--engine", choices=("ray", "serial"), default="ray",
                   help="ray: Ray tasks (default); serial: one after another in this process")
    p.add_argument("--address", default=None,
                   help="join the Ray cluster at HOST:PORT, ray://HOST:PORT or auto "
                        "(default: start a local Ray)")
    p.add_argument("--cpus-per-trial", type=float, default=1.0, metavar="C",
                   help="CPU cores each Ray trial reserves (its Numba and BLAS threads; "
                        "default 1)")
    p.add_argument("--gpus-per-trial", type=float, default=0.0, metavar="G",
                   help="GPUs per trial (a --device cuda trial gets 1 by default)")
    p.add_argument("--max-failures", type=int, default=0, metavar="N",
                   help="retries of a trial that raises (default 0)")
    p.add_argument("--connect-timeout", type=float, default=15.0, metavar="S",
                   help="seconds to wait for the Ray cluster (default 15)")
    g = p.add_argument_group("hyperparameter search")
    g.add_argument("--search", choices=("optuna",), default=None,
                   help="search the --space with Optuna instead of a grid")
    g.add_argument("--trials", type=int, default=None, help="search trials")
    g.add_argument("--space", metavar="KEY=SPEC", action="append", default=[],
                   help="V1,V2,... (choice), LOW..HIGH (uniform) or LOW..HIGH:log")
    g.add_argument("--metric", default=None,
                   help="the validation metric to optimise (default: the experiment's)")
    g.add_argument("--direction", choices=("maximize", "minimize"), default="maximize")
    g.add_argument("--early-stop", choices=("asha",), default=None,
                   help="stop unpromising trials early (asynchronous successive halving)")
    g.add_argument("--validation", type=float, default=None, metavar="F",
                   help="fraction of the training data held out to choose on (default: the "
                        "experiment's own, or 0.2 where it holds none out)")
    _verbosity(p, top=False)

    bench = sub.add_parser("bench", help="time physnn kernels side by side with their peers")
    bench_sub = bench.add_subparsers(dest="benchmark", required=True)
    for name, modname in BENCHMARKS.items():
        p = bench_sub.add_parser(name, help=f"the {name} benchmark")
        p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
        p.add_argument("--quick", action="store_true", help="small sizes and few repeats")
        p.add_argument("--json", metavar="PATH", default=None, help="write the record here")
        p.set_defaults(_module=modname)
        try:
            importlib.import_module(modname).add_arguments(p)
        except ModuleNotFoundError:
            p.set_defaults(_missing=True)
    return parser


def setup_logging(verbose: int = 0, quiet: bool = False) -> None:
    """Log physnn's messages to standard error: INFO by default, DEBUG with ``-v``,
    warnings only with ``--quiet``; ``-vv`` shows every library's debug messages."""
    pkg = logging.getLogger("physnn")
    for h in list(pkg.handlers):
        if getattr(h, "_physnn_cli", False):
            pkg.removeHandler(h)
    handler = logging.StreamHandler(sys.stderr)
    handler._physnn_cli = True  # type: ignore[attr-defined]
    fmt = "%(message)s" if verbose == 0 else "%(asctime)s %(levelname)s %(name)s: %(message)s"
    handler.setFormatter(logging.Formatter(fmt, "%H:%M:%S"))
    pkg.addHandler(handler)
    pkg.setLevel(logging.WARNING if quiet else logging.INFO if verbose == 0 else logging.DEBUG)
    if verbose >= 2:
        logging.basicConfig(level=logging.DEBUG)


def _overrides(args: argparse.Namespace) -> list[str]:
    extra = []
    if getattr(args, "device", None) is not None:
        extra.append(f"device={args.device}")
    return list(args.set) + extra


def _toml(config: Any) -> str:
    from .config import to_dict

    lines = []
    for key, value in to_dict(config).items():
        if value is None:
            lines.append(f"# {key} = none")
        else:
            lines.append(f"{key} = {_toml_value(value)}")
    return "\n".join(lines)


def _toml_value(v: Any) -> str:
    import json

    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(a) for a in v) + "]"
    if isinstance(v, float):
        return repr(v) if v == v and abs(v) != float("inf") else ("nan" if v != v else
                                                                   ("inf" if v > 0 else "-inf"))
    return json.dumps(v) if isinstance(v, str) else str(v)


def cmd_list(args: argparse.Namespace) -> int:
    from . import experiments

    if args.name is None:
        width = max(len(n) for n in experiments.names())
        for exp in experiments.EXPERIMENTS.values():
            print(f"{exp.name:<{width}}  {exp.description}")
        return 0
    exp = experiments.get(args.name)
    print(f"{exp.name}: {exp.description}")
    doc = (exp.load().__doc__ or "").strip().splitlines()
    if doc:
        print(f"  ({doc[0]})")
    print()
    rows = experiments.config_rows(exp)
    kw = max(len(r[0]) for r in rows)
    tw = max(len(r[1]) for r in rows)
    print(f"{'key':<{kw}}  {'type':<{tw}}  default -> --quick    description")
    for key, tp, default, quick, help_ in rows:
        q = "" if quick == default else f" -> {quick!r}"
        print(f"{key:<{kw}}  {tp:<{tw}}  {default!r}{q}    {help_}")
    return 0


def run_command(args: argparse.Namespace, name: str | None, prog: str) -> int:
    """``physnn run`` (also the experiment scripts' main)."""
    from . import experiments
    from .data import DataNotFoundError

    exp, cf = experiments.resolve(name, args.config)
    overrides = _overrides(args)
    if args.seed is not None:
        overrides.append(f"seed={args.seed}")
    config = experiments.make_config(exp, quick=args.quick, config_file=cf, overrides=overrides)
    if getattr(args, "show_config", False):
        print(f"# physnn run --config FILE: {exp.name}\nexperiment = \"{exp.name}\"\n\n[config]")
        print(_toml(config))
        return 0
    out = args.out if args.out is not None else "out"
    experiments.check_out(out, exp.name)
    progress = not (args.no_progress or getattr(args, "quiet", False))
    try:
        done = experiments.run(exp, config, out=out, progress=progress)
    except DataNotFoundError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 1
    log.info("%s", done.record["claim"])
    log.info("wrote %s%s", done.json_path, f" and {done.png_path}" if done.png_path else "")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from .data import DataNotFoundError
    from .sweep import sweep

    out = args.out if args.out is not None else f"out/{args.name}-sweep"
    quiet = getattr(args, "quiet", False)
    try:
        res = sweep(args.name, grid=args.grid, seeds=args.seeds if args.seeds is not None
                    else (None if args.search else 1), seed=args.seed, quick=args.quick,
                    config_file=args.config, overrides=_overrides(args), engine=args.engine,
                    address=args.address, cpus_per_trial=args.cpus_per_trial,
                    gpus_per_trial=args.gpus_per_trial, max_failures=args.max_failures,
                    search=args.search, trials=args.trials, space=args.space or None,
                    metric=args.metric, direction=args.direction, early_stop=args.early_stop,
                    validation=args.validation, out=out,
                    progress=not (args.no_progress or quiet),
                    connect_timeout=args.connect_timeout)
    except DataNotFoundError as exc:
        print(f"physnn sweep {args.name}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"\nphysnn sweep {args.name}: interrupted; the finished trials are recorded in "
              f"{out}/sweep.json", file=sys.stderr)
        return 130
    from .experiments import get
    from .sweep._plan import point_label
    from .sweep._report import headline

    rec = res.record
    names = headline(res.summary, getattr(get(args.name).load(), "SWEEP_METRICS", None), 3)
    for s in res.summary if not rec.get("search") else []:
        head = [(k, s["metrics"][k]) for k in names if k in s["metrics"]]
        stats = ", ".join(f"{k} {v['mean']:.4g} ± {v['std']:.2g}" for k, v in head)
        log.info("%s (%d ok, %d failed): %s", point_label(s["point"]), s["n"], s["failed"],
                 stats or "no metrics")
    if rec.get("search"):
        count = {k: sum(t["status"] == k for t in res.trials) for k in ("ok", "pruned")}
        log.info("%d trials: %d finished, %d stopped early, %d failed", len(res.trials),
                 count["ok"], count["pruned"], len(res.failed))
    if rec.get("search") and rec["search"].get("best"):
        b = rec["search"]["best"]
        log.info("best: %s = %.6g with %s (config in %s/best.json)", rec["search"]["metric"],
                 b["value"], b["params"], out)
    log.info("wrote %s/sweep.json and %s/sweep.png (%s s)", out, out, rec["run"]["wall_s"])
    if res.failed:
        ids = ", ".join(str(t["id"]) for t in res.failed)
        print(f"physnn sweep {args.name}: {len(res.failed)} trial(s) failed on every attempt "
              f"({ids}); their configs and tracebacks are in {out}/sweep.json",
              file=sys.stderr)
        return 1
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    if getattr(args, "_missing", False):
        print(f"physnn: benchmark {args.benchmark!r} is not built yet", file=sys.stderr)
        return 2
    from .backends import BackendUnavailableError

    mod = importlib.import_module(args._module)
    try:
        mod.run(args)
    except BackendUnavailableError as exc:
        print(f"physnn bench {args.benchmark}: {exc}", file=sys.stderr)
        return 2
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command != "bench":
        setup_logging(args.verbose, args.quiet)
    from .config import ConfigError

    try:
        if args.command == "list":
            return cmd_list(args)
        if args.command == "run":
            return run_command(args, args.name, f"physnn run {args.name or ''}".strip())
        if args.command == "sweep":
            return cmd_sweep(args)
        return cmd_bench(args)
    except ConfigError as exc:
        print(f"physnn {args.command}: error: {exc}", file=sys.stderr)
        return 2


def script_main(name: str, argv: Sequence[str] | None = None) -> int:
    """``main`` of ``experiments/<name>.py``: the flags of ``physnn run NAME``."""
    from . import experiments

    exp = experiments.get(name)
    p = argparse.ArgumentParser(prog=f"{name}.py", description=exp.description)
    add_config_arguments(p, run=True)
    p.add_argument("--show-config", action="store_true",
                   help="print the resolved settings as TOML and stop")
    _verbosity(p, top=True)
    args = p.parse_args(argv)
    setup_logging(args.verbose, args.quiet)
    from .config import ConfigError

    try:
        return run_command(args, name, name)
    except ConfigError as exc:
        print(f"{name}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
