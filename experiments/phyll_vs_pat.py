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

Run: ``python experiments/phyll_vs_pat.py --out out`` (5 seeds), ``--quick`` for CI.
"""

from __future__ import annotations

import os

# The matrices here are small: BLAS worker threads only add overhead (and stall on a busy
# machine). Set OPENBLAS_NUM_THREADS yourself to override.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import time  # noqa: E402

import numpy as np  # noqa: E402
from phyll_common import mean_std, parser, run, write_outputs  # noqa: E402
from phyll_vowels import prepare  # noqa: E402

import physnn as pn  # noqa: E402
from physnn.data import FORMANT_VOWELS, load_formants, require_data  # noqa: E402
from physnn.nets import abs_max_scale  # noqa: E402

NAME = "phyll_vs_pat"
DRIVE_GAINS = (1.0, 0.8, 0.6)


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


def main(argv=None) -> dict:
    args = parser(__doc__.splitlines()[0]).parse_args(argv)
    require_data("hillenbrand_formants_women7.csv", "phyll_acoustic/x_data.csv",
                 "phyll_acoustic/y_data.csv")  # before any work
    started = time.perf_counter()
    import torch
    from sklearn.model_selection import train_test_split

    from physnn.learning.baselines import BackpropBaseline, fit_twin

    torch.set_num_threads(1)
    seeds = args.seeds or (1 if args.quick else 5)
    phyll_epochs = 10 if args.quick else 200
    bp_epochs = 10 if args.quick else 200
    twin_queries, twin_epochs = (1000, 20) if args.quick else (5000, 150)
    x, y, _ = load_formants()
    k = len(FORMANT_VOWELS)
    methods = ("PhyLL", "physics-aware", "in-silico", "digital")
    conds = [f"drive gain {g}" for g in DRIVE_GAINS]
    res = {c: {m: [] for m in methods} for c in conds}
    mismatch = {c: [] for c in conds}
    twin_r2 = []
    for seed in range(seeds):
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
            learner = pn.learning.PhyLL(alpha=4.0, inner_steps=10, optimizer=pn.optim.Adam(1e-3))
            rng = np.random.default_rng(seed)
            h = learner.fit(net, xtr, y[tr], epochs=phyll_epochs, batch_size=32, rng=rng,
                            progress=not args.no_progress)
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
            print(f"seed {seed} {cond:10s}: " + ", ".join(
                f"{m} {res[cond][m][-1]['accuracy']:.3f}" for m in methods), flush=True)

    metrics = {"seeds": seeds, "twin_r2_on_uniform_queries": mean_std(twin_r2),
               "drive_gains": list(DRIVE_GAINS)}
    for cond, by in res.items():
        metrics[cond] = {"twin_relative_rms_error": mean_std(mismatch[cond])}
        for m, rs in by.items():
            metrics[cond][m] = {
                "test_accuracy": mean_std([r["accuracy"] for r in rs]),
                "test_accuracy_in_simulation": mean_std([r.get("accuracy_in_simulation",
                                                               r["accuracy"]) for r in rs]),
                **{key: float(np.mean([r[key] for r in rs])) for key in
                   ("queries", "macs", "macs_per_update", "wall_s", "test_queries_per_sample")}}
    for cond in res:
        for m in methods:
            a = metrics[cond][m]
            print(f"{cond:10s} {m:14s} {100 * a['test_accuracy']['mean']:5.1f} ± "
                  f"{100 * a['test_accuracy']['std']:4.1f} %  queries {a['queries']:>9.0f}  "
                  f"MACs/update {a['macs_per_update']:>10.0f}  train {a['wall_s']:.1f} s")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
                title=f"accuracy as the device drifts ({seeds} seeds)")
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
    config = {"quick": args.quick, "seeds": seeds, "phyll_epochs": phyll_epochs,
              "backprop_epochs": bp_epochs, "twin_queries_per_block": twin_queries,
              "twin_epochs": twin_epochs, "twin_hidden": [64, 64], "batch_size": 32,
              "phyll": "PhyLL(alpha=4, inner_steps=10, Adam(1e-3))",
              "backprop": "Adam(3e-3), cross-entropy", "drive_gains": list(DRIVE_GAINS),
              "macs_note": "matrix products only; backprop counts forward + 2x backward"}
    write_outputs(args.out, NAME, fig, claim, metrics, config, started)
    plt.close(fig)
    return metrics


if __name__ == "__main__":
    run(main)
