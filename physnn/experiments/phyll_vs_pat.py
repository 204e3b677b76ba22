"""PhyLL vs physics-aware training vs in-silico training vs a digital network, on one task.

Task: the 7-vowel formant task of ``phyll_vowels`` (stratified 80/20 splits) with two
acoustic blocks (:class:`hardware_models.AcousticCavity`, fitted to real measurements).

Methods, all training the same digital layers ``Linear(40, .)`` around the same physical
layers:

- PhyLL: model-free, label overlay, cosine goodness (no twin at all);
- physics-aware training (PAT): forward through the device, backward through a twin;
- in-silico training: backprop through the twins only, then deploy on the device;
- digital: the physical layers replaced by trainable ``Linear(20, 20) + tanh`` layers.

Controls and baselines of PhyLL, on the same splits and seeds
(:mod:`physnn.experiments._controls`):

- ``physics_silenced``: PhyLL with the same settings on the same network, both acoustic
  blocks returning zeros (the digital layers and skip paths stay); it never touches the
  device, so one run per seed serves every drive gain;
- ``random_linear``: both blocks replaced by fixed random linear maps with the drifted
  device's output scale (one run per seed and drive gain);
- ``digital_same_params``: a one-hidden-layer MLP with as many trainable parameters as
  PhyLL's digital layers, trained by backprop on the 12 formants;
- ``logistic_regression`` on the 12 formants (``C`` chosen on a validation part of the
  training split).

The twins are MLPs (20 -> 64 -> 64 -> 20) fitted to uniform random queries of the device.
The device then drifts: its drive gain falls to ``g`` (``AcousticParams(input_gain=g)``,
g = 1, 0.8, 0.6: a weaker loudspeaker amplifier) and the twins are not refitted. The
mismatch is measured as the relative RMS error of the twin against the drifted device on
random inputs, ``sqrt(mean((T(u) - P(u))**2) / var(P(u)))``.
Every method trains and is tested on the drifted device.

Digital work is counted in multiply-accumulates (matrix products only) per mini-batch of 32
samples and per training run (PhyLL makes ``inner_steps`` = 10 optimizer steps per batch on
one cached measurement, backprop one), and per inference sample (PhyLL runs one label pass
per class, 7).

Run: ``physnn run phyll_vs_pat --out out`` (5 seeds), ``--quick`` for CI.
"""

from __future__ import annotations

import dataclasses

import numpy as np

import physnn as pn
from physnn.data import FORMANT_VOWELS, load_formants, require_data
from physnn.nets import abs_max_scale

from ._base import Device, Result, RunContext, at_least_one, help_field, mean_std, pyplot
from ._controls import (
    BASELINE_LABELS,
    BASELINES,
    baseline_panel,
    compare,
    control_network,
    digital_params,
    digital_same_params,
    logistic_regression,
    verdict,
)
from .phyll_vowels import prepare

NAME = "phyll_vs_pat"
DRIVE_GAINS = (1.0, 0.8, 0.6)
METHODS = ("PhyLL", "physics-aware", "in-silico", "digital")
#: How figures and claims name the methods.
METHOD_LABELS = {"PhyLL": "PhyLL (no twin)", "physics-aware": "physics-aware training",
                 "in-silico": "in-silico training",
                 "digital": "digital (trainable Linear + tanh)"}
SWEEP_METRICS = ("drive gain 0.6.PhyLL.test_accuracy.mean",
                 "drive gain 0.6.physics-aware.test_accuracy.mean",
                 "drive gain 0.6.in-silico.test_accuracy.mean",
                 "drive gain 0.6.digital.test_accuracy.mean")
BATCH = 32


