"""Vowel classification with three microwave-cavity blocks, trained model-free (PhyLL).

The task of ``phyll_vowels`` (7 vowels, 12 formants, stratified 80/20 splits) with the
microwave set-up of Momeni et al. (*Science* 2023): each physical layer is a reverberant
microwave enclosure whose programmable metasurface is set by the block input and whose
``|S21|`` at 20 frequencies is measured (:class:`hardware_models.MicrowaveCavity`, PhysFad
coupled-dipole model; three cavities with different disorder, seeds 0, 1, 2). Each block is
``MicrowaveCavity -> Linear(20 + 20, 20)``.

Split, controls and baselines as in :mod:`physnn.experiments.phyll_vowels` (same helpers): a
stratified ``validation_fraction`` of each training split is held out for the per-epoch
validation curves and everything trains on the rest; compared on the same splits and seeds:
the single-pass local-readout variant, PhyLL's two controls (the cavities silenced, or
replaced by a random linear map of the same output scale), a same-parameter digital MLP
trained by backprop and logistic regression on the 12 formants.

Run: ``physnn run phyll_microwave_vowels --out out`` (10 seeds), ``--quick`` for CI.
"""

from __future__ import annotations

import dataclasses

import numpy as np

import physnn as pn
from physnn.data import FORMANT_VOWELS, load_formants, require_data
from physnn.nets import abs_max_scale

from ._base import Device, Result, RunContext, at_least_one, help_field, pyplot
from ._controls import BASELINE_LABELS, baseline_panel
from .phyll_vowels import (
    CONTROLS,
    PHYLL,
    curves_panel,
    hyperparameters,
    pct,
    physics_words,
    run_seeds,
    seeds_text,
    summarize,
    unclip,
)

NAME = "phyll_microwave_vowels"
SWEEP_METRICS = ("PhyLL (cosine goodness).test_accuracy.mean",
                 "local readout (one pass).test_accuracy.mean",
                 "digital_logistic_regression_accuracy.mean")


@dataclasses.dataclass(frozen=True)
class Config:
    """Settings of the microwave vowel experiment (defaults: the published run)."""

    seed: int = help_field(0, "first seed: splits, initial weights, batches and labels")
    n_seeds: int = help_field(10, "seeds (stratified 80/20 splits) seed .. seed + n - 1")
    device: Device = help_field("cpu", "where the digital layers train")
    epochs: int = help_field(60, "training epochs")
    batch_size: int = help_field(32, "mini-batch size")
    inner_steps: int = help_field(10, "optimizer steps per batch, both learners")
    alpha: float = help_field(4.0, "PhyLL goodness scale alpha")
    phyll_lr: float = help_field(3e-3, "PhyLL Adam learning rate")
    readout_lr: float = help_field(3e-3, "local readout Adam learning rate")
    validation_fraction: float = help_field(
        0.2, "stratified share of each training split held out for the per-epoch validation "
             "curves (everything trains on the rest)")
    quick: bool = help_field(False, "a smoke run (set by --quick)")

    def __post_init__(self) -> None:
        at_least_one(self, "n_seeds", "epochs", "batch_size", "inner_steps")
        if not 0 < self.validation_fraction < 1:
            raise ValueError(f"validation_fraction must lie in (0, 1), got "
                             f"{self.validation_fraction}")


QUICK = {"quick": True, "n_seeds": 1, "epochs": 3}


def check(cfg: Config) -> None:
    """The formant table, before any work."""
    require_data("hillenbrand_formants_women7.csv")


def microwave_net() -> pn.PhysicalNetwork:
    """Three ``MicrowaveCavity(in_features=20, seed=s) -> Linear(40, 20)`` blocks."""
    from hardware_models.microwave import MicrowaveCavity

    return pn.PhysicalNetwork([
        pn.Block(MicrowaveCavity(in_features=20, seed=s), pn.Linear(40, 20), encode=abs_max_scale)
        for s in range(3)
    ])


