"""Perturbation robustness of deployed physical networks: frozen vs online PhyLL vs twin-based
training, under slow drift, a sudden shift, growing noise and channels dying mid-run.

A network is trained on the unperturbed hardware, then deployed (:mod:`physnn.robustness`):
it serves a stream of labelled batches (32 samples; the stream resamples the training split,
never the test split) while the hardware follows a scenario, and its accuracy on the held-out
test split is measured as of regular instants of the deployment clock (samples served;
evaluation never moves the clock). Methods, all deployed on the same hardware trajectory:

- **frozen**: the PhyLL-trained network, unchanged;
- **online PhyLL**: the same network, updated after every served batch by
  :class:`physnn.robustness.OnlineAdapter` (its settings are chosen on a validation split
  carved from the training data, under a *different* shift than the test scenarios);
- **PAT, stale twin**: a network trained by physics-aware training (Wright et al. 2022), that
  keeps training online from the stream (forward through the hardware, backward through
  twins fitted before the deployment);
- **PAT, refitted twin**: the same, refitting the twins when they disagree with the live
  measurements (the refit's queries are counted);
- **in-silico, stale twin**: trained through the twins only, frozen in deployment;
- **in-silico, refitted twin**: retrained on refitted twins (digital only) after each refit.

Tasks: 7 vowels from 12 formants with two acoustic blocks (``phyll_vowels``) and with three
microwave cavities (``phyll_microwave_vowels``): the 52-sample test splits of several
stratified 80/20 splits are pooled so that 1 point is >= 3 test samples; Fashion-MNIST through
two optical speckle blocks, on a *subset* (fewer training images, a 20 x 20 camera, 100
hidden units: not the 88 % set-up of ``phyll_fashion_optics``). Accuracies are pooled over
splits; per-split numbers are reported as mean ± std.

Run: ``physnn run robustness --out out/robustness`` (all tasks; about 2.5 h on one core:
acoustic ~65 min, Fashion-MNIST ~40 min, microwave ~45 min without the baselines),
``--set tasks=[vowels-acoustic]`` for one task, ``--quick`` for CI (well under a minute).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

import physnn as pn
from physnn.nets import abs_max_scale
from physnn.perturb import AdditiveNoise, DeadChannels, ParameterDrift, Ramp
from physnn.robustness import (
    ChangeDetector,
    Frozen,
    OnlineAdapter,
    PhysicsAwareAdapter,
    RobustnessReport,
    Scenario,
    TwinRefit,
    evaluate_under,
)

from ._base import Device, Result, RunContext, help_field, mean_std, pyplot
from .phyll_vowels import prepare

NAME = "robustness"
SCENARIOS = ("none", "slow drift", "sudden shift", "growing noise", "dying channels")
TASKS = ("vowels-acoustic", "vowels-microwave", "fashion-optics")
Task = Literal["vowels-acoustic", "vowels-microwave", "fashion-optics"]
SWEEP_METRICS = (
    "vowels-acoustic.targets.no_perturbation_online_worst_gap_vs_frozen_points",
    "vowels-acoustic.targets.drift_online PhyLL_worst_gap_vs_drift_free_points",
    "vowels-acoustic.targets.shift_online PhyLL_final_minus_before_points")


@dataclass(frozen=True)
class Config:
    """Settings of the robustness study (defaults: the full study; each task's sizes are
    fixed in :func:`task_specs`)."""

    seed: int = help_field(0, "first seed: data splits, initial weights, streams")
    n_seeds: int = help_field(0, "data splits per task, seeds seed .. seed + n - 1 (0: each "
                                 "task's own: 6 acoustic, 6 microwave, 2 Fashion-MNIST)")
    device: Device = help_field("cpu", "where the local learners' digital layers train")
    tasks: tuple[Task, ...] = help_field(TASKS, "tasks to run")
    batch_size: int = help_field(32, "samples per served batch of the deployment stream")
    tolerance: float = help_field(0.01, "recovered = back within this of the pre-onset "
                                        "accuracy (fraction)")
    baselines: bool = help_field(True, "also run the twin baselines (PAT, in-silico)")
    extras: bool = help_field(True, "acoustic task: every online candidate on test "
                                    "(ablation) and online Forward-Forward / local readout")
    quick: bool = help_field(False, "a smoke run (set by --quick)")

    def __post_init__(self) -> None:
        if self.n_seeds < 0:
            raise ValueError(f"n_seeds must be >= 0, got {self.n_seeds}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if not 0 <= self.tolerance < 1:
            raise ValueError(f"tolerance must be in [0, 1), got {self.tolerance}")
        if not self.tasks:
            raise ValueError("tasks must name at least one task")
        if len(set(self.tasks)) != len(self.tasks):
            raise ValueError(f"tasks must not repeat, got {self.tasks}")


QUICK = {"quick": True, "extras": False}


def check(cfg: Config) -> None:
    """The formant table, the acoustic measurements and Fashion-MNIST, before any work."""
    from physnn.data import load_fashion_mnist, require_data

    if any(t.startswith("vowels") for t in cfg.tasks):
        require_data("hillenbrand_formants_women7.csv", "phyll_acoustic/x_data.csv",
                     "phyll_acoustic/y_data.csv")
    if "fashion-optics" in cfg.tasks:
        load_fashion_mnist(flatten=True)


# ----------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class TaskSpec:
    """One task: data, hardware, training settings and the scenarios' sizes.

    ``parameter`` drifts by ``drift`` over the horizon (slow drift) and jumps by ``shift`` at
    ``onset`` (sudden shift); growing noise ramps an additive output noise from ``onset`` to
    ``noise`` x the hardware's output standard deviation at the horizon; ``dead_fraction`` of
    every block's output channels die at ``onset``. Online settings are chosen under a jump
    of ``select_parameter`` by ``select_shift`` (another change than the test scenarios).

    ``every``: the drifting parameter is sampled every ``every`` queries (a staircase; 1 is
    the continuous drift). A coarse staircase is only a compute economy, and it biases the
    measurement: with steps a multiple of ``eval_every`` apart, every evaluation meets a
    step that no update has seen. The optics uses 1: re-mixing the transmission matrix costs
    about 2 ms per change, and a deployment with ``every=1`` took as long as with 500. The
    microwave cavities recompute their coupling matrices on every change (about 0.1 s per
    cavity, against 15 ms for measuring a batch of 32): ``every=50`` (a step about every
    1.5 served batches) adds about a quarter to a deployment, ``every=1`` about 80 %.
    """

    name: str
    parameter: str
    shift: float
    drift: float
    select_parameter: str
    select_shift: float
    noise: float = 0.5
    dead_fraction: float = 0.25
    horizon: int = 16000
    eval_every: int = 250
    onset: int = 4000
    every: int = 1
    splits: int = 6
    phyll_lr: float = 1e-3
    phyll_epochs: int = 200
    inner_steps: int = 10
    bp_lr: float = 3e-3
    bp_epochs: int = 200
    twin_queries: int = 5000
    twin_epochs: int = 150
    refit: TwinRefit = field(default_factory=TwinRefit)
    retrain_epochs: int = 50
    n_train: int = 0  # fashion: training images per split
    n_test: int = 0  # fashion: test images per split
    train_batch: int = 32
    select_splits: int = 3  # 0: no selection, the defaults below
    candidates: tuple | None = None  # online candidates compared (None: _GENERAL)
    pat_divisors: tuple = (3, 10, 30)  # PAT deployment lr = bp_lr / d, compared
    scenarios: tuple = SCENARIOS
    extras: bool = False  # ablation on test + Forward-Forward / local readout


def split_seeds(spec: TaskSpec, cfg: Config) -> list[int]:
    """The data splits (seeds) a task runs on: ``cfg.n_seeds`` or the task's own count."""
    return list(range(cfg.seed, cfg.seed + (cfg.n_seeds or spec.splits)))


