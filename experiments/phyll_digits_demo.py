"""Handwritten digits through two optical speckle layers, trained without a model (PhyLL).

The first run needs no download: scikit-learn's 1797 8x8 digits (stratified 80/20 split).
Each block is an optical speckle layer -- a spatial light modulator writing its input as a
phase pattern, a scattering medium, a noisy 8-bit camera of 20 x 20 pixels
(:class:`hardware_models.OpticalSpeckle`) -- followed by a small trainable digital layer.
PhyLL trains the digital layers from the camera images only: no gradient ever passes through
the optics, and the optics are never modelled.

Run: ``python experiments/phyll_digits_demo.py --out out`` (about 15 s on a laptop core).
"""

from __future__ import annotations

import os

# The matrices here are small: BLAS worker threads only add overhead (and stall on a busy
# machine). Set OPENBLAS_NUM_THREADS yourself to override.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import time  # noqa: E402

import numpy as np  # noqa: E402
from phyll_common import parser, write_outputs  # noqa: E402

import physnn as pn  # noqa: E402
from physnn.data import load_digits  # noqa: E402
from physnn.nets import abs_max_scale  # noqa: E402

NAME = "phyll_digits_demo"
CAMERA = (20, 20)
HIDDEN = 100


def build_network(n_classes: int = 10):
    """Two blocks: ``OpticalSpeckle -> Linear`` (the label is overlaid in front of the image)."""
    from hardware_models import OpticalSpeckle

    n_in = 64 + n_classes
    n_cam = CAMERA[0] * CAMERA[1]
    return pn.PhysicalNetwork([
        pn.Block(OpticalSpeckle(n_in, camera_shape=CAMERA, seed=1),
                 pn.Linear(n_cam + n_in, HIDDEN)),
        pn.Block(OpticalSpeckle(HIDDEN, camera_shape=CAMERA, seed=2),
                 pn.Linear(n_cam + HIDDEN, HIDDEN), encode=abs_max_scale),
    ])


def main(argv=None) -> dict:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=None, help="training epochs (default 10)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    started = time.perf_counter()
    from sklearn.model_selection import train_test_split

    epochs = args.epochs or (2 if args.quick else 10)
    x, y = load_digits()
    tr, te = train_test_split(np.arange(len(y)), test_size=0.2, stratify=y,
                              random_state=args.seed)
    rng = np.random.default_rng(args.seed)
    net = build_network()
    learner = pn.learning.PhyLL(alpha=4.0, inner_steps=5, optimizer=pn.optim.Adam(1e-3))
    hist = learner.fit(net, x[tr], y[tr], epochs=epochs, batch_size=64, rng=rng,
                       eval_data=(x[te], y[te]), progress=not args.no_progress)
    ev = learner.evaluate(net, x[te], y[te])
    pred = learner.predict(net, x[te])
    print(f"test accuracy {100 * ev['accuracy']:.1f} % on {ev['n']} held-out digits "
          f"(2 optical speckle blocks, PhyLL, {epochs} epochs, "
          f"{hist.wall_s[-1]:.1f} s training)")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(12, 3.6))
    gs = fig.add_gridspec(2, 5, width_ratios=[1, 1, 2.2, 2.2, 2.2])
    sample = x[te][:2]
    phys = net[0].physical
    probe = pn.learning.overlay_labels(sample, y[te][:2], 10)
    cams = phys.forward(probe).reshape(-1, *CAMERA)
    for r in range(2):
        a = fig.add_subplot(gs[r, 0])
        a.imshow(sample[r].reshape(8, 8), cmap="gray_r")
        a.set_axis_off()
        a.set_title(f"test digit {y[te][r]}", fontsize=8)
        a = fig.add_subplot(gs[r, 1])
        a.imshow(cams[r], cmap="magma")
        a.set_axis_off()
        a.set_title("camera, label overlaid", fontsize=8)
    ep = np.arange(1, epochs + 1)
    a = fig.add_subplot(gs[:, 2])
    a.plot(ep, 100 * np.array(hist.eval_accuracy), "o-")
    a.set(xlabel="epoch", ylabel="test accuracy [%]", title="PhyLL on digits", xticks=ep)
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
    a.set(xlabel="predicted", ylabel="true", title=f"test confusion ({100 * ev['accuracy']:.1f} %)",
          xticks=range(10), yticks=range(10))
    a.tick_params(labelsize=7)
    fig.tight_layout()
    metrics = {"test_accuracy": ev["accuracy"], "n_test": ev["n"],
               "eval_accuracy_per_epoch": hist.eval_accuracy, "loss_per_epoch": hist.loss,
               "physical_queries_train": hist.queries[-1], "digital_macs_train": hist.macs[-1],
               "train_wall_s": hist.wall_s[-1],
               "physical_queries_per_test_sample": ev["queries"] / ev["n"],
               "digital_macs_per_test_sample": ev["macs"] / ev["n"]}
    claim = ("A network of two fixed optical speckle layers with small digital layers, trained "
             "model-free with PhyLL (no gradient through the optics), classifies held-out "
             f"scikit-learn digits at {100 * ev['accuracy']:.1f} % accuracy.")
    config = {"quick": args.quick, "seed": args.seed, "epochs": epochs, "batch_size": 64,
              "learner": repr(learner), "camera_shape": CAMERA, "hidden": HIDDEN,
              "network": repr(net)}
    png, js = write_outputs(args.out, NAME, fig, claim, metrics, config, started)
    plt.close(fig)
    print(f"wrote {png} and {js}")
    return metrics


if __name__ == "__main__":
    main()
