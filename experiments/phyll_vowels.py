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

Run: ``python experiments/phyll_vowels.py --out out`` (10 seeds), ``--quick`` for CI.
"""

from __future__ import annotations

import os

# The matrices here are small: BLAS worker threads only add overhead (and stall on a busy
# machine). Set OPENBLAS_NUM_THREADS yourself to override.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import time  # noqa: E402

import numpy as np  # noqa: E402
from phyll_common import mean_std, parser, run, write_outputs  # noqa: E402

import physnn as pn  # noqa: E402
from physnn.data import FORMANT_VOWELS, load_formants, require_data  # noqa: E402
from physnn.nets import abs_max_scale  # noqa: E402

NAME = "phyll_vowels"


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
    from hardware_models import AcousticCavity

    return pn.PhysicalNetwork([
        pn.Block(AcousticCavity.from_measurements(seed=0), pn.Linear(40, 20),
                 encode=abs_max_scale)
        for _ in range(n_blocks)
    ])


def run_learner(learner, x_tr, y_tr, x_te, y_te, *, epochs, batch_size, rng, progress):
    net = acoustic_net()
    t0 = time.perf_counter()
    hist = learner.fit(net, x_tr, y_tr, epochs=epochs, batch_size=batch_size, rng=rng,
                       eval_data=(x_te, y_te), progress=progress)
    wall = time.perf_counter() - t0
    ev = learner.evaluate(net, x_te, y_te)
    return {"accuracy": ev["accuracy"], "curve": hist.eval_accuracy,
            "train_queries": hist.queries[-1], "train_macs": hist.macs[-1],
            "train_wall_s": hist.wall_s[-1], "fit_wall_s": wall,
            "test_queries": ev["queries"], "test_macs": ev["macs"]}


def main(argv=None) -> dict:
    args = parser(__doc__.splitlines()[0]).parse_args(argv)
    require_data("hillenbrand_formants_women7.csv", "phyll_acoustic/x_data.csv",
                 "phyll_acoustic/y_data.csv")  # before any work
    started = time.perf_counter()
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    seeds = args.seeds or (2 if args.quick else 10)
    epochs = 12 if args.quick else 200
    batch_size = 32
    progress = not args.no_progress
    x, y, _ = load_formants()
    k = len(FORMANT_VOWELS)
    methods = {
        "PhyLL (cosine goodness)": (lambda: pn.learning.PhyLL(
            alpha=4.0, inner_steps=10, optimizer=pn.optim.Adam(1e-3)), 20 - k),
        "Forward-Forward (Hinton goodness)": (lambda: pn.learning.ForwardForward(
            theta=2.0, inner_steps=10, optimizer=pn.optim.Adam(3e-3)), 20 - k),
        "local readout (one pass)": (lambda: pn.learning.LocalReadout(
            inner_steps=10, optimizer=pn.optim.Adam(3e-3)), 20),
    }
    results = {m: [] for m in methods}
    logreg = []
    for seed in range(seeds):
        idx = np.arange(len(y))
        tr, te = train_test_split(idx, test_size=0.2, stratify=y, random_state=seed)
        mu, sd = x[tr].mean(0), x[tr].std(0)
        clf = LogisticRegression(max_iter=5000).fit((x[tr] - mu) / sd, y[tr])
        logreg.append(float(clf.score((x[te] - mu) / sd, y[te])))
        for m, (make, width) in methods.items():
            x_tr, x_te = prepare(x[tr], x[te], width)
            rng = np.random.default_rng(seed)
            results[m].append(run_learner(make(), x_tr, y[tr], x_te, y[te], epochs=epochs,
                                          batch_size=batch_size, rng=rng, progress=progress))
        print(f"seed {seed}: " + ", ".join(f"{m.split(' (')[0]} {r[-1]['accuracy']:.3f}"
                                           for m, r in results.items())
              + f", logistic regression {logreg[-1]:.3f}", flush=True)

    metrics = {"n_test": int(len(te)), "seeds": seeds, "epochs": epochs,
               "digital_logistic_regression_accuracy": mean_std(logreg)}
    for m, rs in results.items():
        metrics[m] = {
            "test_accuracy": mean_std([r["accuracy"] for r in rs]),
            "physical_queries_train": int(np.mean([r["train_queries"] for r in rs])),
            "digital_macs_train": int(np.mean([r["train_macs"] for r in rs])),
            "train_wall_s": float(np.mean([r["train_wall_s"] for r in rs])),
            "physical_queries_per_test_sample": rs[0]["test_queries"] / metrics["n_test"],
            "digital_macs_per_test_sample": rs[0]["test_macs"] / metrics["n_test"],
        }
    phyll = metrics["PhyLL (cosine goodness)"]["test_accuracy"]
    for m in results:
        print(f"{m:36s} {100 * metrics[m]['test_accuracy']['mean']:.1f} "
              f"± {100 * metrics[m]['test_accuracy']['std']:.1f} %")
    lr = metrics["digital_logistic_regression_accuracy"]
    print(f"{'logistic regression (digital)':36s} {100 * lr['mean']:.1f} ± {100 * lr['std']:.1f} %")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.2))
    ep = np.arange(1, epochs + 1)
    for m, rs in results.items():
        c = np.array([r["curve"] for r in rs]) * 100
        a1.plot(ep, c.mean(0), label=m)
        a1.fill_between(ep, c.mean(0) - c.std(0), c.mean(0) + c.std(0), alpha=0.2)
    a1.axhline(100 * lr["mean"], color="k", ls="--", lw=1, label="logistic regression (digital)")
    a1.set(xlabel="epoch", ylabel="test accuracy [%]", ylim=(0, 101),
           title=f"7 vowels, 2 acoustic blocks (mean ± std, {seeds} seeds)")
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
             f"{seeds} stratified 80/20 splits (target >= 96 %; logistic regression on the "
             f"same splits {100 * lr['mean']:.1f} ± {100 * lr['std']:.1f} %).")
    config = {"quick": args.quick, "seeds": seeds, "epochs": epochs, "batch_size": batch_size,
              "phyll": {"alpha": 4.0, "inner_steps": 10, "optimizer": "Adam(1e-3)"},
              "forward_forward": {"theta": 2.0, "inner_steps": 10, "optimizer": "Adam(3e-3)"},
              "local_readout": {"inner_steps": 10, "optimizer": "Adam(3e-3)"},
              "blocks": "2 x [AcousticCavity.from_measurements(seed=0) -> Linear(40, 20)]",
              "split": "sklearn train_test_split(test_size=0.2, stratify=y, random_state=seed)"}
    write_outputs(args.out, NAME, fig, claim, metrics, config, started)
    plt.close(fig)
    return metrics


if __name__ == "__main__":
    run(main)