def task_specs(quick: bool) -> dict[str, TaskSpec]:
    """The three tasks, full or quick."""
    specs = {
        "vowels-acoustic": TaskSpec(
            "vowels-acoustic", parameter="input_gain", shift=-0.4, drift=-0.5,
            select_parameter="output_gain", select_shift=-0.5, select_splits=6,
            extras=True),
        "vowels-microwave": TaskSpec(
            "vowels-microwave", parameter="detuning", shift=0.02, drift=0.02,
            select_parameter="detuning", select_shift=-0.02, horizon=2000, eval_every=250,
            onset=500, every=50, phyll_lr=3e-3, phyll_epochs=60, bp_epochs=60,
            twin_queries=3000, twin_epochs=100, select_splits=1, candidates=_CHEAP,
            pat_divisors=(10, 30), refit=TwinRefit(n_queries=1500, epochs=60),
            retrain_epochs=30),
        "fashion-optics": TaskSpec(
            # selection: a smaller decorrelation (0.6: the validation network loses ~7
            # points, against ~15 at the test's 0.8). An exposure change (tried before) is
            # absorbed within 1000 queries by every candidate, so it could not tell which
            # ones relearn the camera features.
            "fashion-optics", parameter="decorrelation", shift=0.8, drift=0.8,
            select_parameter="decorrelation", select_shift=0.6, horizon=10000, eval_every=1000,
            onset=2000, every=1, splits=2, phyll_lr=1e-3, phyll_epochs=8, inner_steps=5,
            bp_lr=1e-3, bp_epochs=8, twin_queries=5000, twin_epochs=60, select_splits=1,
            candidates=_FASHION, pat_divisors=(10, 30),
            refit=TwinRefit(n_queries=2000, epochs=30), retrain_epochs=2, n_train=20000,
            n_test=2000, train_batch=128),
    }
    if quick:
        few = ("none", "sudden shift")
        specs = {
            "vowels-acoustic": dataclasses.replace(
                specs["vowels-acoustic"], horizon=1000, eval_every=250, onset=500, splits=1,
                select_splits=1, phyll_epochs=20, bp_epochs=20, twin_queries=400,
                twin_epochs=10, refit=TwinRefit(n_queries=200, epochs=5), retrain_epochs=3,
                candidates=("lr/10 + replay",
                            "detector vs deployment error: lr/10 always, lr on alarm"),
                pat_divisors=(10,)),
            "vowels-microwave": dataclasses.replace(
                specs["vowels-microwave"], horizon=64, eval_every=32, onset=32, splits=1,
                phyll_epochs=2, bp_epochs=2, twin_queries=100, twin_epochs=3, every=32,
                refit=TwinRefit(n_queries=50, epochs=3), retrain_epochs=1, scenarios=few,
                select_splits=0, n_test=16),
            "fashion-optics": dataclasses.replace(
                specs["fashion-optics"], horizon=512, eval_every=256, onset=256, splits=1,
                phyll_epochs=1, bp_epochs=1, twin_queries=300, twin_epochs=5,
                refit=TwinRefit(n_queries=200, epochs=5), retrain_epochs=1, n_train=2000,
                n_test=200, scenarios=few, select_splits=0),
        }
    return specs


_CHEAP = ("lr/10 + replay", "lr/100 + replay", "lr/10 + replay, 3x steps",
          "lr/3 + replay + trust region", "detector: idle, lr/10 on alarm",
          "detector: lr/10 always, lr on alarm",
          "detector vs deployment error: lr/10 always, lr on alarm",
          "detector vs deployment error: lr/10 always, lr on alarm, 3 hard negatives")
DEFAULT_ONLINE = "lr/10 + replay"  # when a task skips the selection (quick runs)
# Slower-learning settings with a larger replay batch, compared on the Fashion-MNIST optics
# (where a decorrelated transmission matrix asks the digital layers to relearn much of their
# input mapping); tasks that name no candidates compare the others (_GENERAL).
_SLOW = ("lr/30 + replay", "lr/30 + large replay",
         "detector vs deployment error: lr/100 always, lr/10 on alarm, large replay")
_BURST = ("detector vs deployment error: lr/100 always, 8 updates at lr/3 on alarm",
          "detector vs deployment error: lr/30 always, 8 updates at lr/3 on alarm, averaged",
          "sensitive detector vs deployment error: lr/30 always, 8 updates at lr/3 on alarm, "
          "averaged")
_FASHION = ("lr/100 + replay", *_BURST)


