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


def claim(metrics: dict, neurons: int, steps: int) -> str:
    """How the population follows its drive, from the measured rates."""
    pop, inp = metrics["population_rate"], metrics["input_rate"]

    def follows(a: str, b: str) -> str:
        # does the population rate move with the input rate between phases a and b?
        d_in, d_out = inp[b] - inp[a], pop[b] - pop[a]
        if abs(d_out) < 1e-3:
            return "stays at"
        word = "rises" if d_out > 0 else "falls"
        return word + ("" if np.sign(d_in) == np.sign(d_out) else " against the input") + " to"

    return (f"LIF population (beta 0.9, threshold 1) driven by Poisson spikes: "
            f"{metrics['spikes']} spikes from {neurons} neurons over {steps} steps; the "
            f"population rate is {pop['tonic']:.3f} spikes per neuron and step under tonic "
            f"drive (input {inp['tonic']:.3f}), {follows('tonic', 'pause')} "
            f"{pop['pause']:.3f} in the pause (input {inp['pause']:.3f}) and "
            f"{follows('tonic', 'burst')} {pop['burst']:.3f} in the burst "
            f"(input {inp['burst']:.3f}).")


def figure(spikes: np.ndarray, membrane: np.ndarray, prob: np.ndarray, N: int, T: int):
    """Raster, three membrane traces, and the population rate against the input rate."""
    from matplotlib.ticker import MaxNLocator

    plt = pyplot()
    fig, axes = plt.subplots(3, 1, figsize=(9, 8.5), sharex=True, layout="constrained",
                             gridspec_kw={"height_ratios": [3, 1.5, 1.3]})
    tt, nn = np.nonzero(spikes)
    axes[0].scatter(tt, nn, s=30, marker="|", linewidths=1.2, color="k")
    axes[0].set_ylabel("neuron (input rate rises with index)")
    axes[0].yaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0].set_ylim(-1, N)
    axes[0].set_title(f"LIF population (beta=0.9, threshold=1): {int(spikes.sum())} spikes")
    for k, c in zip((N // 4, N // 2, N - 1), ("tab:blue", "tab:orange", "tab:green"),
                    strict=True):
        axes[1].plot(membrane[:, k], color=c, lw=0.8, label=f"neuron {k}")
    axes[1].axhline(1.0, color="r", ls="--", lw=0.8, label="threshold")
    axes[1].set_ylabel("membrane u\n[threshold = 1]")
    lo, hi = axes[1].get_ylim()
    axes[1].set_ylim(lo, hi + 0.45 * (hi - lo))  # room for the legend above the traces
    axes[1].legend(loc="upper right", fontsize=8, ncol=4)
    window = min(10, T)
    kernel = np.ones(window)
    # moving average, divided by the steps actually inside the window at the edges
    pop = (np.convolve(spikes.mean(axis=1), kernel, mode="same")
           / np.convolve(np.ones(T), kernel, mode="same"))
    axes[2].plot(pop, color="k", label=f"population ({window}-step moving average)")
    axes[2].plot(prob.mean(axis=1), color="gray", ls=":", label="Poisson input (mean)")
    axes[2].set_ylabel("rate\n[spikes/(neuron step)]")
    axes[2].set_xlabel("time step")
    axes[2].set_ylim(0, max(pop.max(), prob.mean(axis=1).max()) * 1.5)
    axes[2].legend(loc="upper left", fontsize=8, ncol=2)
    axes[2].xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[2].set_xlim(0, T)
    return fig


def run(cfg: Config, ctx: RunContext) -> Result:
    """Run the experiment with ``cfg`` (see the module docstring); nothing is written."""
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

    phases = {"tonic": slice(0, T // 3), "pause": slice(T // 3, T // 2),
              "burst": slice(2 * T // 3, 2 * T // 3 + T // 10)}
    metrics = {"spikes": int(spikes.sum()), "mean_rate": float(rates.mean()),
               "max_rate": float(rates.max()),
               "population_rate": {k: float(spikes[sl].mean()) for k, sl in phases.items()},
               "input_rate": {k: float(prob[sl].mean()) for k, sl in phases.items()}}
    fig = figure(spikes, membrane, prob, N, T)
    ctx.log.info("%d spikes from %d neurons over %d steps", int(spikes.sum()), N, T)
    return Result(claim=claim(metrics, N, T), metrics=metrics, figure=fig,
                  timings={"lif_seconds": elapsed})
