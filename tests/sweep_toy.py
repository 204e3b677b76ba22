"""A tiny experiment for the sweep tests: instant, seeded, and able to fail on demand.

``score = 1 - (log10(lr) + 2.5)^2 / 10 + 0.01 * seed`` after ``epochs`` "epochs" (the
validation score rises towards it epoch by epoch, reported for early stopping). Trials whose
seed is in ``fail_seeds`` raise; with ``flaky_dir`` set, a trial fails on its first attempt
only (a marker file remembers the attempt across processes).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import time
from pathlib import Path

from physnn.experiments import Result, RunContext, help_field

NAME = "sweep_toy"
OBJECTIVE = "validation_accuracy"


@dataclasses.dataclass(frozen=True)
class Config:
    seed: int = help_field(0, "seed")
    device: str = help_field("cpu", "unused")
    n_seeds: int = help_field(1, "seeds per run (for the n_seeds rule of sweeps)")
    lr: float = help_field(0.003, "the searched setting")
    epochs: int = help_field(3, "reported steps")
    validation: float = help_field(0.0, "> 0: report validation_accuracy")
    fail_seeds: tuple[int, ...] = help_field((), "seeds that raise")
    flaky_dir: str = help_field("", "folder of first-attempt markers")
    sleep: float = help_field(0.0, "seconds per epoch")
    quick: bool = help_field(False, "smoke run")


QUICK = {"quick": True}


def run(cfg: Config, ctx: RunContext) -> Result:
    ctx.log.info("toy run, seed %d, lr %g, pid %d", cfg.seed, cfg.lr, os.getpid())
    print(f"stdout of seed {cfg.seed}")
    if cfg.seed in cfg.fail_seeds:
        raise RuntimeError(f"toy failure for seed {cfg.seed}")
    if cfg.flaky_dir:
        marker = Path(cfg.flaky_dir) / f"seed{cfg.seed}"
        if not marker.exists():
            marker.write_text("attempted")
            raise OSError(f"flaky failure, first attempt of seed {cfg.seed}")
    final = 1 - (math.log10(cfg.lr) + 2.5) ** 2 / 10 + 0.01 * cfg.seed
    for e in range(1, cfg.epochs + 1):
        time.sleep(cfg.sleep)
        if cfg.validation > 0:
            ctx.report(e, final * e / cfg.epochs)
    key = "validation_accuracy" if cfg.validation > 0 else "test_accuracy"
    logging.getLogger("physnn.experiments.sweep_toy").info("done: %s %.4f", key, final)
    return Result(claim=f"toy score {final:.3f}", metrics={key: final, "seed_copy": cfg.seed,
                                                           "nested": {"half": final / 2}},
                  timings={"pid": os.getpid()})
