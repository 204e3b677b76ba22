"""Shared benchmark helpers: median-of-repeats timing, a table, and the JSON record."""

from __future__ import annotations

import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

from .._io import atomic_write_json

__all__ = ["time_median", "time_interleaved", "cpu_name", "print_table", "write_record"]


def time_median(
    fn: Callable[[], Any],
    *,
    repeats: int = 5,
    warmup: int = 1,
    sync: Callable[[], Any] | None = None,
) -> float:
    """Median wall time of ``fn()`` in seconds over ``repeats`` runs, after ``warmup`` runs.

    ``sync`` (for GPU work) is called after each run, inside the timed region.
    """
    for _ in range(warmup):
        fn()
        if sync is not None:
            sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        if sync is not None:
            sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def time_interleaved(fns: dict[str, Callable[[], Any]], *, repeats: int = 5,
                     warmup: int = 1) -> dict[str, float]:
    """Median wall time in seconds of each of ``fns``, timed in turn within every repeat.

    On a shared machine the load changes from second to second; timing the candidates
    alternately puts them under the same conditions, so their ratio is steady where times
    measured one after the other are not.
    """
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(t) for name, t in times.items()}


def gpu_name() -> str:
    """The current CUDA device's name ("CUDA simulator" under ``NUMBA_ENABLE_CUDASIM=1``)."""
    from numba import cuda

    name = getattr(cuda.get_current_device(), "name", "CUDA simulator")
    return name.decode() if isinstance(name, bytes) else str(name)


def cpu_name() -> str:
    """A readable description of this CPU and its core count."""
    import os

    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    name = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{name} ({os.cpu_count()} logical cores)"


def print_table(results: dict[str, float | None], *, reference: str | None = None,
                notes: dict[str, str] | None = None) -> None:
    """Print ``impl  median  ratio-to-reference`` rows (``None`` = skipped)."""
    notes = notes or {}
    ref = results.get(reference) if reference else None
    print(f"{'implementation':<22}{'median [ms]':>14}{'x ' + (reference or ''):>24}")
    for impl, sec in results.items():
        if sec is None:
            print(f"{impl:<22}{'skipped':>14}   {notes.get(impl, '')}")
            continue
        ratio = f"{sec / ref:.2f}" if ref else ""
        print(f"{impl:<22}{sec * 1e3:>14.3f}{ratio:>24}")


def write_record(path: str | None, workload: dict, device: str, results: dict,
                 notes: dict | None = None, **extra: Any) -> dict:
    """Build the benchmark record and, when ``path`` is given, write it atomically as JSON.

    ``extra`` entries (e.g. ``ratios``, ``missing_peers``) are added at the top level when
    not empty.
    """
    record = {"workload": workload, "device": device, "results": results}
    if notes:
        record["notes"] = notes
    record.update({key: value for key, value in extra.items() if value})
    if path:
        atomic_write_json(path, record)
    return record
