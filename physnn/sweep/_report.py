"""A sweep's summary (mean ± std per grid point), its figure, and its progress line."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

import numpy as np

from ._plan import is_number, point_label

__all__ = ["Progress", "flatten", "headline", "lookup", "summarize", "sweep_figure"]

log = logging.getLogger("physnn.sweep")


def flatten(metrics: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """Every finite scalar number of a nested metrics dict, keyed by its dotted path
    (``{"a": {"b": 1.0, "c": [..]}}`` -> ``{"a.b": 1.0}``; lists and bools are left out)."""
    out: dict[str, float] = {}
    for k, v in metrics.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(flatten(v, key + "."))
        elif is_number(v):
            out[key] = float(v)
    return out


def lookup(metrics: Mapping[str, Any], path: str) -> float | None:
    """The number at the dotted ``path`` of a metrics dict (``None`` when absent)."""
    return flatten(metrics).get(path)


def summarize(trials: Sequence[Mapping[str, Any]]) -> list[dict]:
    """Mean ± std (population, ``ddof=0``) of every metric over the seeds of each grid point.

    Each entry: ``{"point", "n", "failed", "metrics": {name: {"mean", "std", "n", "values"}}}``
    in the order the points first appear; trials that did not finish count in ``failed``
    (``status`` other than ``ok`` and ``pruned``).
    """
    groups: dict[str, dict] = {}
    for t in trials:
        key = repr(sorted(t["point"].items()))
        g = groups.setdefault(key, {"point": dict(t["point"]), "ok": [], "failed": 0,
                                    "pruned": 0})
        if t["status"] == "ok":
            g["ok"].append(flatten(t.get("metrics") or {}))
        elif t["status"] == "pruned":
            g["pruned"] += 1
        elif t["status"] == "failed":
            g["failed"] += 1
    out = []
    for g in groups.values():
        names: list[str] = []
        for m in g["ok"]:
            names += [k for k in m if k not in names]
        stats = {}
        for name in names:
            vals = [m[name] for m in g["ok"] if name in m]
            a = np.asarray(vals, dtype=float)
            stats[name] = {"mean": float(a.mean()), "std": float(a.std()), "n": len(vals),
                           "values": vals}
        out.append({"point": g["point"], "n": len(g["ok"]), "failed": g["failed"],
                    "pruned": g["pruned"], "metrics": stats})
    return out


def headline(summary: Sequence[Mapping], preferred: Sequence[str] | None, k: int = 4) -> list:
    """Up to ``k`` metric names to show: the experiment's ``preferred`` ones that the summary
    holds, else its first metrics (standard deviations and counts left out)."""
    names: list[str] = []
    for s in summary:
        names += [n for n in s["metrics"] if n not in names]
    chosen = [n for n in (preferred or ()) if n in names]
    if not chosen:
        varied = [n for n in names if not n.endswith(".std") and not n.startswith("n_")]
        chosen = varied[:k]
    return chosen[:k]


def sweep_figure(summary: Sequence[Mapping], trials: Sequence[Mapping], *, title: str,
                 metrics: Sequence[str] | None = None, search: Mapping | None = None) -> Any:
    """The sweep's figure: per grid point, each headline metric's per-seed values (dots) and
    mean ± std (bars); for a search, the objective of every trial and the best so far."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if search is not None:
        fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
        metric = search["metric"]
        colors = {"ok": "C0", "pruned": "C1", "failed": "C3"}
        best, best_x, best_y = None, [], []
        sign = 1 if search["direction"] == "maximize" else -1
        for t in trials:
            v = (t.get("intermediate") or [[0, np.nan]])[-1][1] if t["status"] == "pruned" \
                else lookup(t.get("metrics") or {}, metric)
            if v is None or not np.isfinite(v):
                continue
            ax.scatter(t["id"], v, color=colors.get(t["status"], "k"), s=18,
                       label=t["status"])
            if t["status"] == "ok" and (best is None or sign * v > sign * best):
                best = v
            if best is not None:
                best_x.append(t["id"])
                best_y.append(best)
        ax.step(best_x, best_y, where="post", color="k", lw=1, label="best so far")
        handles, labels = ax.get_legend_handles_labels()
        uniq = dict(zip(labels, handles, strict=True))
        names = {"ok": "finished", "pruned": "stopped early (last report)"}
        ax.legend(uniq.values(), [names.get(k, k) for k in uniq], fontsize=8)
        ax.set(xlabel="trial", ylabel=metric, title=title)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
        return fig
    names = headline(summary, metrics)
    if not names:
        names = ["(no metrics)"]
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 3.8), squeeze=False,
                             layout="constrained")
    labels = [point_label(s["point"]) for s in summary]
    for ax, name in zip(axes[0], names, strict=True):
        for i, s in enumerate(summary):
            st = s["metrics"].get(name)
            if st is None:
                continue
            jitter = (np.linspace(-0.15, 0.15, len(st["values"])) if len(st["values"]) > 1
                      else np.zeros(1))
            ax.scatter(i + jitter, st["values"], s=14, alpha=0.6, color="C0")
            ax.errorbar(i, st["mean"], yerr=st["std"], fmt="o", color="k", capsize=4)
        ax.set_xticks(range(len(labels)), [lb.replace(", ", "\n") for lb in labels],
                      fontsize=7)
        ax.set_xlim(-0.5, len(labels) - 0.5)
        ax.set_title(name if len(name) < 45 else "…" + name[-44:], fontsize=9)
        ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=10)
    return fig


class Progress:
    """One status line for the sweep: trials done, running, failed (and pruned, retried).

    On a terminal the line is redrawn in place; elsewhere each change is logged.
    """

    def __init__(self, total: int | None, label: str, *, enabled: bool = True,
                 stream: TextIO | None = None) -> None:
        self.total, self.label = total, label
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.tty = enabled and hasattr(self.stream, "isatty") and self.stream.isatty()
        self.t0 = time.perf_counter()
        self.last: tuple = ()

    def line(self, done: int, running: int, failed: int, pruned: int = 0,
             retried: int = 0) -> str:
        total = "?" if self.total is None else str(self.total)
        extra = (f", {pruned} pruned" if pruned else "") + (f", {retried} retried"
                                                             if retried else "")
        return (f"{self.label}: {done}/{total} done, {running} running, {failed} failed"
                f"{extra} [{time.perf_counter() - self.t0:.0f} s]")

    def update(self, done: int, running: int, failed: int, pruned: int = 0,
               retried: int = 0) -> None:
        if not self.enabled:
            return
        text = self.line(done, running, failed, pruned, retried)
        core = (done, failed, pruned, retried)  # log a change of these, not of "running"
        if self.tty:
            self.stream.write("\r\033[K" + text)
            self.stream.flush()
        elif core != self.last:
            log.info("%s", text)
        self.last = core

    def close(self) -> None:
        if self.tty and self.enabled:
            self.stream.write("\n")
            self.stream.flush()
