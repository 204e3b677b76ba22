"""Hyperparameter search with Optuna (ask / tell), with optional ASHA early stopping.

One :class:`Coordinator` owns the Optuna study: in this process for the serial engine, as a
Ray actor (no CPU reserved) for the Ray engine, so that trials on any node report their
per-epoch validation score to it and learn whether to stop. Early stopping is Optuna's
:class:`~optuna.pruners.SuccessiveHalvingPruner`, the asynchronous successive halving (ASHA)
of Li et al. (MLSys 2020). Trials are Ray tasks like those of a grid (Ray Tune is not
needed: its trial machinery cost 79 s where tasks took 13 s for four trivial trials).
"""

from __future__ import annotations

import logging
from typing import Any

from ._plan import Param, TrialSpec

__all__ = ["Coordinator", "Search"]


class Coordinator:
    """An Optuna study driven by ask / report / tell.

    Parameters
    ----------
    params : list of Param
        The search space.
    direction : {"maximize", "minimize"}
    seed : int
        Seed of the TPE sampler (the search is reproducible when trials finish in order).
    early_stop : {None, "asha"}
    """

    def __init__(self, params: list[Param], direction: str, seed: int,
                 early_stop: str | None) -> None:
        import optuna

        optuna.logging.set_verbosity(logging.WARNING)
        pruner = (optuna.pruners.SuccessiveHalvingPruner() if early_stop == "asha"
                  else optuna.pruners.NopPruner())
        self.params = params
        self.study = optuna.create_study(direction=direction, pruner=pruner,
                                         sampler=optuna.samplers.TPESampler(seed=seed))
        self.trials: dict[int, Any] = {}
        self.steps: dict[int, set[int]] = {}

    def ask(self) -> tuple[int, dict]:
        """A new trial: its number and its drawn parameters."""
        trial = self.study.ask()
        self.trials[trial.number] = trial
        self.steps[trial.number] = set()
        return trial.number, {p.key: p.suggest(trial) for p in self.params}

    def report(self, number: int, step: int, value: float) -> bool:
        """Record an intermediate objective; ``True`` when the trial should stop."""
        trial = self.trials[number]
        if step not in self.steps[number]:  # a retried attempt reports its steps again
            self.steps[number].add(step)
            trial.report(value, step)
        return bool(trial.should_prune())

    def tell(self, number: int, status: str, value: float | None = None) -> None:
        """Finish a trial: ``"ok"`` with its objective, ``"pruned"`` or ``"failed"``."""
        import optuna

        state = {"ok": optuna.trial.TrialState.COMPLETE,
                 "pruned": optuna.trial.TrialState.PRUNED,
                 "failed": optuna.trial.TrialState.FAIL}[status]
        self.study.tell(number, value if status == "ok" else None, state=state)

    def best(self) -> dict | None:
        """``{"number", "value", "params"}`` of the best finished trial, or ``None``."""
        import optuna

        done = [t for t in self.study.trials if t.state == optuna.trial.TrialState.COMPLETE]
        if not done:
            return None
        b = self.study.best_trial
        return {"number": b.number, "value": b.value, "params": dict(b.params)}


class Search:
    """The driver's side of a :class:`Coordinator`, local or a Ray actor."""

    def __init__(self, params: list[Param], direction: str, seed: int,
                 early_stop: str | None, *, remote: bool) -> None:
        args = (params, direction, seed, early_stop)
        self.remote = remote
        self.numbers: dict[int, int] = {}
        if remote:
            import ray

            self._ray = ray
            self.actor = ray.remote(num_cpus=0, max_restarts=0)(Coordinator).remote(*args)
        else:
            self.local = Coordinator(*args)

    def _call(self, method: str, *args: Any) -> Any:
        if self.remote:
            return self._ray.get(getattr(self.actor, method).remote(*args))
        return getattr(self.local, method)(*args)

    def ask(self, trial_id: int) -> dict:
        """Draw the parameters of the sweep's trial ``trial_id``."""
        number, params = self._call("ask")
        self.numbers[trial_id] = number
        return params

    def tell(self, trial_id: int, status: str, value: float | None = None) -> None:
        self._call("tell", self.numbers[trial_id], status, value)

    def best(self) -> dict | None:
        return self._call("best")

    def number(self, spec: TrialSpec) -> int:
        return self.numbers[spec.id]

    def remote_handle(self) -> Any:
        return self.actor

    def report_fn(self, spec: TrialSpec):
        number = self.numbers[spec.id]
        return lambda step, value: self._call("report", number, step, value)