@dataclasses.dataclass(frozen=True)
class Config:
    """Settings of the PhyLL vs physics-aware training study (defaults: the reported run)."""

    seed: int = help_field(0, "first seed: splits, twins, initial weights and batches")
    n_seeds: int = help_field(5, "seeds seed .. seed + n - 1")
    device: Device = help_field("cpu", "where PhyLL's digital layers train (the backprop "
                                       "baselines use PyTorch on the CPU)")
    phyll_epochs: int = help_field(200, "PhyLL training epochs (also its controls')")
    backprop_epochs: int = help_field(200, "epochs of the backprop baselines")
    twin_queries: int = help_field(5000, "device queries to fit each block's twin")
    twin_epochs: int = help_field(150, "epochs of each twin's fit")
    quick: bool = help_field(False, "a smoke run (set by --quick)")

    def __post_init__(self) -> None:
        at_least_one(self, "n_seeds", "phyll_epochs", "backprop_epochs", "twin_queries",
                           "twin_epochs")


QUICK = {"quick": True, "n_seeds": 1, "phyll_epochs": 10, "backprop_epochs": 10,
         "twin_queries": 1000, "twin_epochs": 20}


def check(cfg: Config) -> None:
    """PyTorch, the formant table and the acoustic measurements, before any work."""
    import importlib.util

    from physnn.config import ConfigError

    if importlib.util.find_spec("torch") is None:
        raise ConfigError("phyll_vs_pat needs PyTorch for its backprop baselines: "
                          "pip install torch (the 'ref' extra)")
    require_data("hillenbrand_formants_women7.csv", "phyll_acoustic/x_data.csv",
                 "phyll_acoustic/y_data.csv")


def device(gain: float):
    """The measured acoustic cavity with its drive gain set to ``gain`` (1: nominal)."""
    from hardware_models import AcousticCavity, AcousticParams

    return AcousticCavity.from_measurements(seed=0, params=AcousticParams(input_gain=gain))


def network(out_last: int, gain: float):
    """Two blocks ``device(gain) -> Linear(40, .)``, the last with ``out_last`` outputs."""
    return pn.PhysicalNetwork([
        pn.Block(device(gain), pn.Linear(40, 20), encode=abs_max_scale),
        pn.Block(device(gain), pn.Linear(40, out_last), encode=abs_max_scale),
    ])


def twin_mismatch(twin, gain: float, rng: np.random.Generator) -> float:
    """Relative RMS error of ``twin`` against the device at drive gain ``gain``."""
    import torch

    u = rng.random((2000, 20)).astype(np.float32)
    with torch.no_grad():
        t = twin.module(torch.from_numpy(u)).numpy()
    p = device(gain).forward(u)
    return float(np.sqrt(np.mean((t - p) ** 2) / p.var()))


def _cost(h, ev, epochs: int, n_train: int, steps_per_batch: int) -> dict:
    """Accuracy and digital / physical cost of one trained model."""
    batches = epochs * int(np.ceil(n_train / BATCH))
    return {"accuracy": ev["accuracy"], "queries": h.queries[-1], "macs": h.macs[-1],
            "macs_per_batch": h.macs[-1] / batches,
            "optimizer_steps": batches * steps_per_batch,
            "inference_macs_per_sample": ev["macs"] / ev["n"], "wall_s": h.wall_s[-1],
            "test_queries_per_sample": ev["queries"] / ev["n"]}


def _phyll(net, xtr, ytr, xte, yte, seed: int, epochs: int, cfg: Config,
           ctx: RunContext) -> dict:
    """PhyLL (alpha 4, 10 inner steps, Adam 1e-3) on ``net``, tested on ``(xte, yte)``."""
    learner = pn.learning.PhyLL(alpha=4.0, inner_steps=10, optimizer=pn.optim.Adam(1e-3),
                                backend=cfg.device)
    rng = np.random.default_rng(seed)
    h = learner.fit(net, xtr, ytr, epochs=epochs, batch_size=BATCH, rng=rng,
                    progress=ctx.progress)
    ev = learner.evaluate(net, xte, yte, rng=rng)
    return _cost(h, ev, epochs, len(ytr), learner.inner_steps)


