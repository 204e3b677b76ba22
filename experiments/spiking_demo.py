"""Spiking demo: a LIF population driven by Poisson input spikes, drawn as a raster plot with
membrane traces and the population firing rate.

Writes ``spiking_demo.png`` and ``spiking_demo.json`` into ``--out`` (default ``out/``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

import physnn as pn
from physnn._io import atomic_savefig, atomic_write_json


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default="out", help="output folder")
    ap.add_argument("--steps", type=int, default=300, help="time steps")
    ap.add_argument("--neurons", type=int, default=64, help="neurons in the population")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--backend", default="auto", choices=["auto", "cpu", "cuda"])
    args = ap.parse_args(argv)
    if args.steps < 1 or args.neurons < 1:
        ap.error("--steps and --neurons must be >= 1")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(args.seed)
    T, N = args.steps, args.neurons
    # each neuron receives its own Poisson input spikes (weight 0.6, rate rising across the
    # population): a tonic drive, a pause, then a burst
    drive = np.linspace(0.05, 0.6, N)
    envelope = np.ones(T)
    envelope[T // 3: T // 2] = 0.0
    envelope[2 * T // 3: 2 * T // 3 + T // 10] = 1.6
    prob = np.clip(envelope[:, None] * drive[None, :], 0, 1)
    poisson = (rng.random((T, N)) < prob).astype(np.float32)
    current = np.ascontiguousarray((0.6 * poisson)[:, None, :], dtype=np.float32)

    t0 = time.perf_counter()
    spikes, state, membrane = pn.lif(current, beta=0.9, threshold=1.0, backend=args.backend,
                                     record_membrane=True)
    elapsed = time.perf_counter() - t0
    spikes = np.asarray(spikes)[:, 0, :]
    membrane = np.asarray(membrane)[:, 0, :]
    rates = spikes.mean(axis=0)

    fig, axes = plt.subplots(3, 1, figsize=(9, 8), sharex=True,
                             gridspec_kw={"height_ratios": [3, 1.3, 1]})
    tt, nn = np.nonzero(spikes)
    axes[0].scatter(tt, nn, s=4, marker="|", color="k")
    axes[0].set_ylabel("neuron (input rate ↑)")
    axes[0].set_title(f"LIF population (beta=0.9, threshold=1): {int(spikes.sum())} spikes")
    for k, c in zip((N // 4, N // 2, N - 1), ("tab:blue", "tab:orange", "tab:green"),
                    strict=True):
        axes[1].plot(membrane[:, k], color=c, lw=0.8, label=f"neuron {k}")
    axes[1].axhline(1.0, color="r", ls="--", lw=0.8, label="threshold")
    axes[1].set_ylabel("membrane u")
    axes[1].legend(loc="upper right", fontsize=7, ncol=4)
    window = 10
    pop = np.convolve(spikes.mean(axis=1), np.ones(window) / window, mode="same")
    axes[2].plot(pop, color="k")
    axes[2].plot(envelope * drive.mean() * 0.6, color="gray", ls=":", label="input rate (scaled)")
    axes[2].set_ylabel("population rate\n[spikes/step]")
    axes[2].set_xlabel("time step")
    axes[2].legend(loc="upper right", fontsize=7)
    fig.tight_layout()
    out = Path(args.out)
    png = atomic_savefig(fig, out / "spiking_demo.png", dpi=120)
    plt.close(fig)
    atomic_write_json(out / "spiking_demo.json", {
        "claim": "LIF population response to Poisson drive (raster, membranes, rate)",
        "metrics": {"spikes": int(spikes.sum()), "mean_rate": float(rates.mean()),
                    "max_rate": float(rates.max()), "seconds": elapsed},
        "config": vars(args),
    })
    print(f"wrote {png} ({int(spikes.sum())} spikes from {N} neurons over {T} steps)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
