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
Two conditions: the device the twins were fitted to ("matched"), and the device after a
drift ("mismatched"): drive gain x0.85, receive gain x1.2 and measurement noise at the
level of the surrogate's measured residual (``AcousticParams(noise=1.0)``); the twins are not
refitted. Every method trains and is tested on the device of its condition.

Run: ``python experiments/phyll_vs_pat.py --out out`` (5 seeds), ``--quick`` for CI.
"""

from __future__ import annotations

import os

# The matrices here are small: BLAS worker threads only add overhead (and stall on a busy
# machine). Set OPENBLAS_NUM_THREADS yourself to override.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import time  # noqa: E402

import numpy as np  # noqa: E402
from phyll_common import mean_std, parser, write_outputs  # noqa: E402
from phyll_vowels import prepare  # noqa: E402

import physnn as pn  # noqa: E402
from physnn.data import FORMANT_VOWELS, load_formants  # noqa: E402
from physnn.nets import abs_max_scale  # noqa: E402

NAME = "phyll_vs_pat"
DRIFT = {"input_gain": 0.85, "output_gain": 1.2, "noise": 1.0}


def device(mismatched: bool):
    from hardware_models import AcousticCavity, AcousticParams

    params = AcousticParams(**DRIFT) if mismatched else None
    return AcousticCavity.from_measurements(seed=0, params=params)


def network(out_last: int, mismatched: bool):
    return pn.PhysicalNetwork([
        pn.Block(device(mismatched), pn.Linear(40, 20), encode=abs_max_scale),
        pn.Block(device(mismatched), pn.Linear(40, out_last), encode=abs_max_scale),
    ])


def main(argv=None) -> dict:
    args = parser(__doc__.splitlines()[0]).parse_args(argv)
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
    res = {c: {m: [] for m in methods} for c in ("matched", "mismatched")}
    twin_r2 = []
    for seed in range(seeds):
        tr, te = train_test_split(np.arange(len(y)), test_size=0.2, stratify=y,
                                  random_state=seed)
        rng0 = np.random.default_rng(1000 + seed)
        base = device(False)
        twins = [fit_twin(base, n_queries=twin_queries, rng=rng0, epochs=twin_epochs)
                 for _ in range(2)]
        twin_r2.append(float(np.mean([t.r2 for t in twins])))
        for cond in ("matched", "mismatched"):
            mis = cond == "mismatched"
            # PhyLL (label overlaid: 7 + 12 + 1 pad = 20 inputs)
            xtr, xte = prepare(x[tr], x[te], 20 - k)
            net = network(20, mis)
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
                net = network(k, mis)
                bl = BackpropBaseline(mode, twins=twins if mode != "digital" else None,
                                      lr=3e-3)
                rng = np.random.default_rng(seed)
                h = bl.fit(net, xtr, y[tr], epochs=bp_epochs, batch_size=32, rng=rng)
                ev = bl.evaluate(net, xte, y[te], rng=rng)
                n_updates = bp_epochs * int(np.ceil(len(tr) / 32))
                fit_q = 0 if mode == "digital" else 2 * twin_queries
                res[cond][m].append({
                    "accuracy": ev["accuracy"], "queries": h.queries[-1] + fit_q,
                    "macs": h.macs[-1], "macs_per_update": h.macs[-1] / n_updates,
                    "wall_s": h.wall_s[-1], "test_queries_per_sample": ev["queries"] / ev["n"]})
            print(f"seed {seed} {cond:10s}: " + ", ".join(
                f"{m} {res[cond][m][-1]['accuracy']:.3f}" for m in methods), flush=True)

    metrics = {"seeds": seeds, "twin_r2_on_uniform_queries": mean_std(twin_r2), "drift": DRIFT}
    for cond, by in res.items():
        metrics[cond] = {}
        for m, rs in by.items():
            metrics[cond][m] = {
                "test_accuracy": mean_std([r["accuracy"] for r in rs]),
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
    w = 0.38
    xs = np.arange(len(methods))
    for j, cond in enumerate(res):
        mean = [100 * metrics[cond][m]["test_accuracy"]["mean"] for m in methods]
        std = [100 * metrics[cond][m]["test_accuracy"]["std"] for m in methods]
        axes[0].bar(xs + (j - 0.5) * w, mean, w, yerr=std, capsize=3, label=cond)
    axes[0].set_xticks(xs, methods, fontsize=8)
    axes[0].set(ylabel="test accuracy [%]", ylim=(0, 105),
                title="accuracy on the device (twin fitted before drift)")
    axes[0].legend(fontsize=8)
    for ax, key, title in ((axes[1], "macs_per_update", "digital MACs per optimizer update"),
                           (axes[2], "queries", "physical queries for training")):
        vals = [metrics["matched"][m][key] for m in methods]
        ax.bar(xs, vals, color=["C2", "C0", "C1", "C7"])
        ax.set_yscale("log")
        ax.set_xticks(xs, methods, fontsize=8)
        ax.set(title=title)
        for i, v in enumerate(vals):
            ax.text(i, v if v > 0 else 1, f"{v:.2g}", ha="center", va="bottom", fontsize=8)
        ax.set_ylim(1, 10 * max(vals))
    pm, pa = metrics["mismatched"]["PhyLL"], metrics["mismatched"]["in-silico"]
    claim = ("On the 7-vowel task with two acoustic blocks, PhyLL needs no twin, uses "
             f"{metrics['matched']['PhyLL']['macs_per_update']:.3g} digital MACs per update vs "
             f"{metrics['matched']['physics-aware']['macs_per_update']:.3g} for physics-aware "
             "training, and after a device drift the twins do not know about keeps "
             f"{100 * pm['test_accuracy']['mean']:.1f} % while in-silico training drops to "
             f"{100 * pa['test_accuracy']['mean']:.1f} %.")
    config = {"quick": args.quick, "seeds": seeds, "phyll_epochs": phyll_epochs,
              "backprop_epochs": bp_epochs, "twin_queries_per_block": twin_queries,
              "twin_epochs": twin_epochs, "twin_hidden": [64, 64], "batch_size": 32,
              "phyll": "PhyLL(alpha=4, inner_steps=10, Adam(1e-3))",
              "backprop": "Adam(3e-3), cross-entropy", "drift": DRIFT,
              "macs_note": "matrix products only; backprop counts forward + 2x backward"}
    write_outputs(args.out, NAME, fig, claim, metrics, config, started)
    plt.close(fig)
    return metrics


if __name__ == "__main__":
    main()