def run(cfg: Config, ctx: RunContext) -> Result:
    """Run the experiment with ``cfg`` (see the module docstring); nothing is written."""
    import torch
    from sklearn.model_selection import train_test_split

    from physnn.learning.baselines import BackpropBaseline, fit_twin

    torch.set_num_threads(1)
    seeds = list(range(cfg.seed, cfg.seed + cfg.n_seeds))
    phyll_epochs, bp_epochs = cfg.phyll_epochs, cfg.backprop_epochs
    twin_queries, twin_epochs = cfg.twin_queries, cfg.twin_epochs
    x, y, _ = load_formants()
    k = len(FORMANT_VOWELS)
    conds = [f"drive gain {g}" for g in DRIVE_GAINS]
    res = {c: {m: [] for m in (*METHODS, *BASELINES)} for c in conds}
    mismatch = {c: [] for c in conds}
    twin_r2, n_params = [], 0
    for seed in seeds:
        tr, te = train_test_split(np.arange(len(y)), test_size=0.2, stratify=y,
                                  random_state=seed)
        n_test = int(len(te))
        rng0 = np.random.default_rng(1000 + seed)
        base = device(1.0)
        twins = [fit_twin(base, n_queries=twin_queries, rng=rng0, epochs=twin_epochs)
                 for _ in range(2)]
        twin_r2.append(float(np.mean([t.r2 for t in twins])))
        once: dict[str, dict] = {}  # what does not depend on the device: trained once per seed
        # PhyLL's inputs: label overlaid, 7 + 12 + 1 pad = 20; backprop's: 12 + 8 pad = 20
        ptr, pte = prepare(x[tr], x[te], 20 - k)
        btr, bte = prepare(x[tr], x[te], 20)
        n_params = digital_params(network(20, 1.0))
        dsp = digital_same_params(n_params, x[tr], y[tr], x[te], y[te], seed=seed)
        once["digital_same_params"] = {**dsp, "inference_macs_per_sample":
                                       dsp["macs_per_sample"]}
        lr_ = logistic_regression(x[tr], y[tr], x[te], y[te], seed=seed)
        once["logistic_regression"] = {**lr_, "inference_macs_per_sample":
                                       lr_["macs_per_sample"]}
        for cond, gain in zip(conds, DRIVE_GAINS, strict=True):
            mismatch[cond].append(float(np.mean([twin_mismatch(t, gain, rng0) for t in twins])))
            untrained = network(20, gain)
            res[cond]["PhyLL"].append(_phyll(network(20, gain), ptr, y[tr], pte, y[te], seed,
                                             phyll_epochs, cfg, ctx))
            res[cond]["random_linear"].append(_phyll(
                control_network(untrained, "random_linear", seed), ptr, y[tr], pte, y[te], seed,
                phyll_epochs, cfg, ctx))
            if "physics_silenced" not in once:  # zeros whatever the device does
                once["physics_silenced"] = _phyll(
                    control_network(untrained, "physics_silenced", seed), ptr, y[tr], pte,
                    y[te], seed, phyll_epochs, cfg, ctx)
            for m, mode in (("physics-aware", "physics_aware"), ("in-silico", "in_silico"),
                            ("digital", "digital")):
                if m in once:  # no device: trained once
                    continue
                net = network(k, gain)
                bl = BackpropBaseline(mode, twins=twins if mode != "digital" else None,
                                      lr=3e-3)
                rng = np.random.default_rng(seed)
                h = bl.fit(net, btr, y[tr], epochs=bp_epochs, batch_size=BATCH, rng=rng)
                ev = bl.evaluate(net, bte, y[te], rng=rng)
                sim = bl.evaluate(net, bte, y[te], rng=rng, simulate=True)["accuracy"]
                r = _cost(h, ev, bp_epochs, len(tr), 1)
                r["accuracy_in_simulation"] = sim
                r["queries"] += 0 if mode == "digital" else 2 * twin_queries
                if mode == "digital":
                    once[m] = r
                else:
                    res[cond][m].append(r)
            for m in ("digital", *BASELINES):
                if m in once:
                    res[cond][m].append(once[m])
            ctx.log.info("seed %d %-14s: %s", seed, cond, ", ".join(
                f"{m} {res[cond][m][-1]['accuracy']:.3f}" for m in (*METHODS, *BASELINES)))

    metrics: dict = {"seeds": len(seeds), "n_test": n_test,
                     "twin_r2_on_uniform_queries": mean_std(twin_r2),
                     "drive_gains": list(DRIVE_GAINS), "phyll_digital_params": n_params}
    timings: dict = {}
    for cond, by in res.items():
        metrics[cond] = {"twin_relative_rms_error": mean_std(mismatch[cond])}
        for m in METHODS:
            rs = by[m]
            metrics[cond][m] = {
                "test_accuracy": mean_std([r["accuracy"] for r in rs]),
                "test_accuracy_in_simulation": mean_std([r.get("accuracy_in_simulation",
                                                               r["accuracy"]) for r in rs]),
                **{key: float(np.mean([r[key] for r in rs])) for key in
                   ("queries", "macs", "macs_per_batch", "optimizer_steps",
                    "inference_macs_per_sample", "test_queries_per_sample")}}
            timings.setdefault(cond, {})[m] = {
                "train_wall_s": float(np.mean([r["wall_s"] for r in rs]))}
        bases = {}
        for key in BASELINES:
            rs = by[key]
            bases[key] = {"test_accuracy": mean_std([r["accuracy"] for r in rs]),
                          "inference_macs_per_sample": float(rs[0]["inference_macs_per_sample"])}
            if key in ("physics_silenced", "random_linear"):
                bases[key].update({"trained_with": "PhyLL, the method's settings and seeds",
                                   "macs": float(np.mean([r["macs"] for r in rs]))})
            elif key == "digital_same_params":
                bases[key].update({"params": rs[0]["params"], "hidden": rs[0]["hidden"],
                                   "epochs": [r["epochs"] for r in rs],
                                   "input": "the 12 formants"})
            else:
                bases[key].update({"C": [r["C"] for r in rs], "input": "the 12 formants"})
        _, verdicts = compare("PhyLL", metrics[cond]["PhyLL"]["test_accuracy"],
                              {b: bases[b]["test_accuracy"] for b in BASELINES})
        metrics[cond]["baselines"], metrics[cond]["verdicts"] = bases, verdicts
    # the top-level controls and baselines: the nominal device (no drift)
    nominal = conds[0]
    metrics["baselines_condition"] = nominal
    metrics["baselines"] = metrics[nominal]["baselines"]
    metrics["verdicts"] = metrics[nominal]["verdicts"]
    metrics["hyperparameters"] = {
        "chosen_on": "nothing in this run: PhyLL and its controls use phyll_vowels' settings, "
                     "documented as the published run's (Momeni et al., Science 2023: alpha 4, "
                     "10 inner steps, Adam 1e-3, batch 32); the backprop methods use Adam 3e-3 "
                     "as given; nothing is chosen on the test split",
        "how": "the Config values as given; logistic regression: C from (0.01, 0.1, 1, 10) by "
               "accuracy on a stratified 20 % validation part of the training split; "
               "same-parameter MLP: early stopping on 10 % of the training split",
        "values": {"phyll": {"alpha": 4.0, "inner_steps": 10, "lr": 1e-3, "batch_size": BATCH,
                             "epochs": phyll_epochs},
                   "backprop": {"lr": 3e-3, "batch_size": BATCH, "epochs": bp_epochs}}}
    for cond in res:
        for m in METHODS:
            a = metrics[cond][m]
            ctx.log.info("%-14s %-14s %5.1f ± %4.1f %%  queries %9.0f  MACs/batch %10.0f  "
                         "MACs/run %10.3g  train %.1f s", cond, m,
                         100 * a["test_accuracy"]["mean"], 100 * a["test_accuracy"]["std"],
                         a["queries"], a["macs_per_batch"], a["macs"],
                         timings[cond][m]["train_wall_s"])
        for key, b in metrics[cond]["baselines"].items():
            ctx.log.info("%-14s %-40s %5.1f ± %4.1f %%", cond, BASELINE_LABELS[key],
                         100 * b["test_accuracy"]["mean"], 100 * b["test_accuracy"]["std"])

    claim = _claim(metrics, conds, len(seeds))
    fig = _figure(metrics, conds, len(seeds))
    setup = {"seeds": seeds, "twin_hidden": [64, 64], "batch_size": BATCH,
             "phyll": "PhyLL(alpha=4, inner_steps=10, Adam(1e-3))",
             "backprop": "Adam(3e-3), cross-entropy", "drive_gains": list(DRIVE_GAINS),
             "controls": "physnn.experiments._controls: control_network trained with PhyLL "
                         "(same settings, splits and seeds); digital_same_params and "
                         "logistic_regression on the 12 formants",
             "macs_note": "matrix products only; backprop counts forward + 2x backward; "
                          "macs = per training run; PhyLL makes 10 optimizer steps per batch; "
                          "PhyLL inference runs one label pass per class (7)"}
    return Result(claim=claim, metrics=metrics, figure=fig, timings=timings, setup=setup)


