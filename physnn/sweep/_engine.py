"""Where trials run: in this process one after another (``serial``), or as Ray tasks (``ray``).

Both engines take :class:`~physnn.sweep._plan.TrialSpec` objects and hand back
:class:`~physnn.sweep._trial.TrialOutcome` objects; the driver loop in
:func:`physnn.sweep.sweep` does the bookkeeping, the retries and the files. With Ray, each
trial is one task with ``num_cpus`` / ``num_gpus`` of its own (Ray sets
``CUDA_VISIBLE_DEVICES``, so a GPU trial gets its own GPU) and ``max_retries=0``: retries are
the driver's, so that every failed attempt is reported with its traceback.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import tempfile
import threading
import traceback
from typing import Any

from ..config import ConfigError
from ._plan import TrialSpec
from ._trial import TrialOutcome, run_trial

__all__ = ["ClusterUnreachableError", "RayEngine", "SerialEngine", "make_engine"]

log = logging.getLogger("physnn.sweep")


class ClusterUnreachableError(ConfigError):
    """``--address`` names no Ray cluster that answers; the message says what was tried."""


class SerialEngine:
    """Trials in this process, one at a time (no Ray needed)."""

    name = "serial"
    driver_node: str | None = None

    def __init__(self) -> None:
        self._done: list[TrialOutcome] = []

    def start(self) -> None:
        """Nothing to start."""

    def describe(self) -> dict:
        return {"engine": "serial", "cpus": os.cpu_count()}

    def capacity(self) -> int:
        return 1

    def trial_cpus(self) -> float:
        return float(os.cpu_count() or 1)

    def submit(self, spec: TrialSpec, reporter: Any = None) -> int:
        self._done.append(run_trial(spec, reporter.report_fn(spec) if reporter else None))
        return spec.id

    def wait(self, timeout: float) -> list[TrialOutcome]:
        done, self._done = self._done, []
        return done

    def cancel_all(self) -> None:
        """Nothing runs in the background."""

    def close(self) -> None:
        """Nothing to stop."""


def _ray_trial(spec: TrialSpec, coordinator: Any = None, number: int | None = None
               ) -> TrialOutcome:
    """The Ray task: one attempt of one trial on a worker."""
    reporter = None
    if coordinator is not None:
        import ray

        def reporter(step: int, value: float) -> bool:
            return bool(ray.get(coordinator.report.remote(number, step, value)))

    return run_trial(spec, reporter)


def _host_port(address: str) -> tuple[str, int] | None:
    """The TCP endpoint behind a Ray address (``None`` for ``"auto"``)."""
    if address in ("auto", "local"):
        return None
    default = 6379
    if address.startswith("ray://"):
        address, default = address[len("ray://"):], 10001
    address = address.rstrip("/")
    host, sep, port = address.rpartition(":")
    if not sep:
        return address, default
    try:
        return host.strip("[]"), int(port)
    except ValueError:
        raise ClusterUnreachableError(
            f"--address {address!r}: expected HOST:PORT (e.g. 10.0.0.5:6379), "
            "ray://HOST:PORT or auto") from None


class RayEngine:
    """Trials as Ray tasks: a local Ray on this machine, or the cluster at ``address``.

    Parameters
    ----------
    address : str, optional
        ``None``: start a local Ray (no setup), stopped at the end. ``"HOST:PORT"`` (the
        head node's GCS port, ``ray start --head`` prints it), ``"ray://HOST:PORT"`` (Ray
        Client) or ``"auto"``: join a running cluster. A Ray already initialised in this
        process is used as it is.
    cpus_per_trial, gpus_per_trial : float
        Resources each trial reserves.
    connect_timeout : float
        Seconds to wait for the cluster before giving up with a clear error.
    """

    name = "ray"

    def __init__(self, address: str | None = None, *, cpus_per_trial: float = 1.0,
                 gpus_per_trial: float = 0.0, connect_timeout: float = 15.0) -> None:
        self.address = address
        self.cpus_per_trial = float(cpus_per_trial)
        self.gpus_per_trial = float(gpus_per_trial)
        self.connect_timeout = float(connect_timeout)
        self.own = False
        self.driver_node: str | None = None
        self._refs: dict[Any, TrialSpec] = {}
        self._task: Any = None
        self._ray: Any = None

    # -------------------------------------------------------------------- connection
    def _precheck(self) -> None:
        hp = _host_port(self.address) if self.address else None
        if hp is None:
            return
        host, port = hp
        try:
            with socket.create_connection((host, port), timeout=min(3.0, self.connect_timeout)):
                pass
        except OSError as exc:
            why = exc.strerror or type(exc).__name__
            raise ClusterUnreachableError(
                f"--address {self.address}: cannot reach {host}:{port} ({why}). Start a "
                "cluster with `ray start --head` and pass the address it prints, or leave "
                "--address out to start a local Ray.") from None

    def _init(self, ray: Any) -> None:
        kwargs: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.ERROR}
        if self.address is None:
            # in the main thread: Ray ties the processes it starts (GCS, raylet) to the
            # thread that starts them, and a helper thread's exit would stop them
            ray.init(include_dashboard=False, **kwargs)
            return
        kwargs["address"] = self.address
        box: dict[str, BaseException] = {}

        def target() -> None:
            try:
                ray.init(**kwargs)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                box["error"] = exc

        # joining a running cluster starts no process: a thread bounds the wait, and Ray's
        # retry messages (written by its C++ core to file descriptor 2) go to a scratch file
        th = threading.Thread(target=target, name="physnn-ray-init", daemon=True)
        with tempfile.TemporaryFile() as scratch:
            saved = os.dup(2)
            os.dup2(scratch.fileno(), 2)
            try:
                th.start()
                th.join(self.connect_timeout)
            finally:
                os.dup2(saved, 2)
                os.close(saved)
            scratch.seek(0)
            said = [ln for ln in scratch.read().decode(errors="replace").splitlines()
                    if ln.strip()]
        where = f"--address {self.address}"
        if th.is_alive():
            last = f" Ray said: {said[-1].split('] ', 1)[-1][:300]}" if said else ""
            raise ClusterUnreachableError(
                f"{where}: no Ray cluster answered within {self.connect_timeout:g} s. Is it "
                "the head node's GCS address (`ray start --head` prints it, port 6379 by "
                f"default)?{last}")
        if "error" in box:
            exc = box["error"]
            raise ClusterUnreachableError(f"{where}: {type(exc).__name__}: {exc}") from None

    def start(self) -> None:
        """Connect (or start a local Ray) and check that a trial fits the cluster."""
        try:
            import ray
        except ImportError:
            raise ConfigError("--engine ray needs Ray: pip install 'physnn[sweep]' "
                              "(or run the trials here with --engine serial)") from None
        self._ray = ray
        self._precheck()
        if ray.is_initialized():
            log.info("using the Ray already initialised in this process")
        else:
            self._init(ray)
            self.own = True
        self.driver_node = ray.get_runtime_context().get_node_id()
        res = ray.cluster_resources()
        if res.get("CPU", 0.0) < self.cpus_per_trial:
            self.close()
            raise ConfigError(f"--cpus-per-trial {self.cpus_per_trial:g}: the Ray cluster has "
                              f"{res.get('CPU', 0.0):g} CPUs in all")
        if self.gpus_per_trial > 0 and res.get("GPU", 0.0) < self.gpus_per_trial:
            self.close()
            raise ConfigError(f"--gpus-per-trial {self.gpus_per_trial:g}: the Ray cluster has "
                              f"{res.get('GPU', 0.0):g} GPUs")
        self._task = ray.remote(_ray_trial).options(
            num_cpus=self.cpus_per_trial, num_gpus=self.gpus_per_trial, max_retries=0)

    def describe(self) -> dict:
        ray = self._ray
        res = ray.cluster_resources() if ray is not None and ray.is_initialized() else {}
        return {"engine": "ray", "address": self.address or "local",
                "ray": getattr(ray, "__version__", None),
                "nodes": len([n for n in ray.nodes() if n.get("Alive")]) if res else 0,
                "cluster_cpus": res.get("CPU", 0.0), "cluster_gpus": res.get("GPU", 0.0),
                "cpus_per_trial": self.cpus_per_trial, "gpus_per_trial": self.gpus_per_trial}

    def capacity(self) -> int:
        """How many trials fit the cluster at once (its resources now)."""
        res = self._ray.cluster_resources()
        n = res.get("CPU", 0.0) / self.cpus_per_trial
        if self.gpus_per_trial > 0:
            n = min(n, res.get("GPU", 0.0) / self.gpus_per_trial)
        return max(1, int(math.floor(n + 1e-9)))

    def trial_cpus(self) -> float:
        return self.cpus_per_trial

    # -------------------------------------------------------------------- trials
    def submit(self, spec: TrialSpec, reporter: Any = None) -> Any:
        handle, number = (reporter.remote_handle(), reporter.number(spec)) if reporter else (
            None, None)
        ref = self._task.remote(spec, handle, number)
        self._refs[ref] = spec
        return ref

    def wait(self, timeout: float) -> list[TrialOutcome]:
        ray = self._ray
        if not self._refs:
            return []
        refs = list(self._refs)
        ready, rest = ray.wait(refs, num_returns=1, timeout=timeout)
        if ready and rest:
            more, _ = ray.wait(rest, num_returns=len(rest), timeout=0)
            ready += more
        out = []
        for ref in ready:
            spec = self._refs.pop(ref)
            try:
                out.append(ray.get(ref))
            except Exception as exc:  # noqa: BLE001 - a worker or node died: report it
                out.append(TrialOutcome(spec.id, spec.attempt, "failed",
                                        error=f"{type(exc).__name__}: {exc}".strip(),
                                        traceback="".join(traceback.format_exception(exc))))
        return out

    def cancel_all(self) -> None:
        for ref in list(self._refs):
            try:
                self._ray.cancel(ref, force=True)
            except Exception:  # noqa: BLE001, S110 - best effort on the way out
                pass
        self._refs.clear()

    def close(self) -> None:
        if self.own and self._ray is not None and self._ray.is_initialized():
            self._ray.shutdown()
        self.own = False


def make_engine(engine: str, *, address: str | None, cpus_per_trial: float,
                gpus_per_trial: float, connect_timeout: float) -> SerialEngine | RayEngine:
    """The engine named ``engine`` (``"ray"`` or ``"serial"``)."""
    if engine == "serial":
        if address is not None:
            raise ConfigError("--address joins a Ray cluster: it needs --engine ray")
        return SerialEngine()
    if engine == "ray":
        return RayEngine(address, cpus_per_trial=cpus_per_trial,
                         gpus_per_trial=gpus_per_trial, connect_timeout=connect_timeout)
    raise ConfigError(f"--engine {engine!r}: choose 'ray' or 'serial'")
