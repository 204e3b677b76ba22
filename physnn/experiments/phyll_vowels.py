"""Vowel classification with two measured-data acoustic blocks, trained model-free (PhyLL).

Task (Momeni et al., *Science* 2023, acoustic experiment): 7 vowels spoken by women,
12 formant features (F1..F3 at steady state and at 20 / 50 / 80 % of the vowel), stratified
80/20 split, features z-scored on the training set then shifted non-negative. The physical
layers are :class:`hardware_models.AcousticCavity` surrogates fitted to 10 000 measurements of
the real cavity (20 inputs in [0, 1] -> 20 outputs).

Network: label overlaid in front of the 12 features, one zero pad (7 + 12 + 1 = 20 inputs),
then two blocks ``AcousticCavity -> Linear(20 + 20, 20)``; each block's input is scaled per
sample into [0, 1] (:func:`physnn.nets.abs_max_scale`) before it drives the cavity.

Split: per seed, a stratified 80/20 train/test split; a stratified ``validation_fraction`` of
the training split is held out for the per-epoch validation curves, and every method, control
and baseline trains on the rest. The test split is scored once, after training.

Compared on the same splits and seeds: PhyLL (cosine goodness), Forward-Forward (Hinton
goodness), the single-pass local-readout variant; the controls of PhyLL (the same network and
learner with the acoustic blocks silenced, or replaced by a random linear map of the same
output scale, :mod:`physnn.experiments._controls`); and the digital baselines (a same-parameter
MLP trained by backprop and logistic regression, both on the 12 formants).

Run: ``physnn run phyll_vowels --out out`` (10 seeds), ``--quick`` for CI.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

import physnn as pn
from physnn.data import FORMANT_VOWELS, load_formants, require_data
from physnn.nets import abs_max_scale

from ._base import (
    Device,
    Result,
    RunContext,
    at_least_one,
    help_field,
    mean_std,
    pyplot,
    validation_split,
)
from ._controls import (
    BASELINE_LABELS,
    BASELINES,
    baseline_panel,
    compare,
    control_network,
    digital_params,
    digital_same_params,
    logistic_regression,
)

NAME = "phyll_vowels"
SWEEP_METRICS = ("PhyLL (cosine goodness).test_accuracy.mean",
                 "Forward-Forward (Hinton goodness).test_accuracy.mean",
                 "local readout (one pass).test_accuracy.mean",
                 "digital_logistic_regression_accuracy.mean")
#: The method the controls re-run and the claim is about.
PHYLL = "PhyLL (cosine goodness)"
#: The two controls: the method's network with its physical layers replaced.
CONTROLS = ("physics_silenced", "random_linear")
#: Test share of each seed's stratified split.
TEST_FRACTION = 0.2


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
    validation_fraction: float = help_field(
        0.2, "stratified share of each training split held out for the per-epoch validation "
             "curves (everything trains on the rest)")
    quick: bool = help_field(False, "a smoke run (set by --quick)")

    def __post_init__(self) -> None:
        at_least_one(self, "n_seeds", "epochs", "batch_size", "inner_steps")
        if not 0 < self.validation_fraction < 1:
            raise ValueError(f"validation_fraction must lie in (0, 1), got "
                             f"{self.validation_fraction}")


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


def acoustic_net(n_blocks: int = 2) -> pn.PhysicalNetwork:
    """``n_blocks`` x ``AcousticCavity.from_measurements(seed=0) -> Linear(40, 20)``."""
    from hardware_models import AcousticCavity

    return pn.PhysicalNetwork([
        pn.Block(AcousticCavity.from_measurements(seed=0), pn.Linear(40, 20),
                 encode=abs_max_scale)
        for _ in range(n_blocks)
    ])


def vowel_split(y: np.ndarray, seed: int, validation_fraction: float
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(fit, validation, test)`` indices of one seed's split of the formant table.

    The test split is scikit-learn's stratified ``train_test_split(test_size=0.2,
    random_state=seed)`` (the split of the published run); the validation part is carved
    from the training split with :func:`~physnn.experiments._base.validation_split`.

    Parameters
    ----------
    y : ndarray of int
        The vowel labels.
    seed : int
        Seed of both draws.
    validation_fraction : float
        Stratified share of the training split held out, in (0, 1).

    Returns
    -------
    fit, validation, test : ndarray of int
        Disjoint indices into ``y``.
    """
    from sklearn.model_selection import train_test_split

    tr, te = train_test_split(np.arange(len(y)), test_size=TEST_FRACTION, stratify=y,
                              random_state=seed)
    fit, val = validation_split(y[tr], validation_fraction, seed)
    return tr[fit], tr[val], te


