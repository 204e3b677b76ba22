"""One trial, as a worker runs it: the experiment, its log, its record, figure and models.

:func:`run_trial` never raises for a failure of the experiment: it returns a
:class:`TrialOutcome` with ``status="failed"``, the error, its traceback and the log so far,
so that the driver reports it with the trial's config and decides about a retry.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import logging
import os
import socket
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from .._io import atomic_write_bytes
from ._plan import TrialSpec

__all__ = ["TrialOutcome", "run_trial"]


@dataclasses.dataclass
class TrialOutcome:
    """What one attempt of one trial produced (plain data: it travels back to the driver).

    Attributes
    ----------
    status : {"ok", "failed", "pruned"}
    record : dict or None
        The run's JSON record (``claim``, ``metrics``, ``config``, ``run``, ...).
    png : bytes or None
        The figure.
    models : dict
        ``{label: bytes}``: each trained model as a physnn file (:func:`physnn.save`).
    log : str
        Everything the trial logged or printed.
    error, traceback : str or None
        For a failed attempt.
    intermediate : list of [step, value]
        The objective values reported during the run (early stopping).
    """

    id: int
    attempt: int
    status: str
    record: dict | None = None
    png: bytes | None = None
    models: dict = dataclasses.field(default_factory=dict)
    log: str = ""
    error: str | None = None
    traceback: str | None = None
    node: str | None = None
    host: str = ""
    pid: int = 0
    wall_s: float = 0.0
    intermediate: list = dataclasses.field(default_factory=list)


class _Tee(io.TextIOBase):
    """A text stream writing to a buffer and, optionally, a file (flushed as it goes)."""

    def __init__(self, file: TextIO | None) -> None:
        self.buf = io.StringIO()
        self.file = file

    def write(self, s: str) -> int:
        self.buf.write(s)
        if self.file is not None:
            self.file.write(s)
            self.file.flush()
        return len(s)

    def writable(self) -> bool:
        return True


def _node_id() -> str | None:
    try:
        import ray

        if ray.is_initialized():
            return ray.get_runtime_context().get_node_id()
    except Exception:  # noqa: BLE001 - no Ray, or not in a Ray worker
        pass
    return None


@contextlib.contextmanager
def _capture(spec: TrialSpec, node: str | None):
    """Route stdout, stderr and the ``logging`` records of the trial into one log."""
    local = spec.log_path is not None and (spec.driver_node is None or node == spec.driver_node)
    fh = None
    if local:
        Path(spec.log_path).parent.mkdir(parents=True, exist_ok=True)
        fh = open(spec.log_path, "w", encoding="utf-8")  # noqa: SIM115 - closed below
    tee = _Tee(fh)
    handler = logging.StreamHandler(tee)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root, pkg = logging.getLogger(), logging.getLogger("physnn")
    # the trial's records go to its log only (not to a console handler of the driver)
    saved = (root.handlers[:], pkg.handlers[:], pkg.level, pkg.propagate)
    root.handlers, pkg.handlers = [handler], []
    pkg.setLevel(logging.INFO)
    pkg.propagate = True
    try:
        with contextlib.redirect_stdout(tee), contextlib.redirect_stderr(tee):
            yield tee
    finally:
        root.handlers, pkg.handlers = saved[0], saved[1]
        pkg.setLevel(saved[2])
        pkg.propagate = saved[3]
        if fh is not None:
            fh.close()


def _limit_threads(cpus: float) -> contextlib.AbstractContextManager:
    """Numba and BLAS threads of the trial: its share of the cores."""
    n = max(1, int(cpus))
    try:
        import numba

        numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    except Exception:  # noqa: BLE001 - a thread count is an optimisation only
        pass
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=n)


def _save_models(models: dict) -> dict[str, bytes]:
    from ..persist import save

    out = {}
    with tempfile.TemporaryDirectory(prefix="physnn-trial-") as tmp:
        for label, pair in models.items():
            net, learner = pair if isinstance(pair, tuple) else (pair, None)
            path = Path(tmp) / "model.physnn"
            save(path, net, learner)
            out[str(label)] = path.read_bytes()
    return out


def run_trial(spec: TrialSpec, reporter: Callable[[int, float], None] | None = None
              ) -> TrialOutcome:
    """Run one attempt of one trial (in this process); never raises for the experiment.

    Parameters
    ----------
    spec : TrialSpec
    reporter : callable, optional
        ``reporter(step, value) -> bool``: called with each intermediate objective when
        ``spec.report``; ``True`` stops the trial as pruned.
    """
    from ..config import build
    from ..experiments import Experiment, TrialPruned
    from ..experiments._runner import execute

    node = _node_id()
    t0 = time.perf_counter()
    out = TrialOutcome(spec.id, spec.attempt, "failed", node=node, host=socket.gethostname(),
                       pid=os.getpid())
    exp = Experiment(spec.experiment, spec.module, "")

    def report(step: int, value: float) -> None:
        out.intermediate.append([step, value])
        if reporter is not None and spec.report and reporter(step, value):
            raise TrialPruned(f"stopped early after step {step} (objective {value:.6g})")

    with _capture(spec, node) as tee:
        try:
            mod = exp.load()
            cfg = build(mod.Config, spec.config, source="trial config", owner=exp.name)
            logging.getLogger("physnn.sweep").info(
                "trial %d attempt %d on %s (pid %d): %s", spec.id, spec.attempt, out.host,
                out.pid, spec.config)
            with _limit_threads(spec.cpus):
                done = execute(exp.name, mod, cfg, progress=False, reporter=report)
            out.record, out.png = done.record, done.png
            out.models = _save_models(done.result.models)
            out.status = "ok"
        except TrialPruned as exc:
            out.status, out.error = "pruned", str(exc)
            print(f"pruned: {exc}")
        except BaseException as exc:  # noqa: BLE001 - reported to the driver, never lost
            if isinstance(exc, KeyboardInterrupt):
                raise
            out.error = f"{type(exc).__name__}: {exc}"
            out.traceback = traceback.format_exc()
            sys.stderr.write(out.traceback)
        finally:
            out.wall_s = time.perf_counter() - t0
        out.log = tee.buf.getvalue()
    return out


def write_log(path: Path, text: str) -> None:
    """Write a trial's log atomically (after a trial that ran on another node)."""
    atomic_write_bytes(path, text.encode("utf-8"))