def adapter_candidates(train_lr: float, inner_steps: int = 10) -> dict[str, dict]:
    """Online settings compared on the validation split (``lr`` relative to training's,
    ``inner_steps`` training's optimizer steps per batch)."""
    replay = {"replay": 128, "replay_batch": 32}
    alarm = {"replay": 128, "replay_batch": 64, "detector": True}
    large = {"replay": 512, "replay_batch": 128}
    burst = {"replay": 4096, "replay_batch": 96, "detector": "reference", "alarm_updates": 8}
    return {
        "training lr, no safeguard": {"lr": train_lr},
        "lr/10": {"lr": train_lr / 10},
        "lr/10 + replay": {"lr": train_lr / 10, **replay},
        "lr/10 + replay + trust region": {"lr": train_lr / 10, **replay, "trust_region": 0.1},
        "lr/100 + replay": {"lr": train_lr / 100, **replay},
        "lr/30 + replay": {"lr": train_lr / 30, **replay},
        "lr/30 + large replay": {"lr": train_lr / 30, **large},
        "lr/10 + replay, 3x steps": {"lr": train_lr / 10, **replay,
                                     "inner_steps": 3 * inner_steps},
        "lr/3 + replay + trust region": {"lr": train_lr / 3, **replay, "trust_region": 0.2},
        "detector: idle, lr on alarm": {"lr": train_lr, **alarm, "idle_updates": False},
        "detector: idle, lr/10 on alarm": {"lr": train_lr / 10, **alarm,
                                           "idle_updates": False},
        "detector: lr/10 always, lr on alarm": {"lr": train_lr / 10, "alarm_lr": train_lr,
                                                **alarm},
        "detector vs deployment error: lr/10 always, lr on alarm": {
            "lr": train_lr / 10, "alarm_lr": train_lr, **alarm, "detector": "reference"},
        # goodness learners only (PhyLL, Forward-Forward): each update trains every block
        # against its hardest of 3 wrong labels (OnlineAdapter(negatives=3))
        "detector vs deployment error: lr/10 always, lr on alarm, 3 hard negatives": {
            "lr": train_lr / 10, "alarm_lr": train_lr, **alarm, "detector": "reference",
            "negatives": 3},
        "detector vs deployment error: idle, lr on alarm, 3 hard negatives": {
            "lr": train_lr, **alarm, "idle_updates": False, "detector": "reference",
            "negatives": 3},
        "detector vs deployment error: idle, lr on alarm, 3x steps": {
            "lr": train_lr, **alarm, "idle_updates": False, "detector": "reference",
            "inner_steps": 3 * inner_steps},
        "detector vs deployment error: lr/100 always, lr/10 on alarm, large replay": {
            "lr": train_lr / 100, "alarm_lr": train_lr / 10, **large, "detector": "reference"},
        # a burst of relearning while the detector says the network is off: 8 updates per
        # served batch (7 of them on samples drawn from a buffer of 4096), then back to idle
        "detector vs deployment error: lr/100 always, 8 updates at lr/3 on alarm": {
            "lr": train_lr / 100, "alarm_lr": train_lr / 3, **burst},
        "detector vs deployment error: lr/30 always, 8 updates at lr/3 on alarm, averaged": {
            "lr": train_lr / 30, "alarm_lr": train_lr / 3, **burst, "average": 0.9},
        # the same with half the detector's allowance (k = 0.25 sigma): alarms on smaller
        # rises of the error rate, sooner under a slow drift, at the risk of false alarms
        "sensitive detector vs deployment error: lr/30 always, 8 updates at lr/3 on alarm, "
        "averaged": {"lr": train_lr / 30, "alarm_lr": train_lr / 3, **burst, "average": 0.9,
                     "detector_k": 0.25},
    }


_GENERAL = tuple(c for c in adapter_candidates(1.0) if c not in _SLOW)


def task_candidates(spec: TaskSpec, train_lr: float, learner: str = "PhyLL"
                    ) -> dict[str, dict]:
    """The online candidates ``spec`` compares (``spec.candidates``, or all but ``_SLOW``)
    for ``learner`` (hard negatives only for the goodness learners)."""
    cands = adapter_candidates(train_lr, spec.inner_steps)
    names = spec.candidates if spec.candidates is not None else _GENERAL
    return {c: cands[c] for c in names
            if learner != "local readout" or "negatives" not in cands[c]}


def make_adapter(learner, settings: dict, name: str = "online PhyLL",
                 net: pn.PhysicalNetwork | None = None, stream: tuple | None = None
                 ) -> OnlineAdapter:
    """An :class:`~physnn.robustness.OnlineAdapter` of ``learner`` with a candidate's
    ``settings``: ``detector=True`` adds a fresh :class:`~physnn.robustness.ChangeDetector`
    that learns its reference from the first served batches; ``detector="reference"`` one
    that compares with the error rate of the trained ``net`` on the ``stream`` measured
    before deployment, and keeps that reference after every alarm (``rebase=False``)."""
    kw = dict(settings)
    det = kw.pop("detector", False)
    dkw = {"k": kw.pop("detector_k")} if "detector_k" in kw else {}
    if det == "reference":
        if net is None or stream is None:
            raise ValueError(f"candidate {name!r} needs the trained net and the stream")
        x, y = stream
        kw["detector"] = ChangeDetector(reference=float(np.mean(net.predict(x) != y)),
                                        rebase=False, **dkw)
    elif det:
        kw["detector"] = ChangeDetector(**dkw)
    return OnlineAdapter(learner, name=name, **kw)


# ----------------------------------------------------------------------------- data and nets


def _vowel_split(seed: int, width: int, select: bool):
    from sklearn.model_selection import train_test_split

    from physnn.data import load_formants

    x, y, _ = load_formants()
    tr, te = train_test_split(np.arange(len(y)), test_size=0.2, stratify=y, random_state=seed)
    if select:  # validation carved from the training split; the test split is not touched
        tr, te = train_test_split(tr, test_size=0.25, stratify=y[tr], random_state=seed)
    a, b = prepare(x[tr], x[te], width)
    return a, y[tr], b, y[te]