def train_and_test(learner: Any, net: pn.PhysicalNetwork, data: Mapping[str, tuple], *,
                   epochs: int, batch_size: int, seed: int, progress: bool) -> dict:
    """Train ``net`` with ``learner`` on ``data["fit"]``, curve on ``data["validation"]``.

    Parameters
    ----------
    learner : physnn learner
    net : PhysicalNetwork
        Untrained; trained in place.
    data : mapping
        ``{"fit": (x, y), "validation": (x, y), "test": (x, y)}``.
    epochs, batch_size : int
    seed : int
        Seed of the learner's generator (initial weights, batches, labels, noise).
    progress : bool

    Returns
    -------
    dict
        ``accuracy`` (test, scored once at the end), ``validation_accuracy`` (after the last
        epoch), ``curve`` (validation accuracy per epoch), ``loss`` (mean local loss per
        epoch), training and inference costs and ``model`` = ``(net, learner)``.
    """
    hist = learner.fit(net, *data["fit"], epochs=epochs, batch_size=batch_size,
                       rng=np.random.default_rng(seed), eval_data=data["validation"],
                       progress=progress)
    ev = learner.evaluate(net, *data["test"])
    return {"accuracy": ev["accuracy"], "validation_accuracy": hist.eval_accuracy[-1],
            "curve": hist.eval_accuracy, "loss": hist.loss, "train_queries": hist.queries[-1],
            "train_macs": hist.macs[-1], "train_wall_s": hist.wall_s[-1],
            "test_queries_per_sample": ev["queries"] / ev["n"],
            "test_macs_per_sample": ev["macs"] / ev["n"], "model": (net, learner)}


def run_seed(x: np.ndarray, y: np.ndarray, seed: int, *,
             methods: Mapping[str, tuple[Callable[[], Any], int]],
             make_net: Callable[[], pn.PhysicalNetwork], validation_fraction: float,
             epochs: int, batch_size: int, progress: bool) -> dict:
    """One seed of a vowel experiment: methods, PhyLL's two controls, two digital baselines.

    Parameters
    ----------
    x, y : ndarray
        The 12 formants and the vowel labels.
    seed : int
        Seed of the split and of every learner and baseline.
    methods : mapping
        ``{label: (make_learner, width)}``: inputs are padded to ``width`` (the label overlay
        fills the rest). :data:`PHYLL` must be one of them: its learner trains the controls.
    make_net : callable
        A fresh, untrained network.
    validation_fraction : float
        Share of the training split held out for the per-epoch curves.
    epochs, batch_size : int
    progress : bool

    Returns
    -------
    dict
        ``methods`` and ``controls``: ``{label: train_and_test(...)}``; ``baselines``:
        ``{"digital_same_params": ..., "logistic_regression": ...}``; the split sizes.
    """
    fit, val, te = vowel_split(y, seed, validation_fraction)

    def data(width: int) -> dict:
        x_fit, x_val = prepare(x[fit], x[val], width)
        _, x_te = prepare(x[fit], x[te], width)
        return {"fit": (x_fit, y[fit]), "validation": (x_val, y[val]), "test": (x_te, y[te])}

    kw = {"epochs": epochs, "batch_size": batch_size, "seed": seed, "progress": progress}
    out: dict[str, Any] = {"methods": {}, "controls": {}, "baselines": {},
                           "n": {"fit": len(fit), "validation": len(val), "test": len(te)}}
    for m, (make, width) in methods.items():
        net = make_net()
        if m == PHYLL:  # the controls start from copies of the same untrained network
            controls = {kind: control_network(net, kind, seed) for kind in CONTROLS}
            for kind, cnet in controls.items():
                out["controls"][kind] = train_and_test(make(), cnet, data(width), **kw)
            out["digital_params"] = digital_params(net)
        out["methods"][m] = train_and_test(make(), net, data(width), **kw)
    # digital baselines on the method's input features: the 12 formants, no overlay or pad
    d = data(x.shape[1])
    (x_fit, y_fit), (x_te, y_te) = d["fit"], d["test"]
    out["baselines"]["digital_same_params"] = digital_same_params(
        out["digital_params"], x_fit, y_fit, x_te, y_te, seed=seed)
    out["baselines"]["logistic_regression"] = logistic_regression(x_fit, y_fit, x_te, y_te,
                                                                  seed=seed)
    return out


