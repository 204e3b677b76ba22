"""Vowel classification with two measured-data acoustic blocks, trained model-free (PhyLL).

Task (Momeni et al., *Science* 2023, acoustic experiment): 7 vowels spoken by women,
12 formant features (F1..F3 at steady state and at 20 / 50 / 80 % of the vowel), stratified
80/20 split, features z-scored on the training set then shifted non-negative. The physical
layers are :class:`hardware_models.AcousticCavity` surrogates fitted to 10 000 measurements of
the real cavity (20 inputs in [0, 1] -> 20 outputs).

Network: label overlaid in front of the 12 features, one zero pad (7 + 12 + 1 = 20 inputs),
then two blocks ``AcousticCavity -> Linear(20 + 20, 20)``; each block's input is scaled per
sample into [0, 1] (:func:`physnn.nets.abs_max_scale`) before it drives the cavity.

Compared on the same splits: PhyLL (cosine goodness), Forward-Forward (Hinton goodness),
the single-pass local-readout variant, and the digital reference (logistic regression on the
12 standardised features).

Run: ``physnn run phyll_vowels --out out`` (10 seeds), ``--quick`` for CI.
"""

from __future__ import annotations

import dataclasses

import numpy as np

import physnn as pn
from physnn.data import FORMANT_VOWELS, load_formants, require_data
from physnn.nets import abs_max_scale

from ._base import Device, Result, RunContext, help_field, mean_std, pyplot

NAME = "phyll_vowels"
SWEEP_METRICS = ("PhyLL (cosine goodness).test_accuracy.mean",
                 "Forward-Forward (Hinton goodness).test_accuracy.mean",
                 "local readout (one pass).test_accuracy.mean",
                 "digital_logistic_regression_accuracy.mean")


@dataclasses.dataclass(frozen=True)
class Config:
    """Settings of the acoustic vowel experiment (defaults: the published run)."""

    seed: int = help_field(0, "first seed: splits, initial weights, batches and labels")
    n_seeds: int = help_field(10, "seeds (stratified 80/20 splits) seed .. seed + n - 1")
    device: Device = help_field("cpu", "where the digital layers train")
    epochs: int = help_field(200, "training epochs")
    batch_size: int = help_field(32, "mini-batch size")
    inner_steps: int = help_field(10, "optimizer steps per batch, every learner")
    alpha: float = help_field(4.0, "PhyLL goodness scale alpha")
    phyll_lr: float = help_field(1e-3, "PhyLL Adam learning rate")
    theta: float = help_field(2.0, "Forward-Forward goodness threshold theta")
    ff_lr: float = help_field(3e-3, "Forward-Forward Adam learning rate")
    readout_lr: float = help_field(3e-3, "local readout Adam learning rate")
    quick: bool = help_field(False, "a smoke run (set by --quick)")

    def __post_init__(self) -> None:
        for key in ("n_seeds", "epochs", "batch_size", "inner_steps"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key} must be >= 1, got {getattr(self, key)}")


QUICK = {"quick": True, "n_seeds": 2, "epochs": 12}


def check(cfg: Config) -> None:
    """The formant table and the acoustic measurements, before any work."""
    require_data("hillenbrand_formants_women7.csv", "phyll_acoustic/x_data.csv",
                 "phyll_acoustic/y_data.csv")


def prepare(x_train: np.ndarray, x_test: np.ndarray, width: int) -> tuple[np.ndarray, ...]:
    """z-score on the training set, shift non-negative, scale to [0, 1], zero-pad to width."""
    mu, sd = x_train.mean(0), x_train.std(0)
    z_tr, z_te = (x_train - mu) / sd, (x_test - mu) / sd
    lo = z_tr.min(0)
    z_tr, z_te = z_tr - lo, z_te - lo
    s = z_tr.max()

    def pad(a):
        return np.c_[a / s, np.zeros((len(a), width - a.shape[1]))].astype(np.float32)

    return pad(z_tr), pad(z_te)


def acoustic_net(n_blocks: int = 2):
    """``n_blocks`` x ``AcousticCavity.from_measurements(seed=0) -> Linear(40, 20)``."""
    from hardware_models import AcousticCavity

    return pn.PhysicalNetwork([
        pn.Block(AcousticCavity.from_measurements(seed=0), pn.Linear(40, 20),
                 encode=abs_max_scale)
        for _ in range(n_blocks)
    ])


def run_learner(learner, x_tr, y_tr, x_te, y_te, *, epochs, batch_size, rng, progress):
    """Train a fresh :func:`acoustic_net` with ``learner``; test accuracy, curve, costs."""
    net = acoustic_net()
    hist = learner.fit(net, x_tr, y_tr, epochs=epochs, batch_size=batch_size, rng=rng,
                       eval_data=(x_te, y_te), progress=progress)
    ev = learner.evaluate(net, x_te, y_te)
    return {"accuracy": ev["accuracy"], "curve": hist.eval_accuracy,
            "train_queries": hist.queries[-1], "train_macs": hist.macs[-1],
            "train_wall_s": hist.wall_s[-1],
            "test_queries": ev["queries"], "test_macs": ev["macs"], "model": (net, learner)}


