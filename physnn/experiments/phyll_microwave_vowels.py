"""Vowel classification with three microwave-cavity blocks, trained model-free (PhyLL).

The task of ``phyll_vowels`` (7 vowels, 12 formants, stratified 80/20 splits) with the
microwave set-up of Momeni et al. (*Science* 2023): each physical layer is a reverberant
microwave enclosure whose programmable metasurface is set by the block input and whose
``|S21|`` at 20 frequencies is measured (:class:`hardware_models.MicrowaveCavity`, PhysFad
coupled-dipole model; three cavities with different disorder, seeds 0, 1, 2). Each block is
``MicrowaveCavity -> Linear(20 + 20, 20)``. Compared on the same splits: the single-pass
local-readout variant and logistic regression on the 12 standardised features.

Run: ``physnn run phyll_microwave_vowels --out out`` (10 seeds), ``--quick`` for CI.
"""

from __future__ import annotations

import dataclasses

import numpy as np

import physnn as pn
from physnn.data import FORMANT_VOWELS, load_formants, require_data
from physnn.nets import abs_max_scale

from ._base import Device, Result, RunContext, help_field, mean_std, pyplot
from .phyll_vowels import prepare

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
    quick: bool = help_field(False, "a smoke run (set by --quick)")

    def __post_init__(self) -> None:
        for key in ("n_seeds", "epochs", "batch_size", "inner_steps"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key} must be >= 1, got {getattr(self, key)}")


QUICK = {"quick": True, "n_seeds": 1, "epochs": 3}


def check(cfg: Config) -> None:
    """The formant table, before any work."""
    require_data("hillenbrand_formants_women7.csv")


def microwave_net():
    """Three ``MicrowaveCavity(in_features=20, seed=s) -> Linear(40, 20)`` blocks."""
    from hardware_models.microwave import MicrowaveCavity

    return pn.PhysicalNetwork([
        pn.Block(MicrowaveCavity(in_features=20, seed=s), pn.Linear(40, 20), encode=abs_max_scale)
        for s in range(3)
    ])


def run(cfg: Config, ctx: RunContext) -> Result:
    """Run the experiment with ``cfg`` (see the module docstring); nothing is written."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    seeds = list(range(cfg.seed, cfg.seed + cfg.n_seeds))
    x, y, _ = load_formants()
    k = len(FORMANT_VOWELS)
    methods = {
        "PhyLL (cosine goodness)": (lambda: pn.learning.PhyLL(
            alpha=cfg.alpha, inner_steps=cfg.inner_steps, optimizer=pn.optim.Adam(cfg.phyll_lr),
            backend=cfg.device), 20 - k),
        "local readout (one pass)": (lambda: pn.learning.LocalReadout(
            inner_steps=cfg.inner_steps, optimizer=pn.optim.Adam(cfg.readout_lr),
            backend=cfg.device), 20),
    }
    results = {m: [] for m in methods}
    logreg = []
    for seed in seeds:
        tr, te = train_test_split(np.arange(len(y)), test_size=0.2, stratify=y,
                                  random_state=seed)
        mu, sd = x[tr].mean(0), x[tr].std(0)
        clf = LogisticRegression(max_iter=5000).fit((x[tr] - mu) / sd, y[tr])
        logreg.append(float(clf.score((x[te] - mu) / sd, y[te])))
        for m, (make, width) in methods.items():
            x_tr, x_te = prepare(x[tr], x[te], width)
            learner, net = make(), microwave_net()
            hist = learner.fit(net, x_tr, y[tr], epochs=cfg.epochs, batch_size=cfg.batch_size,
                               rng=np.random.default_rng(seed), progress=ctx.progress)
            ev = learner.evaluate(net, x_te, y[te])
            results[m].append({"accuracy": ev["accuracy"], "loss": hist.loss,
                               "train_queries": hist.queries[-1],
                               "train_wall_s": hist.wall_s[-1],
                               "test_queries_per_sample": ev["queries"] / ev["n"],
                               "model": (net, learner)})
        ctx.log.info("seed %d: %s, logistic regression %.3f", seed, ", ".join(
            f"{m.split(' (')[0]} {r[-1]['accuracy']:.3f}" for m, r in results.items()),
            logreg[-1])

    metrics = {"seeds": len(seeds), "epochs": cfg.epochs, "n_test": int(len(te)),
               "digital_logistic_regression_accuracy": mean_std(logreg)}
    timings = {}
    for m, rs in results.items():
        metrics[m] = {"test_accuracy": mean_std([r["accuracy"] for r in rs]),
                      "physical_queries_train": int(np.mean([r["train_queries"] for r in rs])),
                      "physical_queries_per_test_sample": rs[0]["test_queries_per_sample"]}
        timings[m] = {"train_wall_s": float(np.mean([r["train_wall_s"] for r in rs]))}
        a = metrics[m]["test_accuracy"]
        ctx.log.info("%-30s %.1f ± %.1f %%", m, 100 * a["mean"], 100 * a["std"])
    lr = metrics["digital_logistic_regression_accuracy"]
    ctx.log.info("%-30s %.1f ± %.1f %%", "logistic regression (digital)", 100 * lr["mean"],
                 100 * lr["std"])

    plt = pyplot()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
    ep = np.arange(1, cfg.epochs + 1)
    for m, rs in results.items():
        c = np.array([r["loss"] for r in rs])
        a1.plot(ep, c.mean(0), label=m)
        a1.fill_between(ep, c.mean(0) - c.std(0), c.mean(0) + c.std(0), alpha=0.2)
    a1.set(xlabel="epoch", ylabel="mean local training loss", yscale="log",
           title=f"3 microwave-cavity blocks ({len(seeds)} seeds)")
    a1.legend(fontsize=8)
    names = [*results, "logistic regression (digital)"]
    vals = [[100 * r["accuracy"] for r in results[m]] for m in results] + [
        [100 * v for v in logreg]]
    for i, v in enumerate(vals):
        jitter = np.random.default_rng(i).uniform(-0.12, 0.12, len(v))
        a2.scatter(i + jitter, v, s=14, alpha=0.6)
        a2.errorbar(i, np.mean(v), yerr=np.std(v), fmt="o", color="k", capsize=4)
    a2.set_xticks(range(len(names)), [n.replace(" (", "\n(") for n in names], fontsize=8)
    a2.set(ylabel="test accuracy [%]", title="per seed (dots), mean ± std (black)")
    phyll = metrics["PhyLL (cosine goodness)"]["test_accuracy"]
    claim = ("Three simulated microwave cavities with programmable metasurfaces, trained "
             "model-free with PhyLL, classify 7 vowels from 12 formants at "
             f"{100 * phyll['mean']:.1f} ± {100 * phyll['std']:.1f} % test accuracy over "
             f"{len(seeds)} stratified 80/20 splits (logistic regression "
             f"{100 * lr['mean']:.1f} ± {100 * lr['std']:.1f} %).")
    setup = {"seeds": seeds,
             "blocks": "3 x [MicrowaveCavity(in_features=20, seed=s) -> Linear(40, 20)]"}
    models = {m: rs[0]["model"] for m, rs in results.items()} if len(seeds) == 1 else {}
    return Result(claim=claim, metrics=metrics, figure=fig, timings=timings, setup=setup,
                  models=models)
