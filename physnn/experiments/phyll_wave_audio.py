"""Vowel recognition from raw audio with nonlinear wave cavities, trained model-free (PhyLL).

Task (the wave-physics vowel benchmark of Hughes et al., *Sci. Adv.* 2019): Hillenbrand
recordings, resampled to 10 kHz, the centred 1000-sample (100 ms) window, peak-normalised;
the three-vowel task ae / ei / iy (279 recordings, 93 speakers) and the seven-vowel task
ae ah aw er ih iy uw (651). 5-fold cross-validation with **speaker-disjoint** folds (each
speaker's recordings are all in one fold), so the test speakers are never heard in training.

Physics, all :class:`hardware_models.WaveCavity` (2-D scalar waves with intensity-dependent
speed in a nonlinear disk, :func:`physnn.wave.simulate_wave`):

* front end: the waveform (upsampled x2, a DAC) drives one source of a reverberant
  48 x 64-cell cavity with scatterers and a nonlinear disk, driven hard enough that
  superposition fails by about 10 %; 8 probes each measure their power in 16 log-spaced bands
  from 100 Hz to 5 kHz (a filter bank and power detector per probe: 128 measurements, read in
  dB). It has no trainable part and sees no label, so each recording is measured once.
* two PhyLL blocks ``WaveCavity(tones) -> Linear``: the label is overlaid in front of the
  block input, each feature drives a tone whose amplitude it sets, 16 probes x 2 windows are
  read, and ``Linear([probes; input] -> 32)`` is trained by PhyLL from the measurements only.

Compared on the same folds: PhyLL (cosine goodness), the single-pass local-readout variant,
a control with the block cavities replaced by a layer that returns zeros (what the trained
digital layers reach without the block physics), and two digital references: logistic
regression on the front-end measurements, and on log band energies of the audio (24
log-spaced bands, no physics).

Run: ``physnn run phyll_wave_audio --out out`` (5 folds, 3- and 7-vowel tasks,
several minutes on one core), ``--quick`` for CI.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

import physnn as pn
from physnn.data import FORMANT_VOWELS, require_data, vowel_windows
from physnn.nets import abs_max_scale
from physnn.physical import PhysicalLayer

from ._base import Device, Result, RunContext, help_field, mean_std, pyplot

NAME = "phyll_wave_audio"
SWEEP_METRICS = ("3 vowels (ae ei iy).PhyLL (cosine goodness).test_accuracy.mean",
                 "7 vowels.PhyLL (cosine goodness).test_accuracy.mean")
TASKS = {"3 vowels (ae ei iy)": ("ae", "ei", "iy"), "7 vowels": FORMANT_VOWELS}
HIDDEN = 32
UPSAMPLE = 2
FRONT_AMPLITUDE = 10.0


@dataclasses.dataclass(frozen=True)
class Config:
    """Settings of the raw-audio wave-cavity experiment (defaults: the reported run)."""

    seed: int = help_field(0, "seed of the speaker-disjoint folds and of the training runs "
                              "(fold f trains from seed 1000 seed + f)")
    n_folds: int = help_field(5, "folds of the 5-fold split that run (1 .. 5)")
    device: Device = help_field("cpu", "where the cavities are simulated (the digital layers "
                                       "stay on the host)")
    epochs: int = help_field(60, "training epochs")
    lr: float = help_field(1e-3, "Adam learning rate (cosine decay)")
    quick: bool = help_field(False, "a smoke run (set by --quick)")

    def __post_init__(self) -> None:
        if not 1 <= self.n_folds <= 5 or self.epochs < 1 or self.lr <= 0:
            raise ValueError("n_folds must lie in 1 .. 5, epochs >= 1 and lr > 0, got "
                             f"{self.n_folds}, {self.epochs}, {self.lr}")


QUICK = {"quick": True, "n_folds": 2, "epochs": 3}


def check(cfg: Config) -> None:
    """The vowel recordings, before any work."""
    require_data("hillenbrand_vowels_16k.npz")


def _random_cells(rng, n, y_range, x_range):
    return tuple((int(rng.integers(*y_range)), int(rng.integers(*x_range))) for _ in range(n))


def _scatterers(rng, n, y_range, x_range, radius):
    return tuple((float(rng.uniform(*y_range)), float(rng.uniform(*x_range)),
                  float(rng.uniform(*radius)), float(rng.choice([0.6, 1.5]))) for _ in range(n))


def front_end(n_samples: int, seed: int = 0, backend: str = "cpu"):
    """The fixed audio cavity: waveform in at the left, 8 probes x 16 band powers out."""
    from hardware_models import CavityGeometry, WaveCavity

    rng = np.random.default_rng(seed)
    ny, nx = 48, 64
    geo = CavityGeometry(
        shape=(ny, nx), damping=0.05,
        scatterers=_scatterers(rng, 10, (4, ny - 4), (8, nx - 4), (1.5, 3.0)),
        nonlinear=((ny / 2, nx / 2, 8),), c_nl=0.5, b_nl=0.05, u_max=1.0,
        sources=((ny // 2, 4),), probes=_random_cells(rng, 8, (3, ny - 3), (nx // 3, nx - 3)),
        absorb_width=0)
    probe = WaveCavity(geo, n_samples, encoding="waveform", n_steps=n_samples + 100,
                       backend=backend)
    # one step lasts 1 / (10 kHz * UPSAMPLE) of audio time: Hz -> 1 / (simulation time)
    hz = 1.0 / (10_000 * UPSAMPLE * probe.dt)
    return WaveCavity(geo, n_samples, encoding="waveform", n_steps=n_samples + 100,
                      readout="bands", band_edges=np.geomspace(100, 5000, 17) * hz,
                      band_steps=n_samples, amplitude=FRONT_AMPLITUDE, backend=backend)


def block_cavity(n_in: int, seed: int, backend: str = "cpu"):
    """A block's cavity: each input feature sets the amplitude of one tone (4 sources)."""
    from hardware_models import CavityGeometry, WaveCavity

    rng = np.random.default_rng(seed)
    ny, nx = 32, 40
    geo = CavityGeometry(
        shape=(ny, nx), damping=0.02,
        scatterers=_scatterers(rng, 6, (3, ny - 3), (6, nx - 3), (1.5, 2.5)),
        nonlinear=((ny / 2, nx / 2, 5),), c_nl=0.5, b_nl=0.02, u_max=1.0,
        sources=tuple((int(v), 2) for v in np.linspace(3, ny - 4, 4)),
        probes=_random_cells(rng, 16, (2, ny - 2), (nx // 2, nx - 2)), absorb_width=0)
    return WaveCavity(geo, n_in, encoding="tones", n_steps=300, readout="windows", n_windows=2,
                      amplitude=1.0, backend=backend)


class Silent(PhysicalLayer):
    """A control 'physical layer' that measures nothing (all zeros), same widths."""

    def __init__(self, like: PhysicalLayer) -> None:
        super().__init__()
        self.in_features, self.out_features = like.in_features, like.out_features

    def _forward(self, x, rng):
        return np.zeros((x.shape[0], self.out_features), np.float32)


def wave_net(width: int, *, silent: bool = False, backend: str = "cpu"):
    blocks = []
    for i, n_in in enumerate((width, HIDDEN)):
        cav = block_cavity(n_in, seed=i + 1, backend=backend)
        phys = Silent(cav) if silent else cav
        blocks.append(pn.Block(phys, pn.Linear(cav.out_features + n_in, HIDDEN),
                               encode=abs_max_scale))
    return pn.PhysicalNetwork(blocks)


def band_energies(x: np.ndarray, rate: float = 10_000.0, n_bands: int = 24) -> np.ndarray:
    """Log energies of the audio in ``n_bands`` log-spaced bands, 100 Hz .. rate / 2."""
    p = np.abs(np.fft.rfft(x * np.hanning(x.shape[1]), axis=1)) ** 2
    f = np.fft.rfftfreq(x.shape[1], 1.0 / rate)
    edges = np.geomspace(100.0, rate / 2, n_bands + 1)
    e = np.stack([p[:, (f >= lo) & (f < hi)].sum(1) for lo, hi in zip(edges[:-1], edges[1:],
                                                                          strict=True)], 1)
    return np.log(e / e.sum(1, keepdims=True) + 1e-12)


def scale_features(f_tr: np.ndarray, f_te: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """z-score on the training set, shift non-negative, divide by the training maximum."""
    mu, sd = f_tr.mean(0), f_tr.std(0) + 1e-12
    z_tr, z_te = (f_tr - mu) / sd, (f_te - mu) / sd
    lo = z_tr.min(0)
    s = (z_tr - lo).max()
    return ((z_tr - lo) / s).astype(np.float32), ((z_te - lo) / s).astype(np.float32)


def logistic(f_tr, y_tr, f_te, y_te) -> float:
    from sklearn.linear_model import LogisticRegression

    mu, sd = f_tr.mean(0), f_tr.std(0) + 1e-12
    clf = LogisticRegression(max_iter=5000).fit((f_tr - mu) / sd, y_tr)
    return float(clf.score((f_te - mu) / sd, y_te))


def run_task(vowels, *, n_folds: int, epochs: int, lr: float, progress: bool,
             backend: str = "cpu", seed: int = 0, log=None) -> dict:
    """One vowel task: the front end once, then every method on each fold."""
    import logging

    log = log or logging.getLogger(f"physnn.experiments.{NAME}")
    from scipy.signal import resample_poly
    from sklearn.model_selection import StratifiedGroupKFold

    x, y, speaker = vowel_windows(vowels)
    front = front_end(x.shape[1] * UPSAMPLE, backend=backend)
    t0 = time.perf_counter()
    xu = resample_poly(x, UPSAMPLE, 1, axis=1).astype(np.float32)
    power = front.forward(xu).astype(np.float64)
    front_s = time.perf_counter() - t0
    feats = 10 * np.log10(power + 1e-30)  # dB
    # a linear cavity would give exactly 4x the band power for twice the drive
    double = front.forward(2 * xu[:16]).astype(np.float64)
    nonlinearity = float(np.abs(double - 4 * power[:16]).max() / np.abs(4 * power[:16]).max())
    log.info("  front end: %d recordings in %.1f s; doubling the drive changes the band powers "
             "by %.1f %% of their peak beyond the linear x4", len(y), front_s,
             100 * nonlinearity)
    bands = band_energies(x)
    k = len(vowels)
    methods = {
        "PhyLL (cosine goodness)": lambda: (pn.learning.PhyLL(
            alpha=4.0, inner_steps=10, optimizer=pn.optim.Adam(lr)), False),
        "local readout (one pass)": lambda: (pn.learning.LocalReadout(
            inner_steps=10, optimizer=pn.optim.Adam(lr)), False),
        "PhyLL, block cavities silenced (control)": lambda: (pn.learning.PhyLL(
            alpha=4.0, inner_steps=10, optimizer=pn.optim.Adam(lr)), True),
    }
    res = {m: [] for m in methods}
    ref = {"logistic regression on front-end measurements": [],
           "logistic regression on log band energies (no physics)": []}
    folds = StratifiedGroupKFold(n_splits=5, shuffle=True, random_state=seed).split(x, y, speaker)
    for fold, (tr, te) in enumerate(folds):
        if fold >= n_folds:
            break
        assert not set(speaker[tr]) & set(speaker[te])
        f_tr, f_te = scale_features(feats[tr], feats[te])
        ref["logistic regression on front-end measurements"].append(
            logistic(feats[tr], y[tr], feats[te], y[te]))
        ref["logistic regression on log band energies (no physics)"].append(
            logistic(bands[tr], y[tr], bands[te], y[te]))
        for m, make in methods.items():
            learner, silent = make()
            width = learner.input_width(f_tr.shape[1], k)
            net = wave_net(width, silent=silent, backend=backend)
            t1 = time.perf_counter()
            hist = learner.fit(net, f_tr, y[tr], epochs=epochs, batch_size=32,
                               rng=np.random.default_rng(1000 * seed + fold),
                               eval_data=(f_te, y[te]), progress=progress,
                               lr_schedule="cosine")
            ev = learner.evaluate(net, f_te, y[te])
            res[m].append({"accuracy": ev["accuracy"], "curve": hist.eval_accuracy,
                           "train_queries": hist.queries[-1], "train_macs": hist.macs[-1],
                           "fit_wall_s": time.perf_counter() - t1,
                           "test_queries_per_sample": ev["queries"] / ev["n"]})
        log.info("  fold %d: %s", fold, ", ".join(
            f"{m.split(' (')[0].split(',')[0]}{' control' if 'control' in m else ''} "
            f"{r[-1]['accuracy']:.3f}" for m, r in res.items()) + ", " + ", ".join(
            f"{m.split(' on ')[1].split(' (')[0]} {v[-1]:.3f}" for m, v in ref.items()))
    out = {"n_samples": int(len(y)), "n_speakers": int(len(set(speaker))), "folds": n_folds,
           "front_end_wall_s": front_s, "front_end_queries": int(len(y)),
           "front_end_superposition_error": nonlinearity,
           "front_end_features": int(feats.shape[1])}
    for m, rs in res.items():
        out[m] = {"test_accuracy": mean_std([r["accuracy"] for r in rs]),
                  "curves": [r["curve"] for r in rs],
                  "physical_queries_train": int(np.mean([r["train_queries"] for r in rs])),
                  "digital_macs_train": int(np.mean([r["train_macs"] for r in rs])),
                  "fit_wall_s": float(np.mean([r["fit_wall_s"] for r in rs])),
                  "physical_queries_per_test_sample": rs[0]["test_queries_per_sample"]}
    for m, v in ref.items():
        out[m] = {"test_accuracy": mean_std(v)}
    return out


def run(cfg: Config, ctx: RunContext) -> Result:
    """Run the experiment with ``cfg`` (see the module docstring); nothing is written."""
    n_folds, epochs = cfg.n_folds, cfg.epochs
    metrics, timings = {}, {}
    for task, vowels in TASKS.items():
        ctx.log.info("%s", task)
        metrics[task] = run_task(vowels, n_folds=n_folds, epochs=epochs, lr=cfg.lr,
                                 progress=ctx.progress, backend=cfg.device, seed=cfg.seed,
                                 log=ctx.log)
        timings[task] = {"front_end_wall_s": metrics[task].pop("front_end_wall_s")}
        for m, r in metrics[task].items():
            if isinstance(r, dict):
                if "fit_wall_s" in r:
                    timings[task][m] = {"fit_wall_s": r.pop("fit_wall_s")}
                a = r["test_accuracy"]
                ctx.log.info("  %-55s %.1f ± %.1f %%", m, 100 * a["mean"], 100 * a["std"])

    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(17, 4.6), layout="constrained")
    front_end(2000).geometry.plot(axes[0])
    axes[0].set_title("front-end cavity (source left, 8 probes)")
    ep = np.arange(1, epochs + 1)
    for task, ls in zip(TASKS, ("-", "--"), strict=True):
        for m, color in (("PhyLL (cosine goodness)", "C0"), ("local readout (one pass)", "C1"),
                         ("PhyLL, block cavities silenced (control)", "C2")):
            c = 100 * np.array(metrics[task][m]["curves"])
            axes[1].plot(ep, c.mean(0), ls=ls, color=color, label=f"{m}, {task}")
            axes[1].fill_between(ep, c.mean(0) - c.std(0), c.mean(0) + c.std(0), color=color,
                                 alpha=0.12)
    axes[1].axhline(90, color="r", ls=":", lw=1, label="target 90 % (3 vowels)")
    axes[1].set(xlabel="epoch", ylabel="test accuracy [%]", ylim=(0, 101),
                title=f"learning curves (mean ± std over {n_folds} speaker-disjoint folds)")
    axes[1].legend(fontsize=6, loc="lower right")
    names = [m for m, r in metrics[next(iter(TASKS))].items() if isinstance(r, dict)]
    height = 0.38
    for j, task in enumerate(TASKS):
        means = [100 * metrics[task][m]["test_accuracy"]["mean"] for m in names]
        stds = [100 * metrics[task][m]["test_accuracy"]["std"] for m in names]
        ys = np.arange(len(names)) + (j - 0.5) * height
        axes[2].barh(ys, means, height, xerr=stds, capsize=3, label=task)
        for i, m in enumerate(names):
            v = 100 * np.array(metrics[task][m]["test_accuracy"]["values"])
            axes[2].scatter(v, np.full(v.size, ys[i]), s=8, color="k", zorder=3)
    axes[2].axvline(90, color="r", ls=":", lw=1)
    axes[2].set_yticks(range(len(names)), [n.replace(" (", "\n(").replace(" on ", "\non ")
                                            for n in names], fontsize=7)
    axes[2].invert_yaxis()
    axes[2].set(xlabel="final test accuracy [%]", xlim=(60, 101))
    axes[2].set_title("per fold (dots), mean ± std (bars)", pad=24)
    axes[2].legend(fontsize=7, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2,
                   frameon=False)
    three = metrics[next(iter(TASKS))]
    seven = metrics["7 vowels"]
    ph3 = three["PhyLL (cosine goodness)"]["test_accuracy"]
    ph7 = seven["PhyLL (cosine goodness)"]["test_accuracy"]
    claim = ("Nonlinear wave cavities (a fixed audio front end and two PhyLL-trained "
             "wave-cavity blocks) recognise vowels from raw 10 kHz audio of unseen speakers: "
             f"{100 * ph3['mean']:.1f} ± {100 * ph3['std']:.1f} % on ae / ei / iy and "
             f"{100 * ph7['mean']:.1f} ± {100 * ph7['std']:.1f} % on 7 vowels over "
             f"{n_folds} speaker-disjoint folds (target >= 90 % on three vowels).")
    setup = {"lr_schedule": "cosine", "batch_size": 32, "hidden": HIDDEN,
             "upsample": UPSAMPLE, "front_end": repr(front_end(2000)),
             "front_end_geometry": front_end(2000).geometry.to_dict(),
             "block_cavity": repr(block_cavity(HIDDEN, 2)),
             "folds_split": f"sklearn StratifiedGroupKFold(5, shuffle=True, random_state="
                            f"{cfg.seed}), groups = speakers",
             "audio": "Hillenbrand, resampled 16 -> 10 kHz, centred 1000 samples, peak 1"}
    return Result(claim=claim, metrics=metrics, figure=fig, timings=timings, setup=setup)
