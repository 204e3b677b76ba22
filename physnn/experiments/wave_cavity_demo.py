"""Wave-cavity demo: the field inside a nonlinear cavity and the signals at its probes.

Claim shown: the cavity is a nonlinear physical layer. Driven by an input (amplitude-
modulated tones from one source), waves scatter off the disks, pass through the disk of
nonlinear material and reach three probes; the field at the probes breaks superposition by a
measured margin, while the same cavity without the nonlinear material obeys it to rounding.

Writes ``wave_cavity_demo.png`` (field snapshots over the geometry, probe signals) and
``wave_cavity_demo.json`` (the numbers behind it) to ``--out``.

    physnn run wave_cavity_demo --out out
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from physnn.wave import simulate_wave

from ._base import Device, Result, RunContext, help_field, pyplot

NAME = "wave_cavity_demo"


@dataclasses.dataclass(frozen=True)
class Config:
    """Settings of the wave-cavity demo."""

    seed: int = help_field(0, "seed of the geometry and the input")
    device: Device = help_field("cpu", "where the wave equation is solved")
    shape: tuple[int, int] = help_field((100, 160), "cavity cells (rows, columns)")
    n_steps: int = help_field(1200, "time steps")
    quick: bool = help_field(False, "a smoke run (set by --quick)")

    def __post_init__(self) -> None:
        if min(self.shape) < 20 or self.n_steps < 12:
            raise ValueError(f"shape must be at least 20 x 20 cells and n_steps >= 12, got "
                             f"{self.shape} and {self.n_steps}")


QUICK = {"quick": True, "shape": (50, 80), "n_steps": 500}


def superposition_error(cavity, a: np.ndarray, b: np.ndarray) -> float:
    """``max |u(a+b) - u(a) - u(b)| / max |u(a+b)|`` over the probes' field."""
    sig = cavity.probe_signals(np.stack([a, b, a + b])).astype(np.float64)
    return float(np.abs(sig[:, 2] - sig[:, 0] - sig[:, 1]).max() / np.abs(sig[:, 2]).max())


#: A superposition error above this (relative to the probes' peak) is a broken superposition;
#: below it, rounding.
BROKEN = 1e-3


def claim(metrics: dict) -> str:
    """Whether each cavity breaks superposition at its probes, from the measured errors."""
    nl, lin = metrics["superposition_error_nonlinear"], metrics["superposition_error_linear"]

    def verdict(err: float) -> str:
        return "breaks superposition" if err > BROKEN else "obeys superposition"

    text = (f"with its disk of nonlinear material the wave cavity {verdict(nl)} at its probes "
            f"(relative error {nl:.2g}); without it the cavity {verdict(lin)} "
            f"({lin:.2g})")
    if nl > BROKEN and lin <= BROKEN:
        ratio = nl / max(lin, 1e-300)
        return text + (f": the nonlinear material raises the error "
                       f"{float(f'{ratio:.2g}'):,.0f}x")  # two significant digits
    if (nl > BROKEN) == (lin > BROKEN):
        return text + ": the nonlinear material makes no qualitative difference"
    return text


PROBE_COLORS = ("tab:purple", "goldenrod", "k", "tab:brown", "tab:pink", "tab:cyan")