def _fashion_split(spec: TaskSpec, seed: int, width_overlay: bool, select: bool):
    from physnn.data import load_fashion_mnist

    split = load_fashion_mnist(flatten=True)
    rng = np.random.default_rng(1000 + seed)
    tr = rng.permutation(60000)[:spec.n_train]
    if select:
        cut = len(tr) * 3 // 4
        return (split.x_train[tr[:cut]], split.y_train[tr[:cut]],
                split.x_train[tr[cut:]][:spec.n_test], split.y_train[tr[cut:]][:spec.n_test])
    te = rng.permutation(10000)[:spec.n_test]
    return split.x_train[tr], split.y_train[tr], split.x_test[te], split.y_test[te]


def data(spec: TaskSpec, seed: int, kind: str, select: bool = False):
    """``(x_train, y_train, x_test, y_test)``; ``kind`` "overlay" (PhyLL: the network adds
    the label) or "plain" (backprop baselines)."""
    if spec.name.startswith("vowels"):
        out = _vowel_split(seed, 13 if kind == "overlay" else 20, select)
        if spec.n_test:  # a subset of the test split (quick runs)
            out = (*out[:2], out[2][:spec.n_test], out[3][:spec.n_test])
        return out
    return _fashion_split(spec, seed, kind == "overlay", select)


def hardware(spec: TaskSpec, block: int, n_in: int | None = None):
    """The physical layer of block ``block`` of the task (``n_in`` inputs for the optics)."""
    if spec.name == "vowels-acoustic":
        from hardware_models import AcousticCavity

        return AcousticCavity.from_measurements(seed=0)
    if spec.name == "vowels-microwave":
        from hardware_models.microwave import MicrowaveCavity

        return MicrowaveCavity(in_features=20, seed=block)
    from hardware_models import OpticalSpeckle

    return OpticalSpeckle(n_in, camera_shape=(20, 20), seed=block + 1)


def network(spec: TaskSpec, kind: str) -> pn.PhysicalNetwork:
    """PhyLL's network (``kind="overlay"``) or the backprop baselines' (last block: logits)."""
    if spec.name.startswith("vowels"):
        n = 2 if spec.name == "vowels-acoustic" else 3
        outs = [20] * n if kind == "overlay" else [20] * (n - 1) + [7]
        return pn.PhysicalNetwork([pn.Block(hardware(spec, i), pn.Linear(40, o),
                                            encode=abs_max_scale)
                                   for i, o in enumerate(outs)])
    n_in = 794 if kind == "overlay" else 784
    last = 100 if kind == "overlay" else 10
    return pn.PhysicalNetwork([
        pn.Block(hardware(spec, 0, n_in), pn.Linear(400 + n_in, 100)),
        pn.Block(hardware(spec, 1, 100), pn.Linear(400 + 100, last), encode=abs_max_scale),
    ])


def train_phyll(spec: TaskSpec, x, y, seed: int, backend: str = "cpu"):
    """A PhyLL network trained on the unperturbed hardware; ``(net, learner)``."""
    learner = pn.learning.PhyLL(alpha=4.0, inner_steps=spec.inner_steps,
                                optimizer=pn.optim.Adam(spec.phyll_lr), backend=backend)
    net = network(spec, "overlay")
    learner.fit(net, x, y, epochs=spec.phyll_epochs, batch_size=spec.train_batch,
                rng=np.random.default_rng(seed), progress=False,
                lr_schedule="cosine" if spec.name == "fashion-optics" else "constant")
    return net, learner


OTHER_LEARNERS = ("Forward-Forward", "local readout")


def learner_kind(name: str) -> str:
    """The data a local learner reads: "overlay" (the network adds the label) or "plain"."""
    return "plain" if name == "local readout" else "overlay"


def learner_lr(spec: TaskSpec, name: str) -> float:
    """Training learning rate of the local learner ``name``."""
    return spec.phyll_lr if name == "PhyLL" else 3e-3


def train_local(spec: TaskSpec, name: str, x, y, seed: int, backend: str = "cpu"):
    """A network trained with ``name`` ("PhyLL", "Forward-Forward" or "local readout") on
    the unperturbed hardware; ``(net, learner)``."""
    if name == "PhyLL":
        return train_phyll(spec, x, y, seed, backend)
    if name == "Forward-Forward":
        learner = pn.learning.ForwardForward(theta=2.0, inner_steps=10,
                                             optimizer=pn.optim.Adam(3e-3), backend=backend)
    elif name == "local readout":
        learner = pn.learning.LocalReadout(inner_steps=10, optimizer=pn.optim.Adam(3e-3),
                                           backend=backend)
    else:
        raise ValueError(f"unknown learner {name!r}")
    net = network(spec, "overlay")
    learner.fit(net, x, y, epochs=spec.phyll_epochs, batch_size=32,
                rng=np.random.default_rng(seed), progress=False)
    return net, learner


def fit_twins(spec: TaskSpec, seed: int):
    """Digital twins of every block of the backprop baselines' network, fitted on the
    unperturbed hardware from ``spec.twin_queries`` random queries each."""
    from physnn.learning.baselines import fit_twin

    rng = np.random.default_rng(5000 + seed)
    net = network(spec, "plain")
    return [fit_twin(b.physical, n_queries=spec.twin_queries, rng=rng,
                     epochs=spec.twin_epochs) for b in net.blocks]


def train_backprop(spec: TaskSpec, mode: str, twins, x, y, seed: int):
    """A network trained by physics-aware (``mode="physics_aware"``) or in-silico training
    through ``twins``."""
    from physnn.learning.baselines import BackpropBaseline

    net = network(spec, "plain")
    BackpropBaseline(mode, twins=twins, lr=spec.bp_lr).fit(
        net, x, y, epochs=spec.bp_epochs, batch_size=spec.train_batch,
        rng=np.random.default_rng(seed))
    return net


def output_std(spec: TaskSpec) -> float:
    """Standard deviation of the first block's outputs on uniform random inputs."""
    layer = network(spec, "plain").blocks[0].physical
    u = np.random.default_rng(0).random((256, layer.in_features)).astype(np.float32)
    return float(layer.forward(u).std())


