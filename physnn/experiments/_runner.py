"""Run one experiment from its config and write ``<name>.json`` and ``<name>.png``.

The record is ``{"claim", "metrics", "config", "timings", "setup", "run"}``: ``config`` holds
every field of the experiment's config dataclass (so ``physnn run --config <name>.json``
replays the run exactly), ``run`` the experiment's name, the physnn version, the git commit of
a source checkout (when there is one), the Python / NumPy / Numba versions, the device the
run used, the start time and the wall time.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import io
import logging
import os
import platform
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .._io import atomic_write_bytes, atomic_write_json
from .._threads import one_blas_thread
from ..config import ConfigError, to_dict
from ._base import Result, RunContext

__all__ = ["Executed", "check_out", "environment", "execute", "git_commit", "write_outputs"]


@dataclasses.dataclass
class Executed:
    """One finished run: its JSON ``record``, its figure as PNG bytes, and the raw result."""

    record: dict
    png: bytes | None
    result: Result


@functools.lru_cache(maxsize=1)
def git_commit() -> str | None:
    """The commit of the source checkout physnn is imported from (``+dirty`` when tracked
    files differ from it), or ``None`` for an installed physnn or without git."""
    from ..data import source_checkout

    root = source_checkout()
    if root is None or not (root / ".git").exists():
        return None
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                              text=True, timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain",
                                "--untracked-files=no"], capture_output=True, text=True,
                               timeout=5, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{head}+dirty" if dirty else head


def _device_name(device: str) -> str:
    from ..backends import resolve_backend
    from ..bench._common import cpu_name, gpu_name

    try:
        chosen = resolve_backend(device)
    except Exception as exc:  # noqa: BLE001 - only a description
        return f"{device} (unavailable: {exc})"
    if chosen == "cuda":
        try:
            return f"cuda: {gpu_name()}"
        except Exception:  # noqa: BLE001
            return "cuda"
    return f"cpu: {cpu_name()}"


def environment(name: str, config: Any) -> dict:
    """The ``run`` section of a record: what produced the numbers, besides the config."""
    import numba
    import numpy as np

    from .. import __version__

    return {
        "experiment": name,
        "physnn": __version__,
        "git_commit": git_commit(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "platform": platform.platform(),
        "host": platform.node(),
        "device": _device_name(getattr(config, "device", "cpu")),
        "started": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }


def check_out(out: str | os.PathLike, name: str) -> Path:
    """Check, before any work, that ``<out>/<name>.json`` can be written."""
    from ..persist import PersistError, check_writable

    try:
        check_writable(Path(out) / f"{name}.json", "--out")
    except PersistError as exc:
        raise ConfigError(str(exc)) from None
    return Path(out)


def check_device(config: Any) -> None:
    """Raise :class:`ConfigError` when the config's ``device`` cannot run here."""
    from ..backends import BackendUnavailableError, resolve_backend

    device = getattr(config, "device", None)
    if device is None:
        return
    try:
        resolve_backend(device)
    except (BackendUnavailableError, ValueError) as exc:
        raise ConfigError(f"--device {device}: {exc}") from None


def execute(name: str, module: Any, config: Any, *, progress: bool = True,
            reporter: Callable[[int, float], None] | None = None) -> Executed:
    """Run ``module.run(config, ctx)`` and build its record (nothing is written)."""
    log = logging.getLogger(f"physnn.experiments.{name}")
    env = environment(name, config)
    started = time.perf_counter()
    with one_blas_thread():  # small matrices: BLAS threads only add overhead (and noise)
        result = module.run(config, RunContext(log=log, progress=progress, reporter=reporter))
    if not isinstance(result, Result):
        raise TypeError(f"{name}.run must return physnn.experiments.Result, got "
                        f"{type(result).__name__}")
    env["wall_s"] = round(time.perf_counter() - started, 3)
    record = {"claim": result.claim, "metrics": result.metrics, "config": to_dict(config),
              "timings": result.timings, "setup": result.setup, "run": env}
    png = None
    if result.figure is not None:
        import matplotlib.pyplot as plt

        buf = io.BytesIO()
        result.figure.savefig(buf, format="png", dpi=110, bbox_inches="tight")
        plt.close(result.figure)
        result.figure = None
        png = buf.getvalue()
    return Executed(record, png, result)


def write_outputs(out: str | os.PathLike, name: str, done: Executed) -> tuple[Path, Path | None]:
    """Write ``<out>/<name>.json`` and ``<out>/<name>.png`` atomically; returns their paths."""
    out = Path(out)
    png = atomic_write_bytes(out / f"{name}.png", done.png) if done.png is not None else None
    js = atomic_write_json(out / f"{name}.json", done.record)
    return js, png