def figure(geometry, cavity, snaps, snap_steps, signals, drive, err_nl, err_lin, n_features,
           n_steps):
    """Field snapshots over the geometry (one colour scale), the probe signals, and the
    superposition test. Positions are (x, y) in cells; time is in h / c0 (h: cell size,
    c0: background wave speed)."""
    from matplotlib.colors import TwoSlopeNorm
    from matplotlib.lines import Line2D

    plt = pyplot()
    fig = plt.figure(figsize=(13, 8.2), layout="constrained")
    grid = fig.add_gridspec(2, 3, height_ratios=[1.0, 0.85])
    # one colour scale for the three snapshots; the driven source cell, far above the rest,
    # saturates (the colour bar's arrows)
    lim = float(np.percentile(np.abs(np.stack(snaps)), 99.5)) or 1.0
    norm = TwoSlopeNorm(0.0, -lim, lim)
    colors = [PROBE_COLORS[p % len(PROBE_COLORS)] for p in range(len(geometry.probes))]
    maps = []
    for k, (step, snap) in enumerate(zip(snap_steps, snaps, strict=False)):
        ax = fig.add_subplot(grid[0, k])
        maps.append(ax)
        geometry.plot(ax, field=snap)
        image = ax.images[0]
        image.set_norm(norm)
        for p, (py, px) in enumerate(geometry.probes):  # each probe in its trace's colour
            ax.plot(px, py, "s", color=colors[p], mec="w", ms=7)
            ax.annotate(f"P{p}", (px, py), xytext=(-4, 0), textcoords="offset points",
                        ha="right", va="center", fontsize=9, color=colors[p],
                        fontweight="bold")
        ax.set_title(f"field u at t = {step * cavity.dt:.0f} h/c0 (step {step})", fontsize=10)
        ax.set_xlabel("x [cells]")
        ax.set_ylabel("y [cells]" if k == 0 else "")
    fig.colorbar(image, ax=maps, extend="both", label="field u [a.u.]", shrink=0.85,
                 pad=0.01)
    names = ", ".join(f"P{p}" for p in range(len(geometry.probes)))
    handles = [
        Line2D([], [], ls="", marker="o", color="tab:orange", label="source"),
        Line2D([], [], ls="", marker="s", color="0.4",
               label=f"probes {names} (colour of its trace)"),
        Line2D([], [], color="k", lw=0.8, label="linear scatterer (speed ≠ c0)"),
        Line2D([], [], color="tab:green", lw=1.5, label="nonlinear material"),
        Line2D([], [], color="0.5", ls="--", lw=0.8, label="inner edge of absorbing layer"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncol=5, fontsize=9,
               frameon=False)

    ax = fig.add_subplot(grid[1, :2])
    t = np.arange(1, n_steps + 1) * cavity.dt
    peak = np.abs(signals).max()
    ax.plot(t, drive[:, 0, 0] / np.abs(drive).max() * peak, color="0.75", lw=0.8,
            label="source drive (scaled to the probes' peak)")
    for p in range(signals.shape[1]):
        py, px = geometry.probes[p]
        ax.plot(t, signals[:, p], lw=1.0, color=colors[p], label=f"P{p} (x={px}, y={py})")
    ax.set_xlabel("time t [h/c0]")
    ax.set_ylabel("field u at the probe [a.u.]")
    ax.set_ylim(-1.6 * peak, 1.6 * peak)  # headroom for the legend
    ax.legend(fontsize=9, loc="upper left", ncol=2)
    ax.set_title("probe signals")

    ax = fig.add_subplot(grid[1, 2])
    values = [err_nl, max(err_lin, 1e-16)]
    floor = 10.0 ** (np.floor(np.log10(min(values))) - 1)
    ax.bar([0, 1], [v - floor for v in values], bottom=floor, color=["tab:green", "tab:blue"])
    for i, v in enumerate(values):
        ax.text(i, v * 1.5, f"{v:.2g}", ha="center", va="bottom", fontsize=9)
    ax.set_yscale("log")
    ax.set_ylim(floor, max(values) * 30)
    ax.set_xticks([0, 1], ["with nonlinear\nmaterial", "linear\n(no nonlinear material)"])
    ax.set_ylabel("superposition error (see title)")
    ax.set_title("max|u(a+b) - u(a) - u(b)| / max|u(a+b)|\nat the probes (0: superposition holds)",
                 fontsize=10)
    fig.suptitle(f"2-D wave cavity, {geometry.shape[1]} x {geometry.shape[0]} cells, "
                 f"{n_features} input tones, {n_steps} steps (dt = {cavity.dt:.3f} h/c0)")
    return fig


def run(cfg: Config, ctx: RunContext) -> Result:
    """Run the experiment with ``cfg`` (see the module docstring); nothing is written."""
    from hardware_models.wave_cavity import CavityGeometry, WaveCavity

    shape, n_steps, seed, backend = tuple(cfg.shape), cfg.n_steps, cfg.seed, cfg.device
    geometry = CavityGeometry.example(shape, n_scatterers=12, nonlinear=True, seed=seed)
    linear_geometry = CavityGeometry.example(shape, n_scatterers=12, nonlinear=False,
                                             seed=seed)
    n_features, amplitude = 6, 4.0
    cavity = WaveCavity(geometry, n_features, n_steps=n_steps, amplitude=amplitude,
                        backend=backend)
    linear = WaveCavity(linear_geometry, n_features, n_steps=n_steps, amplitude=amplitude,
                        dt=cavity.dt, backend=backend)
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, n_features)
    a, b = rng.uniform(0, 1, (2, n_features))

    # field snapshots: run one sample in chunks and keep the state between them
    medium = geometry.medium()
    f = cavity.forcing(x[None, :])
    snap_steps = [n_steps // 6, n_steps // 3, n_steps // 2]
    snaps, signals, state, done = [], [], None, 0
    t0 = time.perf_counter()
    for stop in snap_steps + [n_steps]:
        res = simulate_wave(medium, f[done:stop], dt=cavity.dt, sources=geometry.sources,
                            probes=geometry.probes, state=state, backend=backend)
        signals.append(res.probes[:, 0])
        state, done = res.state, stop
        snaps.append(res.state.u[0].copy())
    run_seconds = time.perf_counter() - t0
    signals = np.concatenate(signals)  # (T, probes)
    features = cavity(x[None, :])[0]

    err_nl = superposition_error(cavity, a, b)
    err_lin = superposition_error(linear, a, b)

    fig = figure(geometry, cavity, snaps, snap_steps, signals, f, err_nl, err_lin,
                 n_features, n_steps)
    metrics = {
        "superposition_error_nonlinear": err_nl,
        "superposition_error_linear": err_lin,
        "input": x.tolist(),
        "features": features.tolist(),
        "probe_peak": np.abs(signals).max(axis=0).tolist(),
        "dt": cavity.dt,
        "n_steps": n_steps,
    }
    ctx.log.info("superposition error: nonlinear %.3g, linear %.3g", err_nl, err_lin)
    return Result(claim=claim(metrics),
                  metrics=metrics, figure=fig,
                  timings={"simulation_seconds_one_sample": run_seconds},
                  setup={"geometry": geometry.to_dict()})