def scenarios(spec: TaskSpec, out_std: float, select: bool = False) -> dict[str, Scenario]:
    """The test scenarios of the task (``out_std``: the hardware's output spread, which
    scales the growing noise), or with ``select`` the validation scenarios used to choose
    the deployment settings (another parameter, sign or size than the test's)."""
    h, on = spec.horizon, spec.onset
    if select:
        return {"none": Scenario("none"),
                "selection shift": Scenario("selection shift", [ParameterDrift(
                    spec.select_parameter, at_query=on, shift=spec.select_shift)]),
                "selection drift": Scenario("selection drift", [ParameterDrift(
                    spec.select_parameter, schedule=Ramp(0, h, to=spec.select_shift),
                    every=spec.every)])}
    return {
        "none": Scenario("none"),
        "slow drift": Scenario("slow drift", [ParameterDrift(
            spec.parameter, schedule=Ramp(0, h, to=spec.drift), every=spec.every)]),
        "sudden shift": Scenario("sudden shift", [ParameterDrift(
            spec.parameter, at_query=on, shift=spec.shift)]),
        "growing noise": Scenario("growing noise", [AdditiveNoise(
            Ramp(on, h, to=spec.noise * out_std))]),
        "dying channels": Scenario("dying channels", [DeadChannels(
            fraction=spec.dead_fraction, start=on)]),
    }


# ----------------------------------------------------------------------------- running


def deployment(net, x, y, scen, method, spec: TaskSpec, cfg: Config, stream,
               seed: int) -> RobustnessReport:
    """:func:`~physnn.robustness.evaluate_under` of ``net`` deployed under ``scen`` with
    ``method`` (a learning method is fed the ``stream``); the report without the network."""
    learns = not isinstance(method, Frozen)
    r = evaluate_under(net, x, y, scen, method=method, stream=stream if learns else None,
                       horizon=spec.horizon, eval_every=spec.eval_every,
                       batch_size=cfg.batch_size, tolerance=cfg.tolerance, rng=seed)
    return dataclasses.replace(r, network=None)  # keep the numbers, not the hardware


def _gap(a: RobustnessReport, b: RobustnessReport) -> float:
    """Largest shortfall of ``a`` below ``b`` over the common instants (points, >= 0 is
    worse)."""
    return float(100 * np.nanmax(b.accuracy - a.accuracy))


def _pick(table: dict, gap_key: str, rank) -> tuple[str, bool]:
    stable = [c for c in table if table[c][gap_key] <= 0.5]
    return min(stable or list(table), key=rank), bool(stable)


def rank_online(table: dict, name: str) -> tuple:
    """Sort key of the online candidate ``name`` in a validation ``table`` (lower is better):
    validation targets missed (no recovery from the selection shift; a drift gap above 2
    points), then the shortfall in points (final accuracy below the pre-shift one, plus the
    drift gap), then the adaptation queries."""
    r = table[name]
    rq = r["validation_shift_recovery_queries"]
    dg = r["validation_drift_worst_gap_vs_drift_free_points"]
    short = max(0.0, -r["validation_shift_final_minus_before_points"]) + dg
    return int(rq is None) + int(dg > 2.0), short, r["validation_adapt_queries"]


def select(spec: TaskSpec, cfg: Config, log, learner: str = "PhyLL") -> dict:
    """Choose the deployment settings on validation splits carved from the training data,
    under no perturbation, a *selection* shift and a *selection* drift (a change of another
    parameter than the test scenarios', or of the opposite sign, or of another size).

    Online ``learner``: among the candidates whose pooled validation accuracy with no perturbation
    never falls more than 0.5 point below the frozen network's, prefer those that recover
    from the selection shift *and* stay within 2 points of their drift-free accuracy under
    the selection drift (fewest of these two validation targets missed), then the smallest
    total shortfall in points (final accuracy below the pre-shift one, plus the drift gap),
    then the fewest adaptation queries. Physics-aware training's deployment learning rate: among
    the stable ones, the highest mean of the final accuracies under the selection shift and
    drift.
    """
    scen = scenarios(spec, 1.0, select=True)
    cands = task_candidates(spec, learner_lr(spec, learner), learner)
    pat_lrs = {f"lr/{d}": spec.bp_lr / d for d in spec.pat_divisors}
    if spec.select_splits == 0:
        log(f"  [{spec.name}] no selection: {DEFAULT_ONLINE!r}, PAT lr/10")
        return {"online": DEFAULT_ONLINE, "pat_lr": spec.bp_lr / 10, "pat_lr_name": "lr/10",
                "note": "not selected (quick run)"}
    reps: dict = {}
    baselines = cfg.baselines and learner == "PhyLL"
    twins = fit_twins(spec, 0) if baselines else None
    for s in range(cfg.seed, cfg.seed + spec.select_splits):
        x, y, xv, yv = data(spec, s, learner_kind(learner), select=True)
        net, lrn = train_local(spec, learner, x, y, s, cfg.device)
        pat = None
        if baselines:
            xp, yp, xpv, _ = data(spec, s, "plain", select=True)
            pat = train_backprop(spec, "physics_aware", twins, xp, yp, s)
        for sn, sc in scen.items():
            reps.setdefault((sn, "frozen"), []).append(
                deployment(net, xv, yv, sc, Frozen(), spec, cfg, (x, y), s))
            for cn, settings in cands.items():
                ada = make_adapter(lrn, settings, cn, net, (x, y))
                reps.setdefault((sn, cn), []).append(deployment(
                    net, xv, yv, sc, ada, spec, cfg, (x, y), s))
            if pat is not None:
                reps.setdefault((sn, "PAT frozen"), []).append(
                    deployment(pat, xpv, yv, sc, Frozen(), spec, cfg, (xp, yp), s))
                for ln, lr in pat_lrs.items():
                    reps.setdefault((sn, f"PAT {ln}"), []).append(deployment(
                        pat, xpv, yv, sc, PhysicsAwareAdapter(twins, lr=lr), spec, cfg,
                        (xp, yp), s))
        log(f"  [{spec.name}] {learner} selection split {s} done")
    pooled = {k: RobustnessReport.pool(v) for k, v in reps.items()}

    def row(name, frozen):
        none, shift = pooled[("none", name)], pooled[("selection shift", name)]
        drift = pooled[("selection drift", name)]
        return {"validation_none_worst_gap_vs_frozen_points": _gap(none, pooled[("none",
                                                                               frozen)]),
                "validation_shift_recovery_queries": shift.recovery_queries,
                "validation_shift_final_accuracy": shift.final_accuracy,
                "validation_shift_final_minus_before_points":
                    100 * (shift.final_accuracy - shift.accuracy_before),
                "validation_drift_worst_gap_vs_drift_free_points": _gap(drift, none),
                "validation_drift_final_accuracy": drift.final_accuracy,
                "validation_adapt_queries": shift.cost["adapt_queries"]}

    gap = "validation_none_worst_gap_vs_frozen_points"
    online = {c: {**row(c, "frozen"), "settings": dict(cands[c])} for c in cands}

    chosen, ok = _pick(online, gap, lambda c: rank_online(online, c))
    out = {"online": chosen, "online_stable_on_validation": ok, "online_table": online,
           "n_validation_pooled": pooled[("none", "frozen")].n_eval,
           "validation_frozen_drop_under_selection_shift_points":
               100 * pooled[("selection shift", "frozen")].max_drop,
           "validation_frozen_drift_gap_points":
               _gap(pooled[("selection drift", "frozen")], pooled[("none", "frozen")])}
    log(f"  [{spec.name}] online {learner} settings: {chosen!r} "
        f"({'stable' if ok else 'least bad'})")
    if baselines:
        pat = {ln: {**row(f"PAT {ln}", "PAT frozen"), "lr": lr} for ln, lr in pat_lrs.items()}
        pick, ok = _pick(pat, gap, lambda c: -(pat[c]["validation_shift_final_accuracy"]
                                               + pat[c]["validation_drift_final_accuracy"]))
        out.update(pat_lr=pat[pick]["lr"], pat_lr_name=pick, pat_stable_on_validation=ok,
                   pat_table=pat)
        log(f"  [{spec.name}] PAT deployment lr: {pick} ({'stable' if ok else 'least bad'})")
    return out