def _pct(rec: dict) -> str:
    s = f"{100 * rec['mean']:.1f}"
    return s + (f" ± {100 * rec['std']:.1f} %" if len(rec["values"]) > 1 else " %")


def _claim(metrics: dict, conds: list[str], n_seeds: int) -> str:
    """The claim, from the numbers: controls, drift, digital work."""
    nominal, last = conds[0], conds[-1]
    m0 = metrics[nominal]
    sentence, _ = compare("PhyLL", m0["PhyLL"]["test_accuracy"],
                          {b: m0["baselines"][b]["test_accuracy"] for b in BASELINES})
    text = (f"On the 7-vowel formant task with two acoustic blocks ({n_seeds} seed"
            f"{'s' * (n_seeds > 1)}, {metrics['n_test']} test vowels each), on the nominal "
            f"device ({nominal}): {sentence}")
    weak = [BASELINE_LABELS[k] for k in ("physics_silenced", "random_linear")
            if m0["verdicts"][k]["verdict"] != "above"]
    if len(weak) == 2:
        text += (" The acoustic blocks carry no computation PhyLL uses that the controls "
                 "lack.")
    elif weak:
        text += f" PhyLL with the acoustic blocks does no better than the {weak[0]}."
    else:
        text += " PhyLL uses the acoustic blocks: it is above both controls."
    ml = metrics[last]
    pm = ml["PhyLL"]["test_accuracy"]
    parts = []
    for m in ("physics-aware", "in-silico"):
        v, d = verdict(pm, ml[m]["test_accuracy"])
        word = {"above": "above", "matches": "level with", "below": "below"}[v]
        parts.append(f"{word} {METHOD_LABELS[m]} ({_pct(ml[m]['test_accuracy'])})")
    text += (f" When the device drifts away from the twins ({last}, twin error "
             f"{ml['twin_relative_rms_error']['mean']:.2f}), PhyLL, which needs no twin, "
             f"reaches {_pct(pm)}: " + " and ".join(parts) + ".")
    ctl = [BASELINE_LABELS[b] for b in BASELINES if ml["verdicts"][b]["verdict"] != "above"]
    if ctl:
        text += f" There, too, PhyLL is not above: {', '.join(ctl)}."
    pa, ph = m0["PhyLL"], m0["physics-aware"]
    ratio_b, ratio_r = pa["macs_per_batch"] / ph["macs_per_batch"], pa["macs"] / ph["macs"]
    text += (f" Digital training work: PhyLL {pa['macs_per_batch']:.3g} MACs per batch "
             f"({pa['optimizer_steps'] / max(ph['optimizer_steps'], 1):.0f}x the optimizer "
             f"steps) and {pa['macs']:.3g} per training run, against {ph['macs_per_batch']:.3g}"
             f" and {ph['macs']:.3g} for physics-aware training ({ratio_b:.2f}x per batch, "
             f"{ratio_r:.2f}x per run); inference: PhyLL {pa['inference_macs_per_sample']:.3g}"
             f" MACs per sample (one pass per label) against "
             f"{ph['inference_macs_per_sample']:.3g}.")
    return text


