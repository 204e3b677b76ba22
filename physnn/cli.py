"""The ``physnn`` command line: ``physnn bench NAME [...]``."""

from __future__ import annotations

import argparse
import importlib
import sys

# Benchmark name -> module under physnn.bench exposing add_arguments(parser) and run(args).
BENCHMARKS = {
    "lif": "physnn.bench.lif",
    "wave": "physnn.bench.wave",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="physnn", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
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


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "bench":
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
    return 2  # pragma: no cover - argparse requires a command


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