def run_task(spec: TaskSpec, cfg: Config, online: dict, pat_lr: float | None,
             log) -> dict:
    """Every scenario x method on ``spec.splits`` splits; returns the pooled reports."""
    out_std = output_std(spec)
    scen = {k: v for k, v in scenarios(spec, out_std).items() if k in spec.scenarios}
    twins = fit_twins(spec, 0) if cfg.baselines else None
    reps: dict = {}
    for s in split_seeds(spec, cfg):
        x, y, xt, yt = data(spec, s, "overlay")
        net, learner = train_phyll(spec, x, y, s, cfg.device)
        clean = float(np.mean(net.predict(xt) == yt))
        methods = [("frozen (PhyLL)", net, Frozen("frozen (PhyLL)"), (x, y), xt),
                   ("online PhyLL", net, make_adapter(learner, online, net=net, stream=(x, y)),
                    (x, y), xt)]
        if cfg.baselines:
            xp, yp, xpt, _ = data(spec, s, "plain")
            pat = train_backprop(spec, "physics_aware", twins, xp, yp, s)
            sil = train_backprop(spec, "in_silico", twins, xp, yp, s)
            methods += [
                ("PAT, stale twin", pat, PhysicsAwareAdapter(twins, lr=pat_lr,
                                                             name="PAT, stale twin"),
                 (xp, yp), xpt),
                ("PAT, refitted twin", pat, PhysicsAwareAdapter(
                    twins, lr=pat_lr, refit=spec.refit, name="PAT, refitted twin"),
                 (xp, yp), xpt),
                ("in-silico, stale twin", sil, Frozen("in-silico, stale twin"), (xp, yp), xpt),
                ("in-silico, refitted twin", sil, PhysicsAwareAdapter(
                    twins, mode="in_silico", lr=spec.bp_lr, refit=spec.refit,
                    train_data=(xp, yp), retrain_epochs=spec.retrain_epochs,
                    batch_size=spec.train_batch, name="in-silico, refitted twin"),
                 (xp, yp), xpt),
            ]
        for sn, sc in scen.items():
            for mn, mnet, meth, stream, xe in methods:
                t0 = time.perf_counter()
                r = deployment(mnet, xe, yt, sc, meth, spec, cfg, stream, s)
                reps.setdefault((sn, mn), []).append(r)
                log(f"  [{spec.name}] split {s} {sn:15s} {mn:26s} final "
                    f"{100 * r.final_accuracy:5.1f} %  worst {100 * r.worst_accuracy:5.1f} %  "
                    f"({time.perf_counter() - t0:.0f} s)")
        log(f"  [{spec.name}] split {s}: clean PhyLL test accuracy {100 * clean:.1f} %")
    return {"reports": reps, "splits": len(split_seeds(spec, cfg)), "out_std": out_std,
            "twin_r2": [t.r2 for t in twins] if twins else None}


def extra_learners(spec: TaskSpec, cfg: Config, log, online: dict) -> dict:
    """Online Forward-Forward and local readout, each with the settings chosen for it on
    validation (``online``: learner -> candidate name, learning rates relative to each
    learner's training lr): no perturbation and the sudden shift."""
    scen = {k: v for k, v in scenarios(spec, 1.0).items() if k in ("none", "sudden shift")}
    reps: dict = {}
    for s in split_seeds(spec, cfg):
        for ln in OTHER_LEARNERS:
            x, y, xt, yt = data(spec, s, learner_kind(ln))
            net, learner = train_local(spec, ln, x, y, s, cfg.device)
            settings = adapter_candidates(learner_lr(spec, ln), spec.inner_steps)[online[ln]]
            for sn, sc in scen.items():
                reps.setdefault((sn, f"frozen ({ln})"), []).append(
                    deployment(net, xt, yt, sc, Frozen(), spec, cfg, (x, y), s))
                ada = make_adapter(learner, settings, f"online {ln}", net, (x, y))
                reps.setdefault((sn, f"online {ln}"), []).append(deployment(
                    net, xt, yt, sc, ada, spec, cfg, (x, y), s))
        log(f"  [{spec.name}] FF / local readout split {s} done")
    return reps


