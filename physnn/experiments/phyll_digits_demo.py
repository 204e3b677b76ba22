"""Handwritten digits through two optical speckle layers, trained without a model (PhyLL).

The first run needs no download: scikit-learn's 1797 8x8 digits (stratified 80/20 split).
Each block is an optical speckle layer -- a spatial light modulator writing its input as a
phase pattern, a scattering medium, a noisy 8-bit camera of 20 x 20 pixels
(:class:`hardware_models.OpticalSpeckle`) -- followed by a small trainable digital layer.
PhyLL trains the digital layers from the camera images only: no gradient ever passes through
the optics, and the optics are never modelled.

Run: ``physnn run phyll_digits_demo --out out`` (about 15 s on a laptop core).
With ``validation > 0`` a stratified part of the training split is held out and the run
reports ``validation_accuracy`` instead of touching the test set (what a search chooses on).
"""

from __future__ import annotations

import dataclasses

import numpy as np

import physnn as pn
from physnn.data import load_digits
from physnn.nets import abs_max_scale

from ._base import Device, Result, RunContext, help_field, pyplot, validation_split

NAME = "phyll_digits_demo"
OBJECTIVE = "validation_accuracy"
SWEEP_METRICS = ("test_accuracy", "validation_accuracy", "physical_queries_train")


@dataclasses.dataclass(frozen=True)
class Config:
    """Settings of the digits demo (defaults: the demo's published run)."""

    seed: int = help_field(0, "seed of the split, the initial weights, batches and labels")
    device: Device = help_field("cpu", "where the digital layers train (the optics are NumPy)")
    epochs: int = help_field(10, "training epochs")
    batch_size: int = help_field(64, "mini-batch size")
    lr: float = help_field(1e-3, "Adam learning rate")
    alpha: float = help_field(4.0, "PhyLL goodness scale alpha")
    inner_steps: int = help_field(5, "optimizer steps per batch on the cached measurement")
    hidden: int = help_field(100, "width H of each digital layer")
    camera: tuple[int, int] = help_field((20, 20), "camera pixels (rows, columns)")
    test_fraction: float = help_field(0.2, "stratified test share of the 1797 digits")
    validation: float = help_field(0.0, "share of the training split held out to choose "
                                        "on (0: train on all of it and test)")
    quick: bool = help_field(False, "a smoke run (set by --quick)")

    def __post_init__(self) -> None:
        for key in ("epochs", "batch_size", "inner_steps", "hidden"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key} must be >= 1, got {getattr(self, key)}")
        if not 0 < self.test_fraction < 1 or not 0 <= self.validation < 1:
            raise ValueError("test_fraction must lie in (0, 1) and validation in [0, 1)")
        if self.lr <= 0 or min(self.camera) < 1:
            raise ValueError("lr must be > 0 and the camera at least 1 x 1 pixel")


QUICK = {"quick": True, "epochs": 2}


def build_network(n_classes: int = 10, camera: tuple[int, int] = (20, 20), hidden: int = 100):
    """Two blocks: ``OpticalSpeckle -> Linear`` (the label is overlaid in front of the image)."""
    from hardware_models import OpticalSpeckle

    n_in = 64 + n_classes
    n_cam = camera[0] * camera[1]
    return pn.PhysicalNetwork([
        pn.Block(OpticalSpeckle(n_in, camera_shape=tuple(camera), seed=1),
                 pn.Linear(n_cam + n_in, hidden)),
        pn.Block(OpticalSpeckle(hidden, camera_shape=tuple(camera), seed=2),
                 pn.Linear(n_cam + hidden, hidden), encode=abs_max_scale),
    ])


