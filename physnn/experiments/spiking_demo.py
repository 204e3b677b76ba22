"""Spiking demo: a LIF population driven by Poisson input spikes, drawn as a raster plot with
membrane traces and the population firing rate.

Writes ``spiking_demo.png`` and ``spiking_demo.json`` into ``--out`` (default ``out/``):
``physnn run spiking_demo --out out``.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

import physnn as pn

from ._base import Device, Result, RunContext, help_field, pyplot

NAME = "spiking_demo"


@dataclasses.dataclass(frozen=True)
class Config:
    """Settings of the spiking demo."""

    seed: int = help_field(0, "seed of the Poisson input")
    device: Device = help_field("cpu", "where the LIF kernel runs")
    steps: int = help_field(300, "time steps")
    neurons: int = help_field(64, "neurons in the population")
    quick: bool = help_field(False, "a smoke run (set by --quick)")

    def __post_init__(self) -> None:
        if self.steps < 10 or self.neurons < 4:
            raise ValueError(f"steps must be >= 10 and neurons >= 4, got {self.steps} and "
                             f"{self.neurons}")


QUICK = {"quick": True, "steps": 120, "neurons": 32}


def run(cfg: Config, ctx: RunContext) -> Result:
    """Run the experiment with ``cfg`` (see the module docstring); nothing is written."""
    plt = pyplot()
    rng = np.random.default_rng(cfg.seed)
    T, N = cfg.steps, cfg.neurons
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
    spikes, state, membrane = pn.lif(current, beta=0.9, threshold=1.0, backend=cfg.device,
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
    ctx.log.info("%d spikes from %d neurons over %d steps", int(spikes.sum()), N, T)
    metrics = {"spikes": int(spikes.sum()), "mean_rate": float(rates.mean()),
               "max_rate": float(rates.max())}
    return Result(claim="LIF population response to Poisson drive (raster, membranes, rate): "
                        f"{int(spikes.sum())} spikes from {N} neurons over {T} steps",
                  metrics=metrics, figure=fig, timings={"lif_seconds": elapsed})