def pct(rec: Mapping[str, Any]) -> str:
    """``"97.5 ± 1.7 %"`` of a :func:`mean_std` record of fractions; no ``±`` for one value.

    Parameters
    ----------
    rec : mapping
        ``mean``, ``std`` and ``values`` (fractions).

    Returns
    -------
    str
    """
    if len(rec["values"]) > 1:
        return f"{100 * rec['mean']:.1f} ± {100 * rec['std']:.1f} %"
    return f"{100 * rec['mean']:.1f} %"


def seeds_text(n: int) -> str:
    """``"1 seed"``, ``"3 seeds"``.

    Parameters
    ----------
    n : int

    Returns
    -------
    str
    """
    return f"{n} seed" if n == 1 else f"{n} seeds"


def run_seeds(x: np.ndarray, y: np.ndarray, seeds: list[int], cfg: Any, ctx: RunContext, *,
              methods: Mapping[str, tuple[Callable[[], Any], int]],
              make_net: Callable[[], pn.PhysicalNetwork]) -> list[dict]:
    """:func:`run_seed` for every seed with ``cfg``'s ``validation_fraction``, ``epochs`` and
    ``batch_size``, logging each seed's test accuracies; the per-seed results."""
    per_seed = []
    for seed in seeds:
        s = run_seed(x, y, seed, methods=methods, make_net=make_net,
                     validation_fraction=cfg.validation_fraction, epochs=cfg.epochs,
                     batch_size=cfg.batch_size, progress=ctx.progress)
        per_seed.append(s)
        ctx.log.info("seed %d: %s; %s", seed, ", ".join(
            f"{m.split(' (')[0]} {r['accuracy']:.3f}" for m, r in s["methods"].items()),
            ", ".join(f"{kind} {r['accuracy']:.3f}" for kind, r in
                      [*s["controls"].items(), *s["baselines"].items()]))
    return per_seed


def summarize(per_seed: list[dict], methods: list[str]) -> tuple[dict, dict, str, dict]:
    """Metrics of the methods, the ``baselines`` record, the comparison sentence, verdicts.

    Parameters
    ----------
    per_seed : list of dict
        :func:`run_seed` of every seed.
    methods : list of str
        The method labels, :data:`PHYLL` among them.

    Returns
    -------
    method_metrics : dict
        ``{label: {...}}`` for each method.
    baselines : dict
        ``{key: {"test_accuracy": mean_std, ...}}`` for every key of
        :data:`~physnn.experiments._controls.BASELINES`.
    sentence : str
        :func:`~physnn.experiments._controls.compare` of PhyLL against them.
    verdicts : dict
    """
    method_metrics = {}
    for m in methods:
        rs = [s["methods"][m] for s in per_seed]
        method_metrics[m] = {
            "test_accuracy": mean_std([r["accuracy"] for r in rs]),
            "validation_accuracy": mean_std([r["validation_accuracy"] for r in rs]),
            "validation_accuracy_per_epoch": np.mean([r["curve"] for r in rs], 0).tolist(),
            "loss_per_epoch": np.mean([r["loss"] for r in rs], 0).tolist(),
            "physical_queries_train": int(np.mean([r["train_queries"] for r in rs])),
            "digital_macs_train": int(np.mean([r["train_macs"] for r in rs])),
            "physical_queries_per_test_sample": rs[0]["test_queries_per_sample"],
            "digital_macs_per_test_sample": rs[0]["test_macs_per_sample"],
        }
    baselines: dict[str, dict] = {}
    for kind in CONTROLS:
        rs = [s["controls"][kind] for s in per_seed]
        baselines[kind] = {
            "test_accuracy": mean_std([r["accuracy"] for r in rs]),
            "validation_accuracy": mean_std([r["validation_accuracy"] for r in rs]),
            "validation_accuracy_per_epoch": np.mean([r["curve"] for r in rs], 0).tolist(),
            "learner": PHYLL, "digital_macs_per_test_sample": rs[0]["test_macs_per_sample"],
        }
    dsp = [s["baselines"]["digital_same_params"] for s in per_seed]
    baselines["digital_same_params"] = {
        "test_accuracy": mean_std([r["accuracy"] for r in dsp]),
        "params": dsp[0]["params"], "method_digital_params": per_seed[0]["digital_params"],
        "hidden": dsp[0]["hidden"], "macs_per_sample": dsp[0]["macs_per_sample"],
        "epochs": [r["epochs"] for r in dsp]}
    if all("validation_accuracy" in r for r in dsp):
        baselines["digital_same_params"]["validation_accuracy"] = mean_std(
            [r["validation_accuracy"] for r in dsp])
    lr = [s["baselines"]["logistic_regression"] for s in per_seed]
    baselines["logistic_regression"] = {
        "test_accuracy": mean_std([r["accuracy"] for r in lr]), "C": [r["C"] for r in lr],
        "macs_per_sample": lr[0]["macs_per_sample"]}
    baselines = {k: baselines[k] for k in BASELINES}
    sentence, verdicts = compare("PhyLL", method_metrics[PHYLL]["test_accuracy"],
                                 {k: v["test_accuracy"] for k, v in baselines.items()})
    return method_metrics, baselines, sentence, verdicts


