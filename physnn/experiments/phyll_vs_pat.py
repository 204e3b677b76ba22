"""PhyLL vs physics-aware training vs in-silico training vs a digital network, on one task.

Task: the 7-vowel formant task of ``phyll_vowels`` (stratified 80/20 splits) with two
acoustic blocks (:class:`hardware_models.AcousticCavity`, fitted to real measurements).

Methods, all training the same digital layers ``Linear(40, .)`` around the same physical
layers:

- PhyLL: model-free, label overlay, cosine goodness (no twin at all);
- physics-aware training (PAT): forward through the device, backward through a twin;
- in-silico training: backprop through the twins only, then deploy on the device;
- digital: the physical layers replaced by trainable ``Linear(20, 20) + tanh`` layers.

The twins are MLPs (20 -> 64 -> 64 -> 20) fitted to uniform random queries of the device.
The device then drifts: its drive gain falls to ``g`` (``AcousticParams(input_gain=g)``,
g = 1, 0.8, 0.6: a weaker loudspeaker amplifier) and the twins are not refitted. The
mismatch is measured as the relative RMS error of the twin against the drifted device on
random inputs, ``sqrt(mean((T(u) - P(u))**2) / var(P(u)))``.
Every method trains and is tested on the drifted device.

Run: ``physnn run phyll_vs_pat --out out`` (5 seeds), ``--quick`` for CI.
"""

from __future__ import annotations

import dataclasses

import numpy as np

import physnn as pn
from physnn.data import FORMANT_VOWELS, load_formants, require_data
from physnn.nets import abs_max_scale

from ._base import Device, Result, RunContext, help_field, mean_std, pyplot
from .phyll_vowels import prepare

NAME = "phyll_vs_pat"
DRIVE_GAINS = (1.0, 0.8, 0.6)
SWEEP_METRICS = ("drive gain 0.6.PhyLL.test_accuracy.mean",
                 "drive gain 0.6.physics-aware.test_accuracy.mean",
                 "drive gain 0.6.in-silico.test_accuracy.mean",
                 "drive gain 0.6.digital.test_accuracy.mean")


@dataclasses.dataclass(frozen=True)
class Config:
    """Settings of the PhyLL vs physics-aware training study (defaults: the reported run)."""

    seed: int = help_field(0, "first seed: splits, twins, initial weights and batches")
    n_seeds: int = help_field(5, "seeds seed .. seed + n - 1")
    device: Device = help_field("cpu", "where PhyLL's digital layers train (the backprop "
                                       "baselines use PyTorch on the CPU)")
    phyll_epochs: int = help_field(200, "PhyLL training epochs")
    backprop_epochs: int = help_field(200, "epochs of the backprop baselines")
    twin_queries: int = help_field(5000, "device queries to fit each block's twin")
    twin_epochs: int = help_field(150, "epochs of each twin's fit")
    quick: bool = help_field(False, "a smoke run (set by --quick)")

    def __post_init__(self) -> None:
        for key in ("n_seeds", "phyll_epochs", "backprop_epochs", "twin_queries",
                    "twin_epochs"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key} must be >= 1, got {getattr(self, key)}")


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
    from hardware_models import AcousticCavity, AcousticParams

    return AcousticCavity.from_measurements(seed=0, params=AcousticParams(input_gain=gain))