def ablation(spec: TaskSpec, cfg: Config, log) -> dict:
    """Every online candidate on the test splits (reported; the choice was made on
    validation): no perturbation and the sudden shift."""
    scen = {k: v for k, v in scenarios(spec, 1.0).items() if k in ("none", "sudden shift")}
    reps: dict = {}
    for s in split_seeds(spec, cfg):
        x, y, xt, yt = data(spec, s, "overlay")
        net, learner = train_phyll(spec, x, y, s, cfg.device)
        for sn, sc in scen.items():
            reps.setdefault((sn, "frozen"), []).append(
                deployment(net, xt, yt, sc, Frozen(), spec, cfg, (x, y), s))
            for cn, settings in task_candidates(spec, spec.phyll_lr).items():
                reps.setdefault((sn, cn), []).append(deployment(
                    net, xt, yt, sc, make_adapter(learner, settings, cn, net, (x, y)), spec, cfg,
                    (x, y), s))
        log(f"  [{spec.name}] ablation split {s} done")
    return reps


# ----------------------------------------------------------------------------- numbers


def summarize(reps: dict) -> dict:
    """Pooled report numbers per scenario and method."""
    pooled = {k: RobustnessReport.pool(v) for k, v in reps.items()}
    out: dict = {}
    for (sn, mn), p in pooled.items():
        finals = [r.final_accuracy for r in reps[(sn, mn)]]
        out.setdefault(sn, {})[mn] = {
            "pooled": p.to_dict(),
            "final_accuracy_per_split": mean_std(finals),
            "worst_accuracy": p.worst_accuracy, "accuracy_before": p.accuracy_before,
            "final_accuracy": p.final_accuracy, "max_drop_points": 100 * p.max_drop,
            "recovery_queries": p.recovery_queries, "recovery_cost_queries": p.recovery_cost,
            "adapt_queries": p.cost["adapt_queries"], "serve_queries": p.cost["serve_queries"],
            "adapt_macs": p.cost["adapt_macs"], "serve_macs": p.cost["serve_macs"],
            "nonfinite": p.nonfinite, "faults": len(p.faults), "n_test_pooled": p.n_eval,
        }
    return out, pooled


def _per_split(reps: dict, a: tuple, b: tuple, how) -> dict | None:
    """``mean_std`` over the splits of ``how(report_a, report_b)`` (``None`` if missing)."""
    if a not in reps or b not in reps:
        return None
    return mean_std([how(ra, rb) for ra, rb in zip(reps[a], reps[b], strict=True)])


def targets(pooled: dict, reps: dict) -> dict:
    """The issue's targets, computed from the pooled curves (and, under ``per_split``, the
    same numbers split by split as mean ± std)."""
    t: dict = {}
    per: dict = {}

    def get(s, m):
        return pooled.get((s, m))

    on, fr = get("none", "online PhyLL"), get("none", "frozen (PhyLL)")
    if on and fr:
        t["no_perturbation_online_worst_gap_vs_frozen_points"] = _gap(on, fr)
        t["no_perturbation_online_mean_minus_frozen_points"] = float(
            100 * np.nanmean(on.accuracy - fr.accuracy))
        per["no_perturbation_online_worst_gap_vs_frozen_points"] = _per_split(
            reps, ("none", "online PhyLL"), ("none", "frozen (PhyLL)"), _gap)
    sh = get("sudden shift", "frozen (PhyLL)")
    if sh:
        t["shift_frozen_drop_points"] = 100 * sh.max_drop
        for m in ("online PhyLL", "PAT, stale twin", "PAT, refitted twin",
                  "in-silico, stale twin", "in-silico, refitted twin"):
            r = get("sudden shift", m)
            if r:
                t[f"shift_{m}_recovery_queries"] = r.recovery_queries
                t[f"shift_{m}_recovery_cost_queries"] = r.recovery_cost
                t[f"shift_{m}_final_minus_before_points"] = 100 * (r.final_accuracy
                                                                   - r.accuracy_before)
                per[f"shift_{m}_final_minus_before_points"] = mean_std(
                    [100 * (x.final_accuracy - x.accuracy_before)
                     for x in reps[("sudden shift", m)]])
    for m in ("online PhyLL", "PAT, stale twin", "PAT, refitted twin", "frozen (PhyLL)",
              "in-silico, stale twin", "in-silico, refitted twin"):
        d, n = get("slow drift", m), get("none", m)
        if d and n:
            t[f"drift_{m}_worst_gap_vs_drift_free_points"] = _gap(d, n)
            per[f"drift_{m}_worst_gap_vs_drift_free_points"] = _per_split(
                reps, ("slow drift", m), ("none", m), _gap)
    t["any_nonfinite"] = any(r.nonfinite for r in pooled.values())
    t["per_split"] = {k: v for k, v in per.items() if v is not None}
    return t


def _split_text(t: dict, key: str) -> str:
    ms = t["per_split"].get(key)
    return "" if ms is None else f"; per split {ms['mean']:.1f} ± {ms['std']:.1f}"


def claim_text(results: dict) -> str:
    """The sentence each task's numbers support, computed from its targets."""
    parts = []
    for task, res in results.items():
        t = res["targets"]
        n = res["n_test_pooled"]
        s = [f"{task} (pooled test set of {n}, {res['splits']} split(s))"]
        if "no_perturbation_online_worst_gap_vs_frozen_points" in t:
            g = t["no_perturbation_online_worst_gap_vs_frozen_points"]
            s.append(f"with no perturbation online PhyLL is at worst {g:.1f} points below "
                     f"frozen ({'within' if g <= 1.0 else 'OUTSIDE'} the 1-point target"
                     f"{_split_text(t, 'no_perturbation_online_worst_gap_vs_frozen_points')})")
        if "shift_frozen_drop_points" in t:
            rq = t.get("shift_online PhyLL_recovery_queries")
            s.append(f"the sudden shift drops frozen accuracy {t['shift_frozen_drop_points']:.1f}"
                     " points; online PhyLL " + (
                         f"is back within 1 point after {rq} served queries (adaptation cost "
                         f"{t.get('shift_online PhyLL_recovery_cost_queries')} physical queries)"
                         if rq is not None else "does NOT come back within 1 point"))
            for m in ("PAT, refitted twin", "in-silico, refitted twin"):
                if f"shift_{m}_recovery_queries" in t:
                    q = t[f"shift_{m}_recovery_queries"]
                    s.append(f"{m}: " + (f"back after {q} served queries, cost "
                                         f"{t[f'shift_{m}_recovery_cost_queries']} queries"
                                         if q is not None else "not back within 1 point"))
        key = "drift_online PhyLL_worst_gap_vs_drift_free_points"
        if key in t:
            g = t[key]
            s.append(f"under slow drift online PhyLL is at worst {g:.1f} points below its "
                     f"drift-free accuracy ({'within' if g <= 2.0 else 'OUTSIDE'} the 2-point "
                     f"target{_split_text(t, key)})")
            p = t.get("drift_PAT, stale twin_worst_gap_vs_drift_free_points")
            if p is not None:
                s.append(f"PAT with a stale twin: {p:.1f} points" + (
                    " (it falls behind online PhyLL)" if p > g else
                    " (it does NOT fall behind online PhyLL here)"))
        s.append("no non-finite value" if not t["any_nonfinite"] else "NON-FINITE values seen")
        parts.append("; ".join(s))
    return ". ".join(parts) + "."