def physics_words(verdicts: Mapping[str, Mapping[str, Any]], what: str) -> str:
    """What the controls and baselines say about the physical blocks, from the verdicts.

    Parameters
    ----------
    verdicts : mapping
        :func:`~physnn.experiments._controls.compare`'s verdicts of PhyLL.
    what : str
        How the sentence names the physical blocks ("acoustic blocks").
    """
    sil, rnd = (verdicts[k]["verdict"] for k in CONTROLS)
    gap = -100 * verdicts["physics_silenced"]["difference"]
    if sil == "above" and rnd == "above":
        words = (f"The {what} carry measurable computation: PhyLL is above both the silenced "
                 "and the random linear control.")
    elif sil == "above":
        words = (f"The {what} help only as a projection: PhyLL is above the silenced control, "
                 "but a random linear map of the same output scale "
                 + ("does better" if rnd == "below" else "does as well")
                 + ", so their nonlinearity adds nothing measurable.")
    elif sil == "below":
        words = (f"The {what} hurt here: with them silenced, the same digital layers and "
                 f"learner do {gap:.1f} points better.")
    else:
        words = (f"The {what} carry no measurable computation here: with them silenced, the "
                 "same digital layers and learner do as well.")
    names = {"digital_same_params": "a digital MLP with as many trainable parameters "
                                    "(backprop)",
             "logistic_regression": "logistic regression on the 12 formants"}
    beat = [names[k] for k in names if verdicts[k]["verdict"] == "below"]
    tie = [names[k] for k in names if verdicts[k]["verdict"] == "matches"]
    parts = []
    if beat:
        parts.append(" and ".join(beat) + (" beats" if len(beat) == 1 else " beat")
                     + " the physical network")
    if tie:
        parts.append(" and ".join(tie) + (" matches" if len(tie) == 1 else " match")
                     + (" it" if beat else " the physical network"))
    if parts:
        words += " Without any physics, " + "; ".join(parts) + " on this task."
    return words


