"""Vowel classification with three microwave-cavity blocks, trained model-free (PhyLL).

The task of ``phyll_vowels`` (7 vowels, 12 formants, stratified 80/20 splits) with the
microwave set-up of Momeni et al. (*Science* 2023): each physical layer is a reverberant
microwave enclosure whose programmable metasurface is set by the block input and whose
``|S21|`` at 20 frequencies is measured (:class:`hardware_models.MicrowaveCavity`, PhysFad
coupled-dipole model; three cavities with different disorder, seeds 0, 1, 2). Each block is
``MicrowaveCavity -> Linear(20 + 20, 20)``. Compared on the same splits: the single-pass
local-readout variant and logistic regression on the 12 standardised features.

Run: ``python experiments/phyll_microwave_vowels.py --out out`` (10 seeds), ``--quick`` for CI.
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

NAME = "phyll_microwave_vowels"


def microwave_net():
    from hardware_models.microwave import MicrowaveCavity

    return pn.PhysicalNetwork([
        pn.Block(MicrowaveCavity(in_features=20, seed=s), pn.Linear(40, 20), encode=abs_max_scale)
        for s in range(3)
    ])


def main(argv=None) -> dict:
    args = parser(__doc__.splitlines()[0]).parse_args(argv)
    require_data("hillenbrand_formants_women7.csv")  # before any work
    started = time.perf_counter()
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    seeds = args.seeds or (1 if args.quick else 10)
    epochs = 3 if args.quick else 60
    x, y, _ = load_formants()
    k = len(FORMANT_VOWELS)
    methods = {
        "PhyLL (cosine goodness)": (lambda: pn.learning.PhyLL(
            alpha=4.0, inner_steps=10, optimizer=pn.optim.Adam(3e-3)), 20 - k),
        "local readout (one pass)": (lambda: pn.learning.LocalReadout(
            inner_steps=10, optimizer=pn.optim.Adam(3e-3)), 20),
    }
    results = {m: [] for m in methods}
    logreg = []
    for seed in range(seeds):
        tr, te = train_test_split(np.arange(len(y)), test_size=0.2, stratify=y,
                                  random_state=seed)
        mu, sd = x[tr].mean(0), x[tr].std(0)
        clf = LogisticRegression(max_iter=5000).fit((x[tr] - mu) / sd, y[tr])
        logreg.append(float(clf.score((x[te] - mu) / sd, y[te])))
        for m, (make, width) in methods.items():
            x_tr, x_te = prepare(x[tr], x[te], width)
            learner, net = make(), microwave_net()
            hist = learner.fit(net, x_tr, y[tr], epochs=epochs, batch_size=32,
                               rng=np.random.default_rng(seed), progress=not args.no_progress)
            ev = learner.evaluate(net, x_te, y[te])
            results[m].append({"accuracy": ev["accuracy"], "loss": hist.loss,
                               "train_queries": hist.queries[-1],
                               "train_wall_s": hist.wall_s[-1],
                               "test_queries_per_sample": ev["queries"] / ev["n"]})
        print(f"seed {seed}: " + ", ".join(f"{m.split(' (')[0]} {r[-1]['accuracy']:.3f}"
                                           for m, r in results.items())
              + f", logistic regression {logreg[-1]:.3f}", flush=True)

    metrics = {"seeds": seeds, "epochs": epochs, "n_test": int(len(te)),
               "digital_logistic_regression_accuracy": mean_std(logreg)}
    for m, rs in results.items():
        metrics[m] = {"test_accuracy": mean_std([r["accuracy"] for r in rs]),
                      "physical_queries_train": int(np.mean([r["train_queries"] for r in rs])),
                      "train_wall_s": float(np.mean([r["train_wall_s"] for r in rs])),
                      "physical_queries_per_test_sample": rs[0]["test_queries_per_sample"]}
        a = metrics[m]["test_accuracy"]
        print(f"{m:30s} {100 * a['mean']:.1f} ± {100 * a['std']:.1f} %")
    lr = metrics["digital_logistic_regression_accuracy"]
    print(f"{'logistic regression (digital)':30s} {100 * lr['mean']:.1f} ± {100 * lr['std']:.1f} %")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
    ep = np.arange(1, epochs + 1)
    for m, rs in results.items():
        c = np.array([r["loss"] for r in rs])
        a1.plot(ep, c.mean(0), label=m)
        a1.fill_between(ep, c.mean(0) - c.std(0), c.mean(0) + c.std(0), alpha=0.2)
    a1.set(xlabel="epoch", ylabel="mean local training loss", yscale="log",
           title=f"3 microwave-cavity blocks ({seeds} seeds)")
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
             f"{seeds} stratified 80/20 splits (logistic regression {100 * lr['mean']:.1f} ± "
             f"{100 * lr['std']:.1f} %).")
    config = {"quick": args.quick, "seeds": seeds, "epochs": epochs, "batch_size": 32,
              "phyll": {"alpha": 4.0, "inner_steps": 10, "optimizer": "Adam(3e-3)"},
              "local_readout": {"inner_steps": 10, "optimizer": "Adam(3e-3)"},
              "blocks": "3 x [MicrowaveCavity(in_features=20, seed=s) -> Linear(40, 20)]"}
    write_outputs(args.out, NAME, fig, claim, metrics, config, started)
    plt.close(fig)
    return metrics


if __name__ == "__main__":
    run(main)