def run(cfg: Config, ctx: RunContext) -> Result:
    """Run the experiment with ``cfg`` (see the module docstring); nothing is written."""
    from sklearn.model_selection import train_test_split

    x, y = load_digits()
    tr, te = train_test_split(np.arange(len(y)), test_size=cfg.test_fraction, stratify=y,
                              random_state=cfg.seed)
    held = "test"
    if cfg.validation > 0:  # choose on data carved from the training split only
        fit_idx, val_idx = validation_split(y[tr], cfg.validation, cfg.seed)
        tr, te, held = tr[fit_idx], tr[val_idx], "validation"
    rng = np.random.default_rng(cfg.seed)
    net = build_network(camera=cfg.camera, hidden=cfg.hidden)
    learner = pn.learning.PhyLL(alpha=cfg.alpha, inner_steps=cfg.inner_steps,
                                optimizer=pn.optim.Adam(cfg.lr), backend=cfg.device)
    hist = learner.fit(net, x[tr], y[tr], epochs=cfg.epochs, batch_size=cfg.batch_size,
                       rng=rng, eval_data=(x[te], y[te]), progress=ctx.progress,
                       callback=ctx.epoch_callback() if held == "validation" else None)
    ev = learner.evaluate(net, x[te], y[te])
    pred = learner.predict(net, x[te])
    ctx.log.info("%s accuracy %.1f %% on %d held-out digits (2 optical speckle blocks, PhyLL, "
                 "%d epochs, %.1f s training)", held, 100 * ev["accuracy"], ev["n"],
                 cfg.epochs, hist.wall_s[-1])

    plt = pyplot()
    fig = plt.figure(figsize=(12, 3.6))
    gs = fig.add_gridspec(2, 5, width_ratios=[1, 1, 2.2, 2.2, 2.2])
    sample = x[te][:2]
    phys = net[0].physical
    probe = pn.learning.overlay_labels(sample, y[te][:2], 10)
    cams = phys.forward(probe).reshape(-1, *cfg.camera)
    for r in range(2):
        a = fig.add_subplot(gs[r, 0])
        a.imshow(sample[r].reshape(8, 8), cmap="gray_r")
        a.set_axis_off()
        a.set_title(f"{held} digit {y[te][r]}", fontsize=8)
        a = fig.add_subplot(gs[r, 1])
        a.imshow(cams[r], cmap="magma")
        a.set_axis_off()
        a.set_title("camera, label overlaid", fontsize=8)
    ep = np.arange(1, cfg.epochs + 1)
    a = fig.add_subplot(gs[:, 2])
    a.plot(ep, 100 * np.array(hist.eval_accuracy), "o-")
    a.set(xlabel="epoch", ylabel=f"{held} accuracy [%]", title="PhyLL on digits", xticks=ep)
    a.grid(alpha=0.3)
    a = fig.add_subplot(gs[:, 3])
    a.plot(ep, hist.loss, "o-", color="C1")
    a.set(xlabel="epoch", ylabel="mean local loss", title="local PhyLL loss (both blocks)",
          xticks=ep)
    a.grid(alpha=0.3)
    a = fig.add_subplot(gs[:, 4])
    cm = np.zeros((10, 10), int)
    np.add.at(cm, (y[te], pred), 1)
    a.imshow(cm, cmap="Blues")
    a.set(xlabel="predicted", ylabel="true",
          title=f"{held} confusion ({100 * ev['accuracy']:.1f} %)",
          xticks=range(10), yticks=range(10))
    a.tick_params(labelsize=7)
    fig.tight_layout()
    metrics = {f"{held}_accuracy": ev["accuracy"], f"n_{held}": ev["n"],
               "eval_accuracy_per_epoch": hist.eval_accuracy, "loss_per_epoch": hist.loss,
               "physical_queries_train": hist.queries[-1], "digital_macs_train": hist.macs[-1],
               f"physical_queries_per_{held}_sample": ev["queries"] / ev["n"],
               f"digital_macs_per_{held}_sample": ev["macs"] / ev["n"]}
    claim = ("A network of two fixed optical speckle layers with small digital layers, trained "
             "model-free with PhyLL (no gradient through the optics), classifies "
             f"{'held-out' if held == 'test' else 'validation'} scikit-learn digits at "
             f"{100 * ev['accuracy']:.1f} % accuracy.")
    return Result(
        claim=claim, metrics=metrics, figure=fig,
        timings={"train_wall_s": hist.wall_s[-1], "train_wall_s_per_epoch": hist.wall_s},
        setup={"learner": repr(learner), "network": repr(net), "n_train": int(len(tr)),
               "split": "sklearn train_test_split(test_size, stratify=y, random_state=seed)"
                        + ("; validation carved from it, stratified" if held == "validation"
                           else "")},
        models={"PhyLL": (net, learner)})
