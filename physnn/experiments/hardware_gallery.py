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


def _plot(opt, mw, ac, wv, sp):
    plt = pyplot()

    fig, ax = plt.subplots(5, 3, figsize=(14, 20))
    vmax = max(opt["clean"].max(), opt["perturbed"].max())
    for a, img, title in ((ax[0, 0], opt["clean"], "optical speckle: camera image"),
                          (ax[0, 1], opt["perturbed"], "perturbed: TM decorrelated 0.5,\n"
                                                       "10 % dead pixels")):
        im = a.imshow(img, cmap="inferno", vmin=0, vmax=vmax)
        a.set_title(title)
        a.set_xticks([])
        a.set_yticks([])
    fig.colorbar(im, ax=ax[0, 1], label="camera reading (8-bit, full well = 1)")
    bins = np.linspace(0, 8, 60)
    ax[0, 2].hist(opt["intensity"], bins=bins, density=True, alpha=0.6, label="speckle |Tx|^2")
    ax[0, 2].plot(bins, np.exp(-bins), "k--", label="exp(-I)")
    ax[0, 2].set_yscale("log")
    ax[0, 2].set_xlabel("intensity / mean")
    ax[0, 2].set_title("noiseless speckle statistics")
    ax[0, 2].legend()

    f = mw["freqs"]
    for i, (a, name) in enumerate(((ax[1, 0], "configuration A"), (ax[1, 1], "configuration B"))):
        a.plot(f, mw["clean"][i], label="clean")
        a.plot(f, mw["perturbed"][i], label="detuned +0.4 %, noise", alpha=0.8)
        a.set_xlabel("frequency (f = 1: wavelength 1)")
        a.set_ylabel("|S21|")
        a.set_title(f"microwave cavity, metasurface {name}")
        a.legend()
    ax[1, 2].plot(f, mw["clean"][0], label="A")
    ax[1, 2].plot(f, mw["clean"][1], label="B")
    ax[1, 2].set_title("two metasurface configurations (clean)")
    ax[1, 2].set_xlabel("frequency")
    ax[1, 2].legend()

    ax[2, 0].scatter(ac["measured"].ravel(), ac["pred"].ravel(), s=2, alpha=0.3)
    lim = [0, float(ac["measured"].max())]
    ax[2, 0].plot(lim, lim, "k--", lw=1)
    r2 = ac["numbers"]["r2_test_variance_weighted"]
    ax[2, 0].set_title(f"acoustic model vs 700 held-out measurements\nR² = {r2:.4f} "
                       f"(linear fit {ac['numbers']['r2_test_linear_fit']:.4f})")
    ax[2, 0].set_xlabel("measured output")
    ax[2, 0].set_ylabel("model output")
    ch = np.arange(20)
    ax[2, 1].bar(ch, ac["x0"], color="grey")
    ax[2, 1].set_title("acoustic: one held-out input")
    ax[2, 1].set_xlabel("input channel")
    ax[2, 2].plot(ch, ac["y0"], "ko", label="measured")
    ax[2, 2].plot(ch, ac["pred"][0], "x-", label="model")
    ax[2, 2].plot(ch, ac["perturbed"], "s:", label="gain drift, noise, dead ch. 5")
    ax[2, 2].set_title("acoustic: outputs for that input")
    ax[2, 2].set_xlabel("output channel")
    ax[2, 2].legend()

    wv["layer"].geometry.plot(ax[3, 0])
    ax[3, 0].set_title("acoustic cavity from physics: chaotic room,\n"
                       "nonlinear disks (green), speakers, microphones")
    ax[3, 0].legend(loc="upper right", fontsize=7)
    t = np.arange(len(wv["mic"])) * wv["layer"].dt
    ax[3, 1].plot(t, wv["mic"], lw=0.8)
    ax[3, 1].axvline(t[-1] / 2, color="0.5", ls="--", lw=0.8)
    ax[3, 1].set_title("microphone 0: pressure (speakers stop at dashed line)")
    ax[3, 1].set_xlabel("time")
    ch = np.arange(len(wv["clean"]))
    ax[3, 2].bar(ch - 0.2, wv["clean"], width=0.4, label="clean")
    ax[3, 2].bar(ch + 0.2, wv["perturbed"], width=0.4, label="sound speed +1 %, noise")
    ax[3, 2].set_xlabel("output (microphone x window)")
    ax[3, 2].set_ylabel("integrated intensity")
    ax[3, 2].set_title("acoustic cavity from physics: outputs")
    ax[3, 2].legend()

    for a, raster, title in ((ax[4, 0], sp["clean"], "spiking substrate: raster"),
                             (ax[4, 1], sp["perturbed"], "thresholds +30 %, noise x5")):
        t, n = np.nonzero(raster)
        a.scatter(t, n, s=12, marker="|", color="k")
        a.set_xlabel("time step")
        a.set_ylabel("neuron")
        a.set_title(title)
        a.set_xlim(0, raster.shape[0])
    ax[4, 2].plot(sp["clean"].sum(0), "o", label="clean")
    ax[4, 2].plot(sp["perturbed"].sum(0), "x", label="perturbed")
    ax[4, 2].set_xlabel("neuron")
    ax[4, 2].set_ylabel("spike count (the layer's output)")
    ax[4, 2].legend()
    fig.suptitle("physnn hardware models: response without and with a perturbation")
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    return fig


def run(cfg: Config, ctx: RunContext) -> Result:
    """Run the experiment with ``cfg`` (see the module docstring); nothing is written."""
    rng = np.random.default_rng(cfg.seed)
    opt, mw, ac = _optical(rng), _microwave(rng, cfg.frequencies), _acoustic()
    wv, sp = _wave(rng, cfg.device), _spiking(rng, cfg.device)
    fig = _plot(opt, mw, ac, wv, sp)
    metrics = {"optical": opt["numbers"], "microwave": mw["numbers"], "acoustic": ac["numbers"],
               "acoustic_physics": wv["numbers"], "spiking": sp["numbers"]}
    return Result(claim="each hardware model's response with and without a perturbation",
                  metrics=metrics, figure=fig)