# ----------------------------------------------------------------------------- figure


def figure(results: dict):
    """Pooled accuracy over queries: one row per task, one column per scenario."""
    plt = pyplot()
    tasks = list(results)
    fig, axes = plt.subplots(len(tasks), len(SCENARIOS), figsize=(4.2 * len(SCENARIOS),
                                                                  3.3 * len(tasks)),
                             squeeze=False, layout="constrained")
    colors = {"frozen (PhyLL)": "k", "online PhyLL": "C0", "PAT, stale twin": "C1",
              "PAT, refitted twin": "C3", "in-silico, stale twin": "C2",
              "in-silico, refitted twin": "C4"}
    for i, task in enumerate(tasks):
        pooled = results[task]["_pooled"]
        for j, sn in enumerate(SCENARIOS):
            ax = axes[i, j]
            if not any(k[0] == sn for k in pooled):
                ax.axis("off")
                continue
            for mn, c in colors.items():
                r = pooled.get((sn, mn))
                if r is not None:
                    r.plot(ax=ax, label=mn, color=c)
            ax.set_title(f"{task}: {sn}", fontsize=9)
            if i == 0 and j == 0:
                ax.legend(fontsize=6, loc="lower left")
    return fig


# ----------------------------------------------------------------------------- main


def run_one_task(spec: TaskSpec, cfg: Config, log) -> dict:
    """Selection on validation, then every scenario x method on the test splits (and, for
    tasks with ``extras``, the ablation and the other learners); JSON-ready numbers plus the
    pooled reports under ``"_pooled"``."""
    sel = select(spec, cfg, log)
    settings = dict(adapter_candidates(spec.phyll_lr, spec.inner_steps)[sel["online"]])
    res = run_task(spec, cfg, settings, sel.get("pat_lr"), log)
    metrics, pooled = summarize(res["reports"])
    entry = {"splits": res["splits"], "scenarios": metrics, "_pooled": pooled,
             "online_settings": {"name": sel["online"], **settings},
             "pat_deployment_lr": sel.get("pat_lr"),
             "selection_on_validation": {k: v for k, v in sel.items()},
             "hardware_output_std": res["out_std"], "twin_r2": res["twin_r2"],
             "n_test_pooled": next(iter(pooled.values())).n_eval,
             "targets": targets(pooled, res["reports"])}

    def strip(d):
        return {sn: {m: {k: v for k, v in x.items() if k != "pooled"} for m, x in by.items()}
                for sn, by in d.items()}

    if spec.extras and cfg.extras:
        abl, abl_pooled = summarize(ablation(spec, cfg, log))
        entry["ablation_on_test"] = strip(abl)
        entry["ablation_on_test"]["no-perturbation worst gap vs frozen points"] = {
            c: _gap(abl_pooled[("none", c)], abl_pooled[("none", "frozen")])
            for c in task_candidates(spec, spec.phyll_lr)}
        other = {ln: select(spec, cfg, log, learner=ln) for ln in OTHER_LEARNERS}
        ext, ext_pooled = summarize(extra_learners(
            spec, cfg, log, {ln: o["online"] for ln, o in other.items()}))
        entry["other_learners"] = strip(ext)
        entry["other_learners"]["online settings chosen on validation"] = {
            ln: o["online"] for ln, o in other.items()}
        entry["other_learners"]["selection_on_validation"] = other
        entry["other_learners"]["no-perturbation worst gap vs frozen points"] = {
            ln: _gap(ext_pooled[("none", f"online {ln}")], ext_pooled[("none", f"frozen ({ln})")])
            for ln in ("Forward-Forward", "local readout")}
    return entry


def run(cfg: Config, ctx: RunContext) -> Result:
    """Run the study with ``cfg`` (see the module docstring); nothing is written."""
    if cfg.baselines:
        import torch

        torch.set_num_threads(1)  # small matrices: worker threads only add overhead
    specs = task_specs(cfg.quick)
    results: dict = {}
    timings: dict = {}
    for task in cfg.tasks:
        t0 = time.perf_counter()
        results[task] = run_one_task(specs[task], cfg, ctx.log.info)
        timings[task] = {"wall_s": time.perf_counter() - t0}
        ctx.log.info("%s: %s", task, results[task]["targets"])
    claim = claim_text(results)
    fig = figure(results)
    metrics = {task: {k: v for k, v in r.items() if k != "_pooled"} for task, r in
               results.items()}
    setup = {"specs": {t: _jsonable(dataclasses.asdict(specs[t])) for t in cfg.tasks},
             "stream": (f"the training split resampled in shuffled passes, {cfg.batch_size} "
                        "samples a served batch"),
             "notes": ("Recovery = served queries from the onset until the pooled accuracy "
                       "is back within the tolerance of its pre-onset mean and stays there. "
                       "fashion-optics is a subset (see specs) with a 20 x 20 camera; twins "
                       "are fitted once per task on the unperturbed hardware and shared by "
                       "the splits; the online settings and PAT's deployment lr are chosen "
                       "per task on validation splits carved from the training data, under "
                       "a selection shift that is not one of the test scenarios.")}
    return Result(claim=claim, metrics=metrics, figure=fig, timings=timings, setup=setup)


def _jsonable(v):
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_jsonable(x) for x in v]
    return v