def curves_panel(ax: Any, method_metrics: Mapping[str, Any], baselines: Mapping[str, Any],
                 per_seed: list[dict], n_seeds: int, title: str) -> None:
    """Validation accuracy per epoch: the methods (mean ± std band) and PhyLL's controls.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    method_metrics, baselines : mapping
        From :func:`summarize` (the logistic regression's test accuracy is drawn as a
        reference line, labelled as test).
    per_seed : list of dict
        :func:`run_seed` of every seed.
    n_seeds : int
    title : str
        First line of the title.
    """
    from matplotlib.ticker import MaxNLocator

    top = 101.0
    for i, m in enumerate(method_metrics):
        c = 100 * np.array([s["methods"][m]["curve"] for s in per_seed])
        ep = np.arange(1, c.shape[1] + 1)
        ax.plot(ep, c.mean(0), color=f"C{i}", label=m)
        if n_seeds > 1:
            ax.fill_between(ep, c.mean(0) - c.std(0), c.mean(0) + c.std(0), color=f"C{i}",
                            alpha=0.2)
            top = max(top, float((c.mean(0) + c.std(0)).max()) + 1.0)
    for kind, ls in zip(CONTROLS, ("--", ":"), strict=True):
        c = 100 * np.array([s["controls"][kind]["curve"] for s in per_seed])
        ax.plot(np.arange(1, c.shape[1] + 1), c.mean(0), color="0.35", ls=ls,
                label=f"PhyLL, {BASELINE_LABELS[kind]}")
    lr = baselines["logistic_regression"]["test_accuracy"]["mean"]
    ax.axhline(100 * lr, color="k", lw=1, ls="-.",
               label=f"{BASELINE_LABELS['logistic_regression']} (test)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    spread = "mean ± std over " if n_seeds > 1 else ""
    ax.set(xlabel="epoch", ylabel="validation accuracy [%]", ylim=(0, top),
           title=f"{title}\n(validation split, {spread}{seeds_text(n_seeds)})")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")


def unclip(ax: Any, series: Mapping[str, Any]) -> None:
    """Raise ``ax``'s top above every mean + std of ``series`` (accuracies as fractions).

    :func:`~physnn.experiments._controls.baseline_panel` caps its axis at 100.5 %, which
    cuts the error bar of a spread-out method whose mean + std passes 100 %.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        An axis drawn by ``baseline_panel``.
    series : mapping
        ``{label: [accuracy per seed]}`` as given to ``baseline_panel``.
    """
    lo, hi = ax.get_ylim()
    need = max(100 * (np.mean(v) + np.std(v)) for v in series.values())
    if need > hi:
        ax.set_ylim(lo, need + 0.05 * (need - lo))


#: What a validation-only check of PhyLL's learning rate found (seeds 0-2, 200 epochs,
#: the validation split of each seed; the test split untouched).
LR_CHECK = ("a validation-only check of phyll_lr (seeds 0-2, 200 epochs, the other settings "
            "the defaults) found final validation accuracies 96.8 ± 3.0 % (3e-4), "
            "96.8 ± 1.1 % (1e-3, the default) and 96.0 ± 3.0 % (3e-3): indistinguishable, so "
            "the default was kept; the Forward-Forward and local-readout settings were not "
            "checked")


def hyperparameters(cfg: Any, learner_keys: tuple[str, ...], check: str = "") -> dict:
    """``metrics["hyperparameters"]``: the values used and how they were chosen.

    Parameters
    ----------
    cfg : Config
        The run's settings.
    learner_keys : tuple of str
        The fields of ``cfg`` the learners use.
    check : str, optional
        What a check of the defaults on validation data found ("" when none was made).

    Returns
    -------
    dict
        ``chosen_on``, ``how`` and ``values``.
    """
    return {
        "chosen_on": ("validation (a check of the defaults)" if check else "not tuned")
                     + ": the learners use the Config defaults, documented as the published "
                       "run's settings (Momeni et al., Science 2023; how they were first picked "
                       "is not recorded); no setting is chosen on the test split",
        "validation_check": check or "none made",
        "how": "learners: the Config values as given, the controls with the same values; "
               "logistic regression: C from (0.01, 0.1, 1, 10) by accuracy on a stratified "
               "20 % validation part of the fit split; same-parameter MLP: its epoch count "
               "chosen on a validation part of the fit split (_controls.digital_same_params); "
               "per-epoch curves: the validation split carved from each training split "
               f"(validation_fraction = {cfg.validation_fraction}); the test split is scored "
               "once per seed, after training",
        "values": {k: getattr(cfg, k) for k in learner_keys},
    }


def run(cfg: Config, ctx: RunContext) -> Result:
    """Run the experiment with ``cfg`` (see the module docstring); nothing is written."""
    seeds = list(range(cfg.seed, cfg.seed + cfg.n_seeds))
    x, y, _ = load_formants()
    k = len(FORMANT_VOWELS)
    dev = cfg.device
    methods = {
        PHYLL: (lambda: pn.learning.PhyLL(
            alpha=cfg.alpha, inner_steps=cfg.inner_steps, optimizer=pn.optim.Adam(cfg.phyll_lr),
            backend=dev), 20 - k),
        "Forward-Forward (Hinton goodness)": (lambda: pn.learning.ForwardForward(
            theta=cfg.theta, inner_steps=cfg.inner_steps, optimizer=pn.optim.Adam(cfg.ff_lr),
            backend=dev), 20 - k),
        "local readout (one pass)": (lambda: pn.learning.LocalReadout(
            inner_steps=cfg.inner_steps, optimizer=pn.optim.Adam(cfg.readout_lr),
            backend=dev), 20),
    }
    per_seed = run_seeds(x, y, seeds, cfg, ctx, methods=methods, make_net=acoustic_net)

    method_metrics, baselines, sentence, verdicts = summarize(per_seed, list(methods))
    n = per_seed[0]["n"]
    metrics = {"n_test": n["test"], "n_fit": n["fit"], "n_validation": n["validation"],
               "seeds": len(seeds), "epochs": cfg.epochs,
               "digital_params": per_seed[0]["digital_params"],
               "digital_logistic_regression_accuracy":
                   baselines["logistic_regression"]["test_accuracy"],
               **method_metrics, "baselines": baselines, "verdicts": verdicts,
               "hyperparameters": hyperparameters(cfg, ("epochs", "batch_size", "inner_steps",
                                                        "alpha", "phyll_lr", "theta", "ff_lr",
                                                        "readout_lr"), check=LR_CHECK)}
    timings = {m: {"train_wall_s": float(np.mean([s["methods"][m]["train_wall_s"]
                                                   for s in per_seed]))} for m in methods}
    timings.update({f"PhyLL, {kind}": {"train_wall_s": float(np.mean(
        [s["controls"][kind]["train_wall_s"] for s in per_seed]))} for kind in CONTROLS})
    for m in methods:
        ctx.log.info("%-40s %s", m, pct(metrics[m]["test_accuracy"]))
    for key, rec in baselines.items():
        ctx.log.info("%-40s %s", BASELINE_LABELS[key], pct(rec["test_accuracy"]))

    plt = pyplot()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(13, 4.8), width_ratios=(1, 1.25),
                                 layout="constrained")
    curves_panel(a1, method_metrics, baselines, per_seed, len(seeds),
                 "7 vowels, 2 acoustic blocks")
    dots = {m: metrics[m]["test_accuracy"]["values"] for m in methods}
    dots_b = {key: rec["test_accuracy"]["values"] for key, rec in baselines.items()}
    baseline_panel(a2, dots, dots_b)
    unclip(a2, {**dots, **dots_b})
    lo, hi = a2.get_ylim()
    if lo < 96 < hi:
        a2.axhline(96, color="r", ls=":", lw=1, label="target 96 %")
        a2.legend(fontsize=8, loc="lower left")
    a2.set_title(f"test accuracy, {seeds_text(len(seeds))} (dots), mean ± std (black)",
                 fontsize=10)

    phyll = metrics[PHYLL]["test_accuracy"]
    others = "; ".join(f"{m.split(' (')[0]} {pct(metrics[m]['test_accuracy'])}"
                       for m in methods if m != PHYLL)
    claim = ("Two fixed acoustic layers fitted to real measurements, trained model-free with "
             f"PhyLL, classify 7 vowels from 12 formants at {pct(phyll)} test accuracy over "
             f"{len(seeds)} stratified 80/20 split{'s' if len(seeds) > 1 else ''} "
             f"(target >= 96 %: {'met' if phyll['mean'] >= 0.96 else 'not met'}; "
             f"{others}). " + sentence + " " + physics_words(verdicts, "acoustic blocks"))
    setup = {"seeds": seeds,
             "blocks": "2 x [AcousticCavity.from_measurements(seed=0) -> Linear(40, 20)]",
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
