"""Gallery of the hardware models: each model's response with and without a perturbation.

    physnn run hardware_gallery --out out

Writes ``hardware_gallery.png`` (one row per model: optical speckle, microwave |S21|
spectrum, acoustic cavity fitted to real measurements, acoustic cavity simulated from the wave
equation, spiking substrate raster) and
``hardware_gallery.json`` with the numbers drawn.

The acoustic row needs the measured data (``phyll_acoustic/`` in ``$PHYSNN_DATA`` or a source
checkout's ``../shared/data``): without it the script stops before any work, exit status 1.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from physnn.data import require_data
from physnn.perturb import (
    AdditiveNoise,
    DeadChannels,
    Drift,
    MultiplicativeNoise,
    ParameterDrift,
    Perturbed,
)

from ._base import Device, Result, RunContext, help_field, pyplot

NAME = "hardware_gallery"


@dataclasses.dataclass(frozen=True)
class Config:
    """Settings of the hardware gallery."""

    seed: int = help_field(0, "seed of the random inputs")
    device: Device = help_field("cpu", "where the wave cavity and the spiking substrate run")
    frequencies: int = help_field(241, "microwave |S21| frequencies drawn (0.9 .. 1.1)")
    quick: bool = help_field(False, "a smoke run (set by --quick)")

    def __post_init__(self) -> None:
        if self.frequencies < 2:
            raise ValueError(f"frequencies must be >= 2, got {self.frequencies}")


QUICK = {"quick": True, "frequencies": 61}


def check(cfg: Config) -> None:
    """The acoustic row needs the measurements: stop now, not after the other models ran."""
    require_data("phyll_acoustic/x_data.csv", "phyll_acoustic/y_data.csv")


def _optical(rng):
    from hardware_models import OpticalSpeckle

    layer = OpticalSpeckle(in_shape=(28, 28), camera_shape=(26, 26), seed=1)
    x = rng.random((1, 784))
    clean = layer(x)[0]
    pert = Perturbed(layer, ParameterDrift("decorrelation", at_query=0, shift=0.5),
                     DeadChannels(fraction=0.1), seed=2)
    perturbed = pert(x)[0]
    ideal = OpticalSpeckle(in_shape=(28, 28), camera_shape=(26, 26), camera=None, seed=1)
    intensity = ideal(rng.random((200, 784))).ravel()
    return {
        "clean": clean.reshape(26, 26), "perturbed": perturbed.reshape(26, 26),
        "intensity": intensity,
        "numbers": {
            "perturbation": "TM decorrelation 0.5 (fibre moved), 10 % dead camera pixels",
            "speckle_mean_intensity": float(intensity.mean()),
            "speckle_contrast": float(intensity.std() / intensity.mean()),
            "correlation_clean_perturbed": float(np.corrcoef(clean, perturbed)[0, 1]),
            "dead_pixels": int(pert.dead_outputs.sum()),
        },
    }


def _microwave(rng, n_freqs: int = 241):
    from hardware_models import MicrowaveCavity

    freqs = np.linspace(0.9, 1.1, n_freqs)
    layer = MicrowaveCavity(in_features=20, n_elements=40, frequencies=freqs, seed=0)
    x = rng.random((2, 20))
    clean = layer(x)
    pert = Perturbed(layer, ParameterDrift("detuning", at_query=0, shift=0.004),
                     AdditiveNoise(0.01), seed=3)
    perturbed = pert(x)
    h = layer.transfer(layer.states(x[:1]))[0]
    return {
        "freqs": freqs, "clean": clean, "perturbed": perturbed,
        "numbers": {
            "perturbation": "resonances detuned by +0.4 %, additive noise 0.01",
            "frequencies": freqs.tolist(),
            "s21_config_a": clean[0].tolist(), "s21_config_b": clean[1].tolist(),
            "s21_config_a_perturbed": perturbed[0].tolist(),
            "max_reciprocity_error": float(np.abs(h[:, 1, 0] - h[:, 0, 1]).max()),
            "mean_abs_change_between_configs": float(np.abs(clean[0] - clean[1]).mean()),
            "mean_abs_change_perturbed": float(np.abs(clean[0] - perturbed[0]).mean()),
        },
    }


def _acoustic():
    from hardware_models import AcousticCavity, load_acoustic_measurements

    layer = AcousticCavity.from_measurements(seed=0)
    x, y = load_acoustic_measurements()
    xt, yt = x[9300:], y[9300:]
    pred = layer(xt)
    pert = Perturbed(layer, Drift(rate=-2e-4, mode="gain"), MultiplicativeNoise(0.05),
                     DeadChannels(channels=[5]), seed=4)
    pert(np.repeat(xt[:1], 999, axis=0))  # 999 queries of drift before the one shown
    perturbed = pert(xt[:1])[0]
    return {
        "measured": yt, "pred": pred, "x0": xt[0], "y0": yt[0], "perturbed": perturbed,
        "numbers": {
            "perturbation": "gain drift -2e-4 per query (after 1000 queries: -20 %), 5 % "
                            "multiplicative noise, output 5 dead",
            "r2_test_variance_weighted": layer.fit.r2_test,
            "r2_test_linear_fit": layer.fit.r2_test_linear,
            "r2_test_mean_per_output": layer.fit.r2_test_channel_mean,
            "sample_input": xt[0].tolist(), "sample_measured": yt[0].tolist(),
            "sample_model": pred[0].tolist(), "sample_perturbed": perturbed.tolist(),
            "relative_change_perturbed": float(np.linalg.norm(perturbed - pred[0])
                                               / np.linalg.norm(pred[0])),
        },
    }


def _wave(rng, backend: str = "cpu"):
    from hardware_models import acoustic_cavity_from_physics

    layer = acoustic_cavity_from_physics(20, seed=0, backend=backend)
    x = rng.random((1, 20))
    clean = layer(x)[0]
    pert = Perturbed(layer, ParameterDrift("speed_scale", at_query=0, shift=0.01),
                     AdditiveNoise(0.2), seed=5)
    perturbed = pert(x)[0]
    layer.set_params(speed_scale=1.0)
    mic = layer.probe_signals(x)[:, 0, 0]
    return {
        "layer": layer, "clean": clean, "perturbed": perturbed, "mic": mic,
        "numbers": {
            "perturbation": "sound speed +1 % (temperature), additive noise 0.2",
            "outputs_clean": clean.tolist(), "outputs_perturbed": perturbed.tolist(),
            "relative_change": float(np.linalg.norm(perturbed - clean) / np.linalg.norm(clean)),
            "grid": list(layer.geometry.shape), "n_steps": layer.n_steps, "dt": layer.dt,
        },
    }


def _spiking(rng, backend: str = "cpu"):
    from hardware_models import SpikingSubstrate

    layer = SpikingSubstrate(20, 60, steps=60, seed=0, backend=backend)
    x = rng.random((1, 20))
    clean = layer.run(x.astype(np.float32), np.random.default_rng(0))[:, 0]
    layer.set_params(threshold_scale=1.3, noise=0.1)
    perturbed = layer.run(x.astype(np.float32), np.random.default_rng(0))[:, 0]
    layer.set_params(threshold_scale=1.0, noise=0.02)
    return {
        "clean": clean, "perturbed": perturbed,
        "numbers": {
            "perturbation": "thresholds drifted +30 %, current noise 0.02 -> 0.1",
            "counts_clean": clean.sum(0).tolist(), "counts_perturbed": perturbed.sum(0).tolist(),
            "total_spikes_clean": int(clean.sum()), "total_spikes_perturbed": int(perturbed.sum()),
        },
    }


def claim(metrics: dict) -> str:
    """What the gallery's numbers say about each model, and how much its perturbation moves
    its response."""
    o, m, a = metrics["optical"], metrics["microwave"], metrics["acoustic"]
    w, s = metrics["acoustic_physics"], metrics["spiking"]
    contrast = o["speckle_contrast"]
    speckle = ("fully developed speckle" if abs(contrast - 1) <= 0.05
               else "not fully developed speckle")
    n0, n1 = s["total_spikes_clean"], s["total_spikes_perturbed"]
    spikes = ("fewer" if n1 < n0 else "more" if n1 > n0 else "as many")
    r2, r2_lin = a["r2_test_variance_weighted"], a["r2_test_linear_fit"]
    return (f"Optics: speckle contrast {contrast:.2f} ({speckle}: 1 expected); perturbed "
            f"({o['perturbation']}), the camera image keeps a correlation of "
            f"{o['correlation_clean_perturbed']:.2f} with the clean one. "
            f"Microwave: reciprocal to {m['max_reciprocity_error']:.1g}; two metasurface "
            f"configurations change |S21| by {m['mean_abs_change_between_configs']:.3f} on "
            f"average, the perturbation ({m['perturbation']}) by "
            f"{m['mean_abs_change_perturbed']:.3f}. "
            f"Acoustic model fitted to measurements: held-out R² {r2:.3f} (a linear fit "
            f"{r2_lin:.3f}); the perturbation ({a['perturbation']}) moves one response by "
            f"{100 * a['relative_change_perturbed']:.0f} %. Acoustic cavity from physics: the "
            f"perturbation ({w['perturbation']}) moves the outputs by "
            f"{100 * w['relative_change']:.0f} %. Spiking substrate: the perturbation "
            f"({s['perturbation']}) gives {spikes} spikes ({n1} vs {n0}).")


def _headroom(ax, factor: float = 1.45) -> None:
    """Raise the top of ``ax`` so that a legend at the top covers no data."""
    lo, hi = ax.get_ylim()
    ax.set_ylim(lo, lo + (hi - lo) * factor)


def _plot(opt, mw, ac, wv, sp):
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    plt = pyplot()

    fig, ax = plt.subplots(5, 3, figsize=(15, 21), layout="constrained")
    integer = {"integer": True}

    # optical: two camera images on one colour scale, and the speckle statistics
    vmax = max(opt["clean"].max(), opt["perturbed"].max())
    for a, img, title in ((ax[0, 0], opt["clean"], "optical speckle: camera image"),
                          (ax[0, 1], opt["perturbed"], "perturbed: TM decorrelated 0.5,\n"
                                                       "10 % dead pixels")):
        im = a.imshow(img, cmap="inferno", vmin=0, vmax=vmax)
        a.set_title(title)
        a.set_xlabel("camera column [pixel]")
        a.set_ylabel("camera row [pixel]")
        a.xaxis.set_major_locator(MaxNLocator(**integer))
        a.yaxis.set_major_locator(MaxNLocator(**integer))
    fig.colorbar(im, ax=[ax[0, 0], ax[0, 1]], shrink=0.85,
                 label="camera reading (8-bit, full well = 1)")
    bins = np.linspace(0, 8, 60)
    ax[0, 2].hist(opt["intensity"], bins=bins, density=True, alpha=0.6,
                  label=r"speckle $|Tx|^2$ (200 inputs)")
    ax[0, 2].plot(bins, np.exp(-bins), "k--", label=r"$e^{-I}$ (fully developed speckle)")
    ax[0, 2].set_yscale("log")
    ax[0, 2].set_xlabel("intensity I / mean intensity")
    ax[0, 2].set_ylabel("probability density")
    ax[0, 2].set_title("noiseless speckle statistics")
    ax[0, 2].legend(fontsize=9)

    # microwave: |S21| spectra, clean and perturbed, and two configurations
    f = mw["freqs"]
    flabel = "frequency f (f = 1: wavelength 1)"
    for i, (a, name) in enumerate(((ax[1, 0], "configuration A"), (ax[1, 1], "configuration B"))):
        a.plot(f, mw["clean"][i], label="clean")
        a.plot(f, mw["perturbed"][i], label="detuned +0.4 %, noise 0.01", alpha=0.8)
        a.set_title(f"microwave cavity, metasurface {name}")
    ax[1, 2].plot(f, mw["clean"][0], label="configuration A")
    ax[1, 2].plot(f, mw["clean"][1], label="configuration B")
    ax[1, 2].set_title("two metasurface configurations (clean)")
    for a in ax[1]:
        a.set_xlabel(flabel)
        a.set_ylabel("|S21| (transmission magnitude)")
        _headroom(a, 1.3)
        a.legend(fontsize=9, loc="upper right")

    # acoustic model fitted to measurements
    ax[2, 0].scatter(ac["measured"].ravel(), ac["pred"].ravel(), s=2, alpha=0.3,
                     label="one output of one sample")
    lim = [0, float(ac["measured"].max())]
    ax[2, 0].plot(lim, lim, "k--", lw=1, label="model = measurement")
    r2 = ac["numbers"]["r2_test_variance_weighted"]
    ax[2, 0].set_title(f"acoustic model vs {len(ac['measured'])} held-out measurements\n"
                       f"R² = {r2:.4f} (linear fit {ac['numbers']['r2_test_linear_fit']:.4f})")
    ax[2, 0].set_xlabel("measured output [a.u.]")
    ax[2, 0].set_ylabel("model output [a.u.]")
    ax[2, 0].legend(fontsize=9, loc="upper left", markerscale=4)
    ch = np.arange(len(ac["x0"]))
    ax[2, 1].bar(ch, ac["x0"], color="grey")
    ax[2, 1].set_title("acoustic: one held-out input")
    ax[2, 1].set_xlabel("input channel")
    ax[2, 1].set_ylabel("input value (0 .. 1)")
    ax[2, 2].plot(ch, ac["y0"], "ko", label="measured")
    ax[2, 2].plot(ch, ac["pred"][0], "x-", label="model")
    ax[2, 2].plot(ch, ac["perturbed"], "s:", label="gain drift, noise, dead output 5")
    ax[2, 2].set_title("acoustic: outputs for that input")
    ax[2, 2].set_xlabel("output channel")
    ax[2, 2].set_ylabel("output [a.u.]")
    _headroom(ax[2, 2], 1.6)
    ax[2, 2].legend(fontsize=9, loc="upper left")
    for a in ax[2, 1:]:
        a.xaxis.set_major_locator(MaxNLocator(**integer))

    # acoustic cavity simulated from the wave equation
    layer = wv["layer"]
    layer.geometry.plot(ax[3, 0])
    speed = ax[3, 0].images[0]
    my, mx = layer.geometry.probes[0]
    ax[3, 0].annotate("microphone 0", (mx, my), xytext=(0, 9), textcoords="offset points",
                      ha="center", fontsize=9, color="tab:purple", fontweight="bold")
    fig.colorbar(speed, ax=ax[3, 0], shrink=0.8, label="sound speed c / c0")
    handles = [Line2D([], [], ls="", marker="o", color="tab:orange", label="speaker (input)"),
               Line2D([], [], ls="", marker="s", color="tab:purple", label="microphone"),
               Line2D([], [], color="tab:green", lw=1.2, label="nonlinear material")]
    ax[3, 0].legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.17), ncol=3,
                    fontsize=9, frameon=False, handletextpad=0.3, columnspacing=0.8)
    ax[3, 0].set_title("acoustic cavity from physics: chaotic room,\n"
                       "rigid walls, disks of other sound speed")
    t = np.arange(len(wv["mic"])) * layer.dt
    ax[3, 1].plot(t, wv["mic"], lw=0.8)
    ax[3, 1].axvline(t[-1] / 2, color="0.5", ls="--", lw=0.8)
    ax[3, 1].set_title("microphone 0 (speakers stop at the dashed line)")
    ax[3, 1].set_xlabel("time t [h/c0] (h: cell size)")
    ax[3, 1].set_ylabel("pressure [a.u.]")
    ch = np.arange(len(wv["clean"]))
    ax[3, 2].bar(ch - 0.2, wv["clean"], width=0.4, label="clean")
    ax[3, 2].bar(ch + 0.2, wv["perturbed"], width=0.4, label="sound speed +1 %, noise 0.2")
    ax[3, 2].set_xlabel("output (microphone x time window)")
    ax[3, 2].set_ylabel("integrated intensity [a.u.]")
    ax[3, 2].set_title("acoustic cavity from physics: outputs")
    ax[3, 2].xaxis.set_major_locator(MaxNLocator(**integer))
    _headroom(ax[3, 2], 1.3)
    ax[3, 2].legend(fontsize=9, loc="upper left", ncol=2)

    # spiking substrate
    for a, raster, title in ((ax[4, 0], sp["clean"], "spiking substrate: raster"),
                             (ax[4, 1], sp["perturbed"], "thresholds +30 %, noise x5")):
        t, n = np.nonzero(raster)
        a.scatter(t, n, s=12, marker="|", color="k")
        a.set_xlabel("time step")
        a.set_ylabel("neuron")
        a.set_title(f"{title}: {int(raster.sum())} spikes")
        a.set_xlim(0, raster.shape[0])
        a.xaxis.set_major_locator(MaxNLocator(**integer))
        a.yaxis.set_major_locator(MaxNLocator(**integer))
    ax[4, 2].plot(sp["clean"].sum(0), "o", label="clean")
    ax[4, 2].plot(sp["perturbed"].sum(0), "x", label="thresholds +30 %, noise x5")
    ax[4, 2].set_xlabel("neuron")
    ax[4, 2].set_ylabel(f"spikes in {sp['clean'].shape[0]} steps (the layer's output)")
    ax[4, 2].set_title("spiking substrate: spike count per neuron")
    for axis in (ax[4, 2].xaxis, ax[4, 2].yaxis):
        axis.set_major_locator(MaxNLocator(**integer))
    _headroom(ax[4, 2], 1.3)
    ax[4, 2].legend(fontsize=9, loc="upper left", ncol=2)
    fig.suptitle("physnn hardware models: response without and with a perturbation",
                 fontsize=14)
    return fig


def run(cfg: Config, ctx: RunContext) -> Result:
    """Run the experiment with ``cfg`` (see the module docstring); nothing is written."""
    rng = np.random.default_rng(cfg.seed)
    opt, mw, ac = _optical(rng), _microwave(rng, cfg.frequencies), _acoustic()
    wv, sp = _wave(rng, cfg.device), _spiking(rng, cfg.device)
    fig = _plot(opt, mw, ac, wv, sp)
    metrics = {"optical": opt["numbers"], "microwave": mw["numbers"], "acoustic": ac["numbers"],
               "acoustic_physics": wv["numbers"], "spiking": sp["numbers"]}
    return Result(claim=claim(metrics), metrics=metrics, figure=fig)