def run(cfg: Config, ctx: RunContext) -> Result:
    """Run the experiment with ``cfg`` (see the module docstring); nothing is written."""
    from matplotlib.ticker import MaxNLocator

    seeds = list(range(cfg.seed, cfg.seed + cfg.n_seeds))
    x, y, _ = load_formants()
    k = len(FORMANT_VOWELS)
    methods = {
        PHYLL: (lambda: pn.learning.PhyLL(
            alpha=cfg.alpha, inner_steps=cfg.inner_steps, optimizer=pn.optim.Adam(cfg.phyll_lr),
            backend=cfg.device), 20 - k),
        "local readout (one pass)": (lambda: pn.learning.LocalReadout(
            inner_steps=cfg.inner_steps, optimizer=pn.optim.Adam(cfg.readout_lr),
            backend=cfg.device), 20),
    }
    per_seed = run_seeds(x, y, seeds, cfg, ctx, methods=methods, make_net=microwave_net)

    method_metrics, baselines, sentence, verdicts = summarize(per_seed, list(methods))
    n = per_seed[0]["n"]
    metrics = {"seeds": len(seeds), "epochs": cfg.epochs, "n_test": n["test"],
               "n_fit": n["fit"], "n_validation": n["validation"],
               "digital_params": per_seed[0]["digital_params"],
               "digital_logistic_regression_accuracy":
                   baselines["logistic_regression"]["test_accuracy"],
               **method_metrics, "baselines": baselines, "verdicts": verdicts,
               "hyperparameters": hyperparameters(cfg, ("epochs", "batch_size", "inner_steps",
                                                        "alpha", "phyll_lr", "readout_lr"))}
    timings = {m: {"train_wall_s": float(np.mean([s["methods"][m]["train_wall_s"]
                                                   for s in per_seed]))} for m in methods}
    timings.update({f"PhyLL, {kind}": {"train_wall_s": float(np.mean(
        [s["controls"][kind]["train_wall_s"] for s in per_seed]))} for kind in CONTROLS})
    for m in methods:
        ctx.log.info("%-40s %s", m, pct(metrics[m]["test_accuracy"]))
    for key, rec in baselines.items():
        ctx.log.info("%-40s %s", BASELINE_LABELS[key], pct(rec["test_accuracy"]))

    plt = pyplot()
    fig = plt.figure(figsize=(16.5, 5), layout="constrained")
    gs = fig.add_gridspec(2, 3, width_ratios=(1.1, 0.7, 1.6))
    curves_panel(fig.add_subplot(gs[:, 0]), method_metrics, baselines, per_seed, len(seeds),
                 "7 vowels, 3 microwave-cavity blocks")
    # each learner's local loss on its own axis: the two losses are different quantities
    ax_loss = None
    for row, m in enumerate(methods):
        ax_loss = fig.add_subplot(gs[row, 1], sharex=ax_loss)
        c = np.array([s["methods"][m]["loss"] for s in per_seed])
        ep = np.arange(1, c.shape[1] + 1)
        ax_loss.plot(ep, c.mean(0), color=f"C{row}")
        if len(seeds) > 1:
            ax_loss.fill_between(ep, c.mean(0) - c.std(0), c.mean(0) + c.std(0),
                                 color=f"C{row}", alpha=0.2)
        ax_loss.set_ylabel("training loss", fontsize=9)
        ax_loss.set_title(f"{m}: mean local loss", fontsize=9)
        ax_loss.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax_loss.grid(alpha=0.3)
    ax_loss.set_xlabel("epoch")
    a3 = fig.add_subplot(gs[:, 2])
    dots = {m: metrics[m]["test_accuracy"]["values"] for m in methods}
    dots_b = {key: rec["test_accuracy"]["values"] for key, rec in baselines.items()}
    baseline_panel(a3, dots, dots_b)
    unclip(a3, {**dots, **dots_b})
    a3.set_title(f"test accuracy, {seeds_text(len(seeds))} (dots)"
                 + (", mean ± std (black)" if len(seeds) > 1 else ""), fontsize=10)

    phyll = metrics[PHYLL]["test_accuracy"]
    claim = ("Three simulated microwave cavities with programmable metasurfaces, trained "
             f"model-free with PhyLL, classify 7 vowels from 12 formants at {pct(phyll)} test "
             f"accuracy over {len(seeds)} stratified 80/20 split{'s' if len(seeds) > 1 else ''}"
             f" (local readout {pct(metrics['local readout (one pass)']['test_accuracy'])}). "
             + sentence + " " + physics_words(verdicts, "microwave cavities"))
    setup = {"seeds": seeds,
             "blocks": "3 x [MicrowaveCavity(in_features=20, seed=s) -> Linear(40, 20)]",
             "split": "sklearn train_test_split(test_size=0.2, stratify=y, random_state=seed); "
                      "validation_split(y_train, validation_fraction, seed) carved from the "
                      "training part; every method, control and baseline trains on the rest",
             "controls": "physnn.experiments._controls.control_network of the untrained PhyLL "
                         "network, trained by PhyLL with the same settings, split and seed",
             "baselines": "digital_same_params and logistic_regression on the 12 formants "
                          "(z-scored on the fit split), fit split only"}
    models = ({m: s["model"] for m, s in per_seed[0]["methods"].items()}
              if len(seeds) == 1 else {})
    return Result(claim=claim, metrics=metrics, figure=fig, timings=timings, setup=setup,
                  models=models)
