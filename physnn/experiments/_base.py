"""What an experiment module provides and receives: :class:`Result`, :class:`RunContext`.

An experiment module defines

- ``Config``: a frozen dataclass; its defaults are the paper's settings, every field has a type
  hint (checked by :mod:`physnn.config`) and, in ``metadata["help"]``, a short description;
- ``QUICK``: a mapping of the fields a ``--quick`` (smoke / CI) run changes;
- ``run(config, ctx) -> Result``: the experiment, which writes nothing itself;
- optionally ``check(config)``: raises before any work when the run cannot start (missing
  data); ``OBJECTIVE``: the validation metric a hyperparameter search maximises (dotted path
  into the metrics, default ``"validation_accuracy"``); ``SWEEP_METRICS``: the metrics a
  sweep's figure shows.

Every config has ``seed`` (the first seed), ``device`` (``"cpu"``, ``"cuda"`` or ``"auto"``)
and ``quick``; one with several seeds per run calls the count ``n_seeds``, and one that can
choose on held-out training data has ``validation`` (the held-out fraction; ``0`` trains on
all of it and tests).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any, Literal

import numpy as np

__all__ = ["Device", "Result", "RunContext", "TrialPruned", "at_least_one", "help_field",
           "mean_std", "pyplot", "validation_split"]

#: Where an experiment computes: the value of every config's ``device`` field.
Device = Literal["cpu", "cuda", "auto"]


class TrialPruned(Exception):  # noqa: N818 - the name Optuna and Ray Tune use
    """Raised inside a run when an early-stopping rule (ASHA) stops it."""


def help_field(default: Any, help: str) -> Any:  # noqa: A002 - argparse's word
    """A dataclass field with ``default`` and a one-line ``help`` (shown by ``physnn list``)."""
    if isinstance(default, list | dict | set):
        raise TypeError("config defaults must be immutable (use a tuple)")
    return dataclasses.field(default=default, metadata={"help": help})


@dataclasses.dataclass
class Result:
    """What an experiment returns.

    Attributes
    ----------
    claim : str
        The sentence the run supports, computed from its numbers.
    metrics : dict
        The numbers behind the claim (JSON-ready). A replay of the same config gives the same
        metrics, so wall-clock times belong in ``timings``.
    figure : matplotlib.figure.Figure, optional
        Saved as ``<name>.png`` and closed by the runner.
    timings : dict
        Wall-clock measurements (seconds), which differ from run to run.
    setup : dict
        Descriptions that are not settings (a network's ``repr``, the data split used).
    models : dict
        ``{label: (net, learner)}`` trained models; a sweep saves each with
        :func:`physnn.save` beside the trial's record.
    """

    claim: str
    metrics: dict
    figure: Any = None
    timings: dict = dataclasses.field(default_factory=dict)
    setup: dict = dataclasses.field(default_factory=dict)
    models: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class RunContext:
    """What the runner hands an experiment besides its config.

    Attributes
    ----------
    log : logging.Logger
        Where the experiment reports progress and results (``physnn.experiments.<name>``).
    progress : bool
        Whether learners may draw progress bars (they do only on a terminal).
    reporter : callable, optional
        ``reporter(step, value)`` receives intermediate values of the search objective
        (an early-stopping rule may raise :class:`TrialPruned` from it).
    """

    log: logging.Logger
    progress: bool = True
    reporter: Callable[[int, float], None] | None = None

    def report(self, step: int, value: float) -> None:
        """Report the objective after ``step`` (an epoch); may raise :class:`TrialPruned`."""
        if self.reporter is not None and np.isfinite(value):
            self.reporter(int(step), float(value))

    def epoch_callback(self, log_prefix: str | None = None) -> Callable[[Any], None]:
        """A learner ``fit(callback=...)`` that reports each epoch's ``eval_accuracy``
        (and logs it when ``log_prefix`` is given)."""

        def callback(rec: Any) -> None:
            if log_prefix is not None:
                self.log.info("%s, epoch %d: loss %.4f, held-out accuracy %.4f", log_prefix,
                              rec.epoch, rec.loss, rec.eval_accuracy)
            self.report(rec.epoch, rec.eval_accuracy)

        return callback


def at_least_one(cfg: Any, *keys: str) -> None:
    """Raise ``ValueError`` naming the first of the config fields ``keys`` below 1 (counts,
    sizes and epochs; a tuple field is checked element by element)."""
    for key in keys:
        value = getattr(cfg, key)
        if any(v < 1 for v in (value if isinstance(value, tuple) else (value,))):
            raise ValueError(f"{key} must be >= 1, got {value}")


def mean_std(values: Any) -> dict:
    """``{"mean", "std", "values"}`` of a list of numbers (population std, ``ddof=0``)."""
    v = np.asarray(values, dtype=float)
    return {"mean": float(v.mean()), "std": float(v.std()), "values": [float(a) for a in v]}


def validation_split(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified ``(train, validation)`` index arrays carved from training labels ``y``.

    The draw depends on ``seed`` only (its own generator), so it is the same whatever else
    the run does; a hyperparameter search chooses on the validation part and never sees
    the test set.
    """
    from ..data import stratified_split

    return stratified_split(y, fraction, np.random.default_rng([seed, 0x5A17]))


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the non-interactive Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
