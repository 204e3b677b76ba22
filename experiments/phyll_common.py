"""Helpers shared by the ``phyll_*`` experiments: command line, record, figure output."""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(REPO))

from physnn._io import atomic_savefig, atomic_write_json  # noqa: E402
from physnn.data import DataNotFoundError  # noqa: E402


def parser(description: str) -> argparse.ArgumentParser:
    """The common command line: ``--quick``, ``--out DIR``, ``--seeds N``."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="small CI run (well under a minute)")
    p.add_argument("--out", default="out", help="folder for <name>.png and <name>.json")
    p.add_argument("--seeds", type=int, default=None, help="number of seeds (overrides mode)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


def run(main) -> None:
    """Run an experiment's ``main()`` as a script: missing data ends it with exit status 1
    and the loader's message (which names ``PHYSNN_DATA`` and the files), no traceback."""
    try:
        main()
    except DataNotFoundError as exc:
        sys.exit(f"{Path(sys.argv[0]).stem}: {exc}")


def mean_std(values) -> dict:
    """``{"mean", "std", "values"}`` of a list of numbers (population std)."""
    v = np.asarray(values, dtype=float)
    return {"mean": float(v.mean()), "std": float(v.std()), "values": [float(a) for a in v]}


def write_outputs(out: str | Path, name: str, fig, claim: str, metrics: dict, config: dict,
                  started: float) -> tuple[Path, Path]:
    """Write ``<name>.png`` and ``<name>.json`` atomically into ``out``."""
    out = Path(out)
    png = atomic_savefig(fig, out / f"{name}.png", dpi=120, bbox_inches="tight")
    config = dict(config, python=platform.python_version(), numpy=np.__version__,
                  wall_s=round(time.perf_counter() - started, 2))
    js = atomic_write_json(out / f"{name}.json", {"claim": claim, "metrics": metrics,
                                                  "config": config})
    return png, js