def network(out_last: int, gain: float):
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
    methods = ("PhyLL", "physics-aware", "in-silico", "digital")
    conds = [f"drive gain {g}" for g in DRIVE_GAINS]
    res = {c: {m: [] for m in methods} for c in conds}
    mismatch = {c: [] for c in conds}
    twin_r2 = []
    for seed in seeds:
        tr, te = train_test_split(np.arange(len(y)), test_size=0.2, stratify=y,
                                  random_state=seed)
        rng0 = np.random.default_rng(1000 + seed)
        base = device(1.0)
        twins = [fit_twin(base, n_queries=twin_queries, rng=rng0, epochs=twin_epochs)
                 for _ in range(2)]
        twin_r2.append(float(np.mean([t.r2 for t in twins])))
        digital = None
        for cond, gain in zip(conds, DRIVE_GAINS, strict=True):
            mismatch[cond].append(float(np.mean([twin_mismatch(t, gain, rng0) for t in twins])))
            # PhyLL (label overlaid: 7 + 12 + 1 pad = 20 inputs)
            xtr, xte = prepare(x[tr], x[te], 20 - k)
            net = network(20, gain)
            learner = pn.learning.PhyLL(alpha=4.0, inner_steps=10, optimizer=pn.optim.Adam(1e-3),
                                        backend=cfg.device)
            rng = np.random.default_rng(seed)
            h = learner.fit(net, xtr, y[tr], epochs=phyll_epochs, batch_size=32, rng=rng,
                            progress=ctx.progress)
            ev = learner.evaluate(net, xte, y[te], rng=rng)
            n_updates = phyll_epochs * int(np.ceil(len(tr) / 32)) * learner.inner_steps
            res[cond]["PhyLL"].append({
                "accuracy": ev["accuracy"], "queries": h.queries[-1], "macs": h.macs[-1],
                "macs_per_update": h.macs[-1] / n_updates, "wall_s": h.wall_s[-1],
                "test_queries_per_sample": ev["queries"] / ev["n"]})
            # backprop baselines (no overlay: 12 features + 8 pad = 20 inputs)
            xtr, xte = prepare(x[tr], x[te], 20)
            for m, mode in (("physics-aware", "physics_aware"), ("in-silico", "in_silico"),
                            ("digital", "digital")):
                if mode == "digital" and digital is not None:  # no device: train it once
                    res[cond][m].append(digital)
                    continue
                net = network(k, gain)
                bl = BackpropBaseline(mode, twins=twins if mode != "digital" else None,
                                      lr=3e-3)
                rng = np.random.default_rng(seed)
                h = bl.fit(net, xtr, y[tr], epochs=bp_epochs, batch_size=32, rng=rng)
                ev = bl.evaluate(net, xte, y[te], rng=rng)
                n_updates = bp_epochs * int(np.ceil(len(tr) / 32))
                fit_q = 0 if mode == "digital" else 2 * twin_queries
                sim = bl.evaluate(net, xte, y[te], rng=rng, simulate=True)["accuracy"]
                res[cond][m].append({
                    "accuracy": ev["accuracy"], "accuracy_in_simulation": sim,
                    "queries": h.queries[-1] + fit_q,
                    "macs": h.macs[-1], "macs_per_update": h.macs[-1] / n_updates,
                    "wall_s": h.wall_s[-1], "test_queries_per_sample": ev["queries"] / ev["n"]})
                if mode == "digital":
                    digital = res[cond][m][-1]
            ctx.log.info("seed %d %-10s: %s", seed, cond, ", ".join(
                f"{m} {res[cond][m][-1]['accuracy']:.3f}" for m in methods))

    metrics = {"seeds": len(seeds), "twin_r2_on_uniform_queries": mean_std(twin_r2),
               "drive_gains": list(DRIVE_GAINS)}
    timings: dict = {}
    for cond, by in res.items():
        metrics[cond] = {"twin_relative_rms_error": mean_std(mismatch[cond])}
        for m, rs in by.items():
            metrics[cond][m] = {
                "test_accuracy": mean_std([r["accuracy"] for r in rs]),
                "test_accuracy_in_simulation": mean_std([r.get("accuracy_in_simulation",
                                                               r["accuracy"]) for r in rs]),
                **{key: float(np.mean([r[key] for r in rs])) for key in
                   ("queries", "macs", "macs_per_update", "test_queries_per_sample")}}
            timings.setdefault(cond, {})[m] = {
                "train_wall_s": float(np.mean([r["wall_s"] for r in rs]))}
    for cond in res:
        for m in methods:
            a = metrics[cond][m]
            ctx.log.info("%-10s %-14s %5.1f ± %4.1f %%  queries %9.0f  MACs/update %10.0f  "
                         "train %.1f s", cond, m, 100 * a["test_accuracy"]["mean"],
                         100 * a["test_accuracy"]["std"], a["queries"], a["macs_per_update"],
                         timings[cond][m]["train_wall_s"])

    plt = pyplot()

    fig, axes = plt.subplots(1, 3, figsize=(14, 4), layout="constrained")
    mis_x = [metrics[c]["twin_relative_rms_error"]["mean"] for c in conds]
    for m, mk in zip(methods, "osdx", strict=True):
        mean = [100 * metrics[c][m]["test_accuracy"]["mean"] for c in conds]
        std = [100 * metrics[c][m]["test_accuracy"]["std"] for c in conds]
        axes[0].errorbar(mis_x, mean, yerr=std, marker=mk, capsize=3, label=m)
    sim = [100 * metrics[c]["in-silico"]["test_accuracy_in_simulation"]["mean"] for c in conds]
    axes[0].plot(mis_x, sim, ":", color="C2", label="in-silico, evaluated on its twins")
    for c, xv in zip(conds, mis_x, strict=True):
        axes[0].annotate(c.replace("drive ", ""), (xv, 55), fontsize=7, ha="center")
    axes[0].set(xlabel="twin vs device: relative RMS error (measured)",
                ylabel="test accuracy on the device [%]", ylim=(0, 105),
                title=f"accuracy as the device drifts ({len(seeds)} seeds)")
    axes[0].legend(fontsize=8, loc="lower left")
    xs = np.arange(len(methods))
    for ax, key, title in ((axes[1], "macs_per_update",
                            "digital MACs per optimizer update\n(PhyLL: 10 updates per batch)"),
                           (axes[2], "queries", "physical queries for training")):
        vals = [metrics[conds[0]][m][key] for m in methods]
        ax.bar(xs, [max(v, 1) for v in vals], color=["C0", "C1", "C2", "C3"])
        ax.set_yscale("log")
        ax.set_xticks(xs, methods, fontsize=8)
        ax.set(title=title)
        for i, v in enumerate(vals):
            ax.text(i, max(v, 1), f"{v:.2g}", ha="center", va="bottom", fontsize=8)
        ax.set_ylim(1, 10 * max(vals))
    last = conds[-1]
    pm, pa = metrics[last]["PhyLL"], metrics[last]["in-silico"]
    claim = ("On the 7-vowel task with two acoustic blocks, PhyLL needs no twin, uses "
             f"{metrics[conds[0]]['PhyLL']['macs_per_update']:.3g} digital MACs per update vs "
             f"{metrics[conds[0]]['physics-aware']['macs_per_update']:.3g} for physics-aware "
             f"training, and when the device drifts away from the twins ({last}, twin error "
             f"{metrics[last]['twin_relative_rms_error']['mean']:.2f}) keeps "
             f"{100 * pm['test_accuracy']['mean']:.1f} % while in-silico training drops to "
             f"{100 * pa['test_accuracy']['mean']:.1f} %.")
    setup = {"seeds": seeds, "twin_hidden": [64, 64], "batch_size": 32,
             "phyll": "PhyLL(alpha=4, inner_steps=10, Adam(1e-3))",
             "backprop": "Adam(3e-3), cross-entropy", "drive_gains": list(DRIVE_GAINS),
             "macs_note": "matrix products only; backprop counts forward + 2x backward"}
    return Result(claim=claim, metrics=metrics, figure=fig, timings=timings, setup=setup)