def run(cfg: Config, ctx: RunContext) -> Result:
    """Run the experiment with ``cfg`` (see the module docstring); nothing is written."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    seeds = list(range(cfg.seed, cfg.seed + cfg.n_seeds))
    x, y, _ = load_formants()
    k = len(FORMANT_VOWELS)
    dev = cfg.device
    methods = {
        "PhyLL (cosine goodness)": (lambda: pn.learning.PhyLL(
            alpha=cfg.alpha, inner_steps=cfg.inner_steps, optimizer=pn.optim.Adam(cfg.phyll_lr),
            backend=dev), 20 - k),
        "Forward-Forward (Hinton goodness)": (lambda: pn.learning.ForwardForward(
            theta=cfg.theta, inner_steps=cfg.inner_steps, optimizer=pn.optim.Adam(cfg.ff_lr),
            backend=dev), 20 - k),
        "local readout (one pass)": (lambda: pn.learning.LocalReadout(
            inner_steps=cfg.inner_steps, optimizer=pn.optim.Adam(cfg.readout_lr),
            backend=dev), 20),
    }
    results = {m: [] for m in methods}
    logreg = []
    for seed in seeds:
        idx = np.arange(len(y))
        tr, te = train_test_split(idx, test_size=0.2, stratify=y, random_state=seed)
        mu, sd = x[tr].mean(0), x[tr].std(0)
        clf = LogisticRegression(max_iter=5000).fit((x[tr] - mu) / sd, y[tr])
        logreg.append(float(clf.score((x[te] - mu) / sd, y[te])))
        for m, (make, width) in methods.items():
            x_tr, x_te = prepare(x[tr], x[te], width)
            rng = np.random.default_rng(seed)
            results[m].append(run_learner(make(), x_tr, y[tr], x_te, y[te], epochs=cfg.epochs,
                                          batch_size=cfg.batch_size, rng=rng,
                                          progress=ctx.progress))
        ctx.log.info("seed %d: %s, logistic regression %.3f", seed, ", ".join(
            f"{m.split(' (')[0]} {r[-1]['accuracy']:.3f}" for m, r in results.items()),
            logreg[-1])

    metrics = {"n_test": int(len(te)), "seeds": len(seeds), "epochs": cfg.epochs,
               "digital_logistic_regression_accuracy": mean_std(logreg)}
    timings = {}
    for m, rs in results.items():
        metrics[m] = {
            "test_accuracy": mean_std([r["accuracy"] for r in rs]),
            "physical_queries_train": int(np.mean([r["train_queries"] for r in rs])),
            "digital_macs_train": int(np.mean([r["train_macs"] for r in rs])),
            "physical_queries_per_test_sample": rs[0]["test_queries"] / metrics["n_test"],
            "digital_macs_per_test_sample": rs[0]["test_macs"] / metrics["n_test"],
        }
        timings[m] = {"train_wall_s": float(np.mean([r["train_wall_s"] for r in rs]))}
    phyll = metrics["PhyLL (cosine goodness)"]["test_accuracy"]
    for m in results:
        ctx.log.info("%-36s %.1f ± %.1f %%", m, 100 * metrics[m]["test_accuracy"]["mean"],
                     100 * metrics[m]["test_accuracy"]["std"])
    lr = metrics["digital_logistic_regression_accuracy"]
    ctx.log.info("%-36s %.1f ± %.1f %%", "logistic regression (digital)", 100 * lr["mean"],
                 100 * lr["std"])

    plt = pyplot()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.2))
    ep = np.arange(1, cfg.epochs + 1)
    for m, rs in results.items():
        c = np.array([r["curve"] for r in rs]) * 100
        a1.plot(ep, c.mean(0), label=m)
        a1.fill_between(ep, c.mean(0) - c.std(0), c.mean(0) + c.std(0), alpha=0.2)
    a1.axhline(100 * lr["mean"], color="k", ls="--", lw=1, label="logistic regression (digital)")
    a1.set(xlabel="epoch", ylabel="test accuracy [%]", ylim=(0, 101),
           title=f"7 vowels, 2 acoustic blocks (mean ± std, {len(seeds)} seeds)")
    a1.legend(fontsize=8, loc="lower right")
    names = [*results, "logistic regression (digital)"]
    vals = [[100 * r["accuracy"] for r in results[m]] for m in results] + [
        [100 * v for v in logreg]]
    for i, v in enumerate(vals):
        jitter = np.random.default_rng(i).uniform(-0.12, 0.12, len(v))
        a2.scatter(i + jitter, v, s=14, alpha=0.6)
        a2.errorbar(i, np.mean(v), yerr=np.std(v), fmt="o", color="k", capsize=4)
    a2.axhline(96, color="r", ls=":", lw=1, label="target 96 %")
    a2.set_xticks(range(len(names)), [n.replace(" (", "\n(") for n in names], fontsize=7)
    a2.set(ylabel="final test accuracy [%]", title="per seed (dots), mean ± std (black)")
    a2.legend(fontsize=8)
    fig.tight_layout()
    claim = ("Two fixed acoustic layers fitted to real measurements, trained model-free with "
             "PhyLL, classify 7 vowels from 12 formants at "
             f"{100 * phyll['mean']:.1f} ± {100 * phyll['std']:.1f} % test accuracy over "
             f"{len(seeds)} stratified 80/20 splits (target >= 96 %; logistic regression on "
             f"the same splits {100 * lr['mean']:.1f} ± {100 * lr['std']:.1f} %).")
    setup = {"seeds": seeds,
             "blocks": "2 x [AcousticCavity.from_measurements(seed=0) -> Linear(40, 20)]",
             "split": "sklearn train_test_split(test_size=0.2, stratify=y, random_state=seed)"}
    models = {m: rs[0]["model"] for m, rs in results.items()} if len(seeds) == 1 else {}
    return Result(claim=claim, metrics=metrics, figure=fig, timings=timings, setup=setup,
                  models=models)