def _figure(metrics: dict, conds: list[str], n_seeds: int):
    """Accuracy under drift, the controls and baselines, digital work, physical queries."""
    plt = pyplot()
    fig = plt.figure(figsize=(16, 10.5), layout="constrained")
    ax_ = fig.subplot_mosaic("ABB;CCD")
    axes = [ax_[k] for k in "ABCD"]
    seeds_txt = f"{n_seeds} seed{'s' * (n_seeds > 1)}"
    ax = axes[0]
    mis_x = [metrics[c]["twin_relative_rms_error"]["mean"] for c in conds]
    lo = []
    for m, mk in zip(METHODS, "osdx", strict=True):
        mean = np.array([100 * metrics[c][m]["test_accuracy"]["mean"] for c in conds])
        std = np.array([100 * metrics[c][m]["test_accuracy"]["std"] for c in conds])
        ax.errorbar(mis_x, mean, yerr=std, marker=mk, capsize=3, label=METHOD_LABELS[m])
        lo.append((mean - std).min())
    sim = [100 * metrics[c]["in-silico"]["test_accuracy_in_simulation"]["mean"] for c in conds]
    ax.plot(mis_x, sim, ":", color="C2", label="in-silico, evaluated on its twins")
    for key, ls in zip(BASELINES, ("--", "-.", (0, (1, 1)), (0, (5, 2, 1, 2))), strict=True):
        mean = np.array([100 * metrics[c]["baselines"][key]["test_accuracy"]["mean"]
                         for c in conds])
        ax.plot(mis_x, mean, linestyle=ls, color="0.45", lw=1.2, label=BASELINE_LABELS[key])
        lo.append(mean.min())
    bottom = max(0.0, min(lo) - 8)
    top = ax.secondary_xaxis("top")
    top.set_xticks(mis_x, [c.replace("drive ", "") for c in conds], fontsize=8)
    ax.set(xlabel="twin vs device: relative RMS error (measured)",
           ylabel="test accuracy on the device [%]", ylim=(bottom, 101),
           title=f"accuracy as the device drifts ({seeds_txt})")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2)
    ax.grid(alpha=0.3)
    nominal = conds[0]
    baseline_panel(axes[1], {METHOD_LABELS[m]: metrics[nominal][m]["test_accuracy"]["values"]
                             for m in METHODS},
                   {k: metrics[nominal]["baselines"][k]["test_accuracy"]["values"]
                    for k in BASELINES})
    axes[1].set_title(f"{nominal} (nominal device): methods, PhyLL's controls and baselines"
                      f"\n(dots: seeds; mean ± std)", fontsize=10)
    ax = axes[2]
    names = ["PhyLL", "physics-aware", "in-silico", "digital"]
    keys = (("macs_per_batch", "training, per batch of 32"),
            ("macs", "training, whole run"),
            ("inference_macs_per_sample", "inference, per sample"))
    xs = np.arange(len(names))
    w = 0.27
    top = 1.0
    for j, (key, lab) in enumerate(keys):
        vals = [metrics[nominal][m][key] for m in names]
        top = max(top, *vals)
        ax.bar(xs + (j - 1) * w, [max(v, 1) for v in vals], w, label=lab, color=f"C{j + 4}")
        for i, v in enumerate(vals):
            ax.text(i + (j - 1) * w, max(v, 1), f"{v:.2g}", ha="center", va="bottom",
                    fontsize=8)
    ax.set_yscale("log")
    ax.set_ylim(1, 100 * top)
    ax.set_xticks(xs, ["PhyLL\n(10 steps/batch,\n7 label passes)", "physics-\naware",
                       "in-silico", "digital"], fontsize=8)
    ax.set(ylabel="digital multiply-accumulates", title=f"digital work ({nominal})")
    ax.legend(fontsize=8, loc="upper right", ncol=3)
    ax = axes[3]
    vals = [metrics[nominal][m]["queries"] for m in names]
    ax.bar(xs, [max(v, 1) for v in vals], color=["C0", "C1", "C2", "C3"])
    ax.set_yscale("log")
    ax.set_xticks(xs, ["PhyLL", "physics-\naware", "in-silico", "digital"], fontsize=8)
    for i, v in enumerate(vals):
        ax.text(i, max(v, 1), f"{v:.2g}", ha="center", va="bottom", fontsize=8)
    ax.set_ylim(1, 10 * max(max(vals), 1))
    ax.set(ylabel="physical queries", title="physical queries for training\n(incl. twin fits)")
    return fig
