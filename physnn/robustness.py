r"""Perturbation-robustness testing of a deployed physical network.

A trained :class:`~physnn.PhysicalNetwork` is *deployed*: copied, its physical layers wrapped
in :class:`~physnn.Perturbed` layers that follow a :class:`Scenario` (a drift, a sudden shift,
growing noise, channels dying ...). It then serves a stream of batches while a
:class:`Deployment` method either leaves it alone (:class:`Frozen`) or keeps training it from
the live measurements (:class:`OnlineAdapter` for PhyLL / Forward-Forward / LocalReadout,
:class:`PhysicsAwareAdapter` for twin-based training). At regular instants the harness
measures the accuracy on a held-out set *as of that instant* (:func:`physnn.perturb.probe`:
evaluation does not move the deployment's clock), and :func:`evaluate_under` returns a
:class:`RobustnessReport`: accuracy over queries, before the perturbation, worst and final,
the recovery time, whether anything went non-finite, every fault with the failing layer's
name, and what was spent in physical queries and digital multiply-accumulates (MACs).
:func:`assert_robust` turns a report into a pytest assertion.

Time is counted in samples served (the deployment clock of :mod:`physnn.perturb`): each
stream batch of ``B`` samples advances it by ``B``, whatever the method spends on the
measurements of its own updates (those happen inside :func:`physnn.perturb.hold`, at the
current instant, and are reported as cost).

Example::

    report = evaluate_under(net, x_test, y_test,
                            Scenario("shift", [ParameterDrift("exposure", at_query=2000,
                                                              shift=-0.5)]),
                            method=OnlineAdapter(learner), stream=(x_train, y_train),
                            horizon=8000, eval_every=500)
    assert_robust(report, max_drop=0.15, recover_within=4000)
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .layers import LinearParams
from .nets import PhysicalLayerError, PhysicalNetwork
from .perturb import Perturbation, Perturbed, hold, perturbed_layers, probe
from .readouts import GoodnessReadout, HeadReadout

__all__ = [
    "ChangeDetector",
    "Deployment",
    "Fault",
    "Frozen",
    "OnlineAdapter",
    "PhysicsAwareAdapter",
    "RobustnessReport",
    "Scenario",
    "Served",
    "TwinRefit",
    "assert_robust",
    "deploy",
    "evaluate_under",
    "unwrap",
]


def _int(name: str, v: Any, minimum: int = 0) -> int:
    if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {v!r}")
    return int(v)


def _positive(name: str, v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float | np.integer | np.floating) \
            or not math.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {v!r}")
    return float(v)


def _fraction(name: str, v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float | np.integer | np.floating) \
            or not (0 <= v <= 1):
        raise ValueError(f"{name} must be a fraction in [0, 1] (0.01 = 1 point), got {v!r}")
    return float(v)


# ----------------------------------------------------------------------------- scenarios


@dataclass(frozen=True)
class Scenario:
    """What happens to the hardware during a deployment.

    Every perturbed block gets its own :class:`~physnn.Perturbed` wrapper with these
    perturbations and the seed ``seed * 1000 + block index`` (so random choices such as
    which channels die differ between blocks but replay exactly).

    Parameters
    ----------
    name : str
    perturbations : sequence of Perturbation
        Applied to the physical layer of every perturbed block (empty: no perturbation).
    blocks : sequence of int, optional
        Indices of the blocks to perturb (all by default).
    seed : int, default 0
    """

    name: str
    perturbations: tuple = ()
    blocks: tuple | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name must be a non-empty str, got {self.name!r}")
        perts = tuple(self.perturbations)
        for p in perts:
            if not isinstance(p, Perturbation):
                raise TypeError(f"perturbations must be physnn.perturb Perturbation objects, "
                                f"got {p!r}")
        object.__setattr__(self, "perturbations", perts)
        if self.blocks is not None:
            object.__setattr__(self, "blocks", tuple(_int("blocks[i]", b) for b in self.blocks))
        object.__setattr__(self, "seed", _int("seed", self.seed))

    @property
    def onset(self) -> int | None:
        """First query at which any perturbation acts (``None``: none ever does)."""
        on = [p.onset for p in self.perturbations if p.onset is not None]
        return min(on) if on else None

    def wrap(self, net: PhysicalNetwork) -> PhysicalNetwork:
        """Wrap the physical layers of ``net`` in place; returns ``net``."""
        if self.blocks is not None:
            bad = [b for b in self.blocks if b >= len(net.blocks)]
            if bad:
                raise ValueError(f"scenario {self.name!r} perturbs blocks {bad}, the network "
                                 f"has {len(net.blocks)}")
        if not self.perturbations:
            return net
        for i, blk in enumerate(net.blocks):
            if self.blocks is None or i in self.blocks:
                blk.physical = Perturbed(blk.physical, *self.perturbations,
                                         seed=self.seed * 1000 + i)
        return net


def deploy(net: PhysicalNetwork, scenario: Scenario | None = None, *,
           copy_net: bool = True) -> PhysicalNetwork:
    """A deployment of ``net``: a copy (same ``uid``, so a learner's training state still
    belongs to it) whose physical layers follow ``scenario``.

    Simulated hardware is copied with the network (a parameter drift then never touches
    the original); the drivers of real instruments (a :class:`~physnn.CallableLayer`'s
    ``fn``) are shared, not copied: there is one instrument.
    """
    if not isinstance(net, PhysicalNetwork):
        raise TypeError(f"net must be a physnn.PhysicalNetwork, got {type(net).__name__}")
    out = net
    if copy_net:
        from .physical import CallableLayer

        memo: dict[int, Any] = {}
        for blk in net.blocks:
            phys = blk.physical
            while isinstance(phys, Perturbed):
                phys = phys.layer
            if isinstance(phys, CallableLayer):
                memo[id(phys.fn)] = phys.fn
        out = copy.deepcopy(net, memo)
    return scenario.wrap(out) if scenario is not None else out


def unwrap(net: PhysicalNetwork) -> PhysicalNetwork:
    """The same model on the unperturbed hardware: a network that shares ``net``'s digital
    layers and readout, with every :class:`~physnn.Perturbed` layer replaced by the layer
    it wraps (e.g. to save an adapted network without its scenario)."""
    from .nets import Block

    blocks = []
    for b in net.blocks:
        phys = b.physical
        while isinstance(phys, Perturbed):
            phys = phys.layer
        blocks.append(Block(phys, b.digital, skip=b.skip, encode=b.encode))
    out = PhysicalNetwork(blocks)
    out.uid = net.uid
    out.readout = net.readout
    return out


# ----------------------------------------------------------------------------- methods


@dataclass(frozen=True)
class Served:
    """What serving one batch produced: the predictions and the scores behind them
    (goodness sums or logits, shape (B, K); what a change detector may watch)."""

    predictions: np.ndarray
    scores: np.ndarray | None = None
    measurements: tuple = ()


def _chain_logits(net: PhysicalNetwork, x: np.ndarray, rng: np.random.Generator | None,
                  keep: bool = False) -> tuple[np.ndarray, tuple]:
    """Outputs of the last block when every block reads the previous block's output (the
    backprop baselines' network); with ``keep`` also every block's ``(u, z)``."""
    h = np.asarray(x, dtype=net.blocks[0].digital.dtype)
    kept = []
    for blk in net.blocks:
        inp = blk.measure(h, rng=rng)
        if keep:
            kept.append((np.asarray(blk.encode(h), np.float32),
                         inp[:, :blk.physical.out_features]))
        h = blk.digital.forward(inp)
    return h, tuple(kept)


def _scores(net: PhysicalNetwork, x: np.ndarray, rng: np.random.Generator | None
            ) -> np.ndarray:
    ro = net.readout
    if isinstance(ro, GoodnessReadout):
        return ro.scores(net, x, rng=rng)
    if isinstance(ro, HeadReadout):
        return ro.logits(net, x, rng=rng)
    if ro is None:
        return _chain_logits(net, x, rng)[0]
    raise TypeError(f"unsupported readout {type(ro).__name__}")


def _serve_macs(net: PhysicalNetwork, n: int) -> int:
    if net.readout is not None:
        return int(net.readout.macs(net, n))
    return int(sum(b.digital.macs(n) for b in net.blocks))


def _model_state(net: PhysicalNetwork) -> tuple:
    return net.get_params(), net.readout


def _restore_model(net: PhysicalNetwork, state: tuple) -> None:
    params, readout = state
    net.set_params(params)
    if net.readout is not readout:
        net.readout = readout


def _blend(avg: tuple, fast: tuple, beta: float) -> tuple:
    """``beta * avg + (1 - beta) * fast`` of two :func:`_model_state` tuples (parameters and,
    for a :class:`HeadReadout`, its heads; any other readout is ``fast``'s)."""
    def mix(a, f):
        if a is None or f is None:
            return f
        return LinearParams((beta * a.weight + (1 - beta) * f.weight).astype(f.weight.dtype),
                            (beta * a.bias + (1 - beta) * f.bias).astype(f.bias.dtype))

    params = [mix(a, f) for a, f in zip(avg[0], fast[0], strict=True)]
    ra, rf = avg[1], fast[1]
    if isinstance(ra, HeadReadout) and isinstance(rf, HeadReadout):
        rf = HeadReadout(rf.num_classes, tuple(mix(a, f) for a, f in zip(ra.heads, rf.heads,
                                                                         strict=True)))
    return params, rf


def _finite_model(net: PhysicalNetwork) -> bool:
    for p in net.get_params():
        if p is None or not (np.all(np.isfinite(p.weight)) and np.all(np.isfinite(p.bias))):
            return False
    ro = net.readout
    if isinstance(ro, HeadReadout):
        return all(np.all(np.isfinite(h.weight)) and np.all(np.isfinite(h.bias))
                   for h in ro.heads)
    return True


class Deployment:
    """A way to run a trained network during a deployment (the harness calls these).

    ``start`` binds to the deployed network; ``serve`` classifies a batch of traffic (the
    physical queries it makes advance the clock); ``adapt`` gets the batch's labels and may
    train (called inside :func:`physnn.perturb.hold`: its queries are cost, not time);
    ``predict`` is used for the evaluation probes. ``adapt`` must leave the network and its
    own state as they were when it raises (atomic updates).
    """

    name: str = "deployment"

    def start(self, net: PhysicalNetwork, rng: np.random.Generator) -> None:
        """Bind to the deployed network (before any traffic)."""
        return None

    def serve(self, net: PhysicalNetwork, x: np.ndarray, rng: np.random.Generator) -> Served:
        """Classify one batch of traffic."""
        s = _scores(net, x, rng)
        return Served(np.argmax(s, axis=1), s)

    def adapt(self, net: PhysicalNetwork, x: np.ndarray, y: np.ndarray, served: Served,
              rng: np.random.Generator) -> int:
        """Learn from the labels of a served batch; returns the digital MACs spent."""
        return 0

    def predict(self, net: PhysicalNetwork, x: np.ndarray, rng: np.random.Generator
                ) -> np.ndarray:
        """Classes of ``x`` (evaluation)."""
        return np.argmax(_scores(net, x, rng), axis=1)

    def serve_macs(self, net: PhysicalNetwork, n: int) -> int:
        """Digital MACs of serving ``n`` samples."""
        return _serve_macs(net, n)

    @property
    def learner(self) -> Any:
        """The learner whose training state a checkpoint keeps (``None``: none)."""
        return None


class Frozen(Deployment):
    """The trained network as delivered: it serves and never learns."""

    name = "frozen"

    def __init__(self, name: str = "frozen") -> None:
        self.name = name


@dataclass
class ChangeDetector:
    r"""One-sided CUSUM on the served batches' error rate: did the hardware change?

    The labels of a served batch tell how many of its predictions were wrong (no extra
    query). The first ``warmup`` batches give the reference error rate :math:`p_0` (at least
    :math:`1/(2B)`); with :math:`\sigma_t = \sqrt{p_0 (1 - p_0) / B_t}` the binomial spread
    of a batch of :math:`B_t` samples,

    .. math:: C_t = \max\big(0,\; C_{t-1} + (e_t - p_0)/\sigma_t - k\big)

    raises an alarm when :math:`C_t > h` (:math:`e_t` the batch's error rate). The alarm
    holds for at least ``hold_steps`` batches and while :math:`C_t > 0`; when it clears, the
    reference is estimated again on the next ``warmup`` batches (the adapted network is the
    new normal), unless ``rebase=False``.

    A detector that learns its reference from the first served batches is blind during
    them: a drift that starts with the deployment is then seen late, and becomes part of the
    reference. Give ``reference`` (the error rate measured before deployment, e.g. on
    held-out data) to watch from the first batch, and ``rebase=False`` to keep comparing
    with it after every alarm (a slow drift that the adaptation has not fully absorbed then
    raises the alarm again instead of becoming the new normal).

    Parameters
    ----------
    k : float, default 0.5
        Allowance, in units of :math:`\sigma_t`.
    h : float, default 5.0
        Alarm threshold.
    warmup : int, default 8
        Batches that estimate the reference (when it is not given, and after an alarm).
    hold_steps : int, default 20
    reference : float, optional
        The error rate at deployment, known beforehand (a fraction in [0, 1); floored at
        0.001 and capped at 0.5). ``None``: estimated on the first ``warmup`` batches.
    rebase : bool, default True
        When an alarm clears, estimate the reference again (``False``: keep it).
    """

    k: float = 0.5
    h: float = 5.0
    warmup: int = 8
    hold_steps: int = 20
    reference: float | None = None
    rebase: bool = True
    _ref: list = field(default_factory=list, init=False, repr=False)
    _p0: float | None = field(default=None, init=False, repr=False)
    _c: float = field(default=0.0, init=False, repr=False)
    _alarm_for: int = field(default=0, init=False, repr=False)
    #: Alarms raised since the last :meth:`reset`.
    alarms: int = field(default=0, init=False, repr=False)

    def __post_init__(self) -> None:
        _positive("k", self.k)
        _positive("h", self.h)
        _int("warmup", self.warmup, 1)
        _int("hold_steps", self.hold_steps, 1)
        if self.reference is not None:
            if isinstance(self.reference, bool) or not isinstance(self.reference,
                                                                  int | float | np.number):
                raise TypeError(f"reference must be a number or None, got {self.reference!r}")
            if not (math.isfinite(self.reference) and 0 <= self.reference < 1):
                raise ValueError(f"reference must be an error rate in [0, 1), got "
                                 f"{self.reference!r}")
        if not isinstance(self.rebase, bool):
            raise TypeError(f"rebase must be a bool, got {self.rebase!r}")
        self.reset()

    def _given(self) -> float | None:
        return None if self.reference is None else min(max(float(self.reference), 1e-3), 0.5)

    def reset(self) -> None:
        """Forget everything (a new deployment); the reference is the given one, if any."""
        self._ref, self._p0, self._c, self._alarm_for, self.alarms = [], self._given(), 0.0, \
            0, 0

    @property
    def alarmed(self) -> bool:
        """Whether the alarm is on now."""
        return self._alarm_for > 0

    def update(self, predictions: np.ndarray, y: np.ndarray) -> bool:
        """Feed one served batch (its predictions and labels); returns whether the alarm is
        on."""
        b = len(y)
        e = float(np.mean(np.asarray(predictions) != np.asarray(y))) if b else 0.0
        if self._p0 is None:
            self._ref.append((e, b))
            if len(self._ref) >= self.warmup:
                n = sum(bb for _, bb in self._ref)
                p0 = sum(ee * bb for ee, bb in self._ref) / n
                self._p0 = min(max(p0, 0.5 / max(n / len(self._ref), 1.0)), 0.5)
                self._ref = []
            return self.alarmed
        sigma = math.sqrt(self._p0 * (1 - self._p0) / max(b, 1))
        self._c = max(0.0, self._c + (e - self._p0) / sigma - self.k)
        if self._alarm_for > 0:
            self._alarm_for -= 1
            if self._c > 0:
                self._alarm_for = max(self._alarm_for, 1)
            if self._alarm_for == 0:  # cleared: learn the new normal, or keep the old one
                self._p0 = None if self.rebase else self._p0
                self._c = 0.0
        elif self._c > self.h:
            self._alarm_for = self.hold_steps
            self.alarms += 1
        return self.alarmed


def _queries_per_sample(learner: Any, net: PhysicalNetwork) -> int:
    neg = getattr(learner, "negatives", None)
    per_block = (1 + neg) if neg is not None else 1
    return per_block * len(net.blocks)


class OnlineAdapter(Deployment):
    r"""Keep training a deployed network's digital layers from the live measurements.

    After each served batch its labels arrive; the adapter makes one update of ``learner``
    (:class:`~physnn.learning.PhyLL`, :class:`~physnn.learning.ForwardForward` or
    :class:`~physnn.learning.LocalReadout`, on a private copy) on that batch plus replayed
    samples, within a budget of physical queries. What keeps it from costing accuracy when
    nothing changed:

    - a **deployment learning rate** ``lr`` (and ``inner_steps``), smaller than training's;
    - a **trust region** toward the deployed weights :math:`\theta_0`: after every update,
      each block's parameters (and head) are projected onto
      :math:`\lVert \theta - \theta_0 \rVert \le \rho\, \lVert \theta_0 \rVert`
      (``trust_region`` :math:`= \rho`). When a :class:`ChangeDetector` is given, the region
      is ``trust_region`` while no change is detected and ``alarm_trust_region`` during an
      alarm, and the anchor :math:`\theta_0` moves to the adapted weights when the alarm
      clears;
    - **replay** of a small buffer of recent labelled samples (``replay`` samples kept,
      ``replay_batch`` of them added to each update): an update sees more than one batch;
    - optionally, **change detection** (``detector``): no update (no query) while the
      served batches' error rate looks as it did at deployment (``idle_updates=False``), and
      a larger learning rate ``alarm_lr`` after a change is detected;
    - for the goodness learners (PhyLL, Forward-Forward), optionally **hard negatives**
      (``negatives``): each update measures that many wrong-label candidates per sample and
      every block trains against the one it currently scores highest (the wrong labels the
      adapted network actually confuses), instead of one drawn at random;
    - **weight averaging** (``average``): the network serves a running mean of the
      learner's weights, not its latest, noisy iterate.

    What makes it recover quickly after a change: a larger ``alarm_lr`` and a burst of
    ``alarm_updates`` updates per served batch from the buffer while the detector is
    alarmed (each query counted in the report).

    Parameters
    ----------
    learner : LocalLearner
        The rule the network was trained with (its copy keeps the training state when the
        network's ``uid`` matches, else starts fresh optimizer moments).
    lr : float, optional
        Deployment learning rate (default: the learner's optimizer's).
    inner_steps : int, optional
        Inner optimizer steps per update (default: the learner's).
    trust_region : float, optional
        :math:`\rho` (``None``: no projection).
    alarm_trust_region : float, optional
        :math:`\rho` during an alarm (default ``trust_region``).
    replay : int, default 0
        Capacity of the buffer (first in, first out).
    replay_batch : int, default 0
        Buffer samples added to each update.
    budget : int, optional
        Most physical queries one update may spend (all blocks together); the update batch
        is cut to fit (the newest samples first).
    detector : ChangeDetector, optional
    idle_updates : bool, default True
        With a detector: still update (at ``lr``, inside ``trust_region``) when no change is
        detected. ``False`` spends no query until an alarm.
    alarm_lr : float, optional
        Learning rate during an alarm (default ``lr``).
    negatives : int, optional
        Wrong-label candidates per sample of an update (goodness learners only; at most the
        number of classes - 1; each costs one more query per block and sample). Default:
        the learner's.
    average : float, optional
        Serve a running average of the adapted weights (Polyak averaging): the learner
        trains its own copy :math:`\theta_t`, the network serves
        :math:`\bar\theta_t = \beta\,\bar\theta_{t-1} + (1 - \beta)\,\theta_t` with
        :math:`\beta` = ``average`` in [0, 1), after each update (the trust region acts on
        :math:`\theta_t`). It smooths the update-to-update noise of the served accuracy, at
        the price of a lag of about :math:`1/(1-\beta)` updates after a change.
    alarm_updates : int, default 1
        Updates per served batch during an alarm (needs a detector and a buffer): the first
        on the served batch plus ``replay_batch`` buffered samples, each further one on as
        many samples drawn from the buffer. A burst of relearning, paid in queries, while
        the detector says the network is off; it stops when the alarm clears.
    name : str, optional
    """

    def __init__(self, learner: Any, *, lr: float | None = None,
                 inner_steps: int | None = None, trust_region: float | None = None,
                 alarm_trust_region: float | None = None, replay: int = 0,
                 replay_batch: int = 0, budget: int | None = None,
                 detector: ChangeDetector | None = None, idle_updates: bool = True,
                 alarm_lr: float | None = None, negatives: int | None = None,
                 alarm_updates: int = 1, average: float | None = None,
                 name: str | None = None) -> None:
        from .learning._base import LocalLearner

        if not isinstance(learner, LocalLearner):
            raise TypeError("learner must be a physnn local learner (PhyLL, ForwardForward or "
                            f"LocalReadout), got {type(learner).__name__}")
        self._template = learner
        self.lr = None if lr is None else _positive("lr", lr)
        self.alarm_lr = None if alarm_lr is None else _positive("alarm_lr", alarm_lr)
        self.inner_steps = None if inner_steps is None else _int("inner_steps", inner_steps, 1)
        self.trust_region = None if trust_region is None else _positive("trust_region",
                                                                        trust_region)
        self.alarm_trust_region = (self.trust_region if alarm_trust_region is None
                                   else _positive("alarm_trust_region", alarm_trust_region))
        self.replay = _int("replay", replay)
        self.replay_batch = _int("replay_batch", replay_batch)
        if self.replay_batch > self.replay:
            raise ValueError(f"replay_batch ({replay_batch}) cannot exceed the buffer's "
                             f"capacity replay={replay}")
        self.budget = None if budget is None else _int("budget", budget, 1)
        if detector is not None and not isinstance(detector, ChangeDetector):
            raise TypeError(f"detector must be a ChangeDetector or None, got {detector!r}")
        self.detector = detector
        self.idle_updates = bool(idle_updates)
        if detector is None and not self.idle_updates:
            raise ValueError("idle_updates=False needs a detector (it would never update)")
        if negatives is not None:
            negatives = _int("negatives", negatives, 1)
            if not hasattr(learner, "negatives"):
                raise ValueError(f"negatives is for the goodness learners (PhyLL, "
                                 f"ForwardForward); {type(learner).__name__} has no negatives")
        self.negatives = negatives
        self.alarm_updates = _int("alarm_updates", alarm_updates, 1)
        if self.alarm_updates > 1 and (detector is None or self.replay == 0):
            raise ValueError("alarm_updates > 1 needs a detector and a replay buffer "
                             "(replay > 0): the extra updates draw from the buffer during "
                             "an alarm")
        if average is not None:
            if isinstance(average, bool) or not isinstance(
                    average, int | float | np.integer | np.floating) \
                    or not 0 <= average < 1:
                raise ValueError(f"average must be a number in [0, 1) or None, got {average!r}")
            average = float(average)
        self.average = average
        self.name = name or f"online {type(learner).__name__}"
        self._fast: tuple | None = None
        self._learner: Any = None
        self._anchor: tuple | None = None
        self._buf_x: np.ndarray | None = None
        self._buf_y: np.ndarray | None = None
        self.updates = 0

    @property
    def learner(self) -> Any:
        return self._learner

    def start(self, net: PhysicalNetwork, rng: np.random.Generator) -> None:
        if net.readout is None:
            raise ValueError("OnlineAdapter needs a trained network (net.readout is None)")
        self._learner = copy.deepcopy(self._template)
        self._learner._check_readout(net)
        if self.lr is not None:
            self._learner.optimizer.lr = self.lr
        if self.inner_steps is not None:
            self._learner.inner_steps = self.inner_steps
        if self.negatives is not None:
            k = int(net.readout.num_classes)
            if self.negatives > k - 1:
                raise ValueError(f"negatives must be <= num_classes - 1 = {k - 1}, got "
                                 f"{self.negatives}")
            self._learner.negatives = self.negatives
        self._base_lr = self._learner.optimizer.lr
        if self.budget is not None and self.budget < _queries_per_sample(self._learner, net):
            raise ValueError(f"budget={self.budget} queries cannot pay for one sample "
                             f"({_queries_per_sample(self._learner, net)} queries each for "
                             f"{type(self._learner).__name__} on {len(net.blocks)} blocks)")
        self._anchor = self._snapshot(net)
        self._fast = None
        self._buf_x = self._buf_y = None
        self.updates = 0
        if self.detector is not None:
            self.detector.reset()

    # -- anchors and the trust region ------------------------------------------------------
    @staticmethod
    def _snapshot(net: PhysicalNetwork) -> tuple:
        heads = net.readout.heads if isinstance(net.readout, HeadReadout) else ()
        return tuple(net.get_params()), tuple(heads)

    @staticmethod
    def _project(p: LinearParams, a: LinearParams, rho: float) -> LinearParams:
        dw, db = p.weight - a.weight, p.bias - a.bias
        dist = math.sqrt(float(np.sum(dw.astype(np.float64) ** 2)
                               + np.sum(db.astype(np.float64) ** 2)))
        ref = math.sqrt(float(np.sum(a.weight.astype(np.float64) ** 2)
                              + np.sum(a.bias.astype(np.float64) ** 2)))
        limit = rho * ref
        if dist <= limit or dist == 0:
            return p
        s = limit / dist
        return LinearParams((a.weight + s * dw).astype(p.weight.dtype),
                            (a.bias + s * db).astype(p.bias.dtype))

    def _apply_trust_region(self, net: PhysicalNetwork, rho: float | None) -> None:
        if rho is None:
            return
        anchor_p, anchor_h = self._anchor
        net.set_params([self._project(p, a, rho)
                        for p, a in zip(net.get_params(), anchor_p, strict=True)])
        if anchor_h:
            ro = net.readout
            heads = tuple(self._project(h, a, rho) for h, a in zip(ro.heads, anchor_h,
                                                                     strict=True))
            net.readout = HeadReadout(ro.num_classes, heads)

    # -- the buffer ------------------------------------------------------------------------
    def _remember(self, x: np.ndarray, y: np.ndarray) -> None:
        if self.replay == 0:
            return
        bx = x if self._buf_x is None else np.concatenate([self._buf_x, x])
        by = y if self._buf_y is None else np.concatenate([self._buf_y, y])
        self._buf_x, self._buf_y = bx[-self.replay:], by[-self.replay:]

    def _draw(self, k: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Up to ``k`` distinct buffered samples (none if the buffer is empty)."""
        n = 0 if self._buf_x is None else len(self._buf_x)
        pick = rng.choice(n, size=min(k, n), replace=False)
        return self._buf_x[pick], self._buf_y[pick]

    def adapt(self, net, x, y, served, rng):
        alarm = False
        if self.detector is not None and served is not None:
            was = self.detector.alarmed
            alarm = self.detector.update(served.predictions, y)
            if was and not alarm:  # the change is absorbed: the adapted weights are the anchor
                self._anchor = self._snapshot(net)
        if not alarm and not self.idle_updates:
            self._remember(x, y)
            return 0
        xb, yb = x, y
        if self.replay_batch and self._buf_x is not None and len(self._buf_x):
            rx, ry = self._draw(self.replay_batch, rng)
            xb, yb = np.concatenate([x, rx]), np.concatenate([y, ry])
        if self.budget is not None:
            n = self.budget // _queries_per_sample(self._learner, net)
            xb, yb = xb[:n], yb[:n]
        lrn = self._learner
        saved = (_model_state(net), lrn.state, lrn._net_uid, lrn.train_macs,
                 lrn._bound_readout, lrn.num_classes)
        macs0 = lrn.train_macs
        lrn.optimizer.lr = (self.alarm_lr or self._base_lr) if alarm else self._base_lr
        try:
            if self._fast is not None:  # the learner's own weights, not the served average
                _restore_model(net, self._fast)
            lrn.update(net, xb, yb, rng=rng)
            if alarm and self._buf_x is not None and len(self._buf_x):
                for _ in range(self.alarm_updates - 1):
                    lrn.update(net, *self._draw(len(xb), rng), rng=rng)
            self._apply_trust_region(net, self.alarm_trust_region if alarm
                                     else self.trust_region)
            if not _finite_model(net):
                raise FloatingPointError(f"{self.name}: the update made a parameter non-finite")
            if self.average is not None:
                fast = _model_state(net)
                _restore_model(net, _blend(saved[0], fast, self.average))
                self._fast = fast
        except BaseException:
            _restore_model(net, saved[0])
            (lrn.state, lrn._net_uid, lrn.train_macs, lrn._bound_readout,
             lrn.num_classes) = saved[1:]
            raise
        finally:
            lrn.optimizer.lr = self._base_lr
        self._remember(x, y)
        self.updates += 1
        return int(lrn.train_macs - macs0)


# ----------------------------------------------------------------------------- twin baselines


@dataclass(frozen=True)
class TwinRefit:
    r"""When and how a twin-based method refits its digital twins during a deployment.

    On every served batch the twin of each block is compared with the live measurement of
    that block (no extra query): :math:`e = \sqrt{\overline{(T(u) - P(u))^2} /
    \mathrm{Var}\,P(u)}`. The first batch gives the reference :math:`e_0`; when a block's
    error exceeds ``factor`` :math:`\times\, e_0` (and ``min_error``), every twin is refitted
    from ``n_queries`` fresh random queries per block (counted as cost), and the reference
    is measured again on the next batch.

    Parameters
    ----------
    factor : float, default 1.5
    min_error : float, default 0.05
    n_queries : int, default 2000
    epochs : int, default 60
    hidden : tuple of int, default (64, 64)
    """

    factor: float = 1.5
    min_error: float = 0.05
    n_queries: int = 2000
    epochs: int = 60
    hidden: tuple = (64, 64)

    def __post_init__(self) -> None:
        _positive("factor", self.factor)
        _positive("min_error", self.min_error)
        _int("n_queries", self.n_queries, 20)
        _int("epochs", self.epochs, 1)


class PhysicsAwareAdapter(Deployment):
    r"""Twin-based baselines during a deployment (needs PyTorch).

    The network is the one :class:`~physnn.learning.baselines.BackpropBaseline` trains
    (the last block's outputs are the logits; no readout).

    - ``mode="physics_aware"``: after each served batch, ``steps`` Adam steps of
      physics-aware training (Wright et al., 2022) at the deployment learning rate ``lr``:
      forward through the hardware (inside :func:`~physnn.perturb.hold`), backward through
      the twins, :math:`z = T(u) + \mathrm{sg}[P(u) - T(u)]`.
    - ``mode="in_silico"``: the network never learns from the hardware; with a
      :class:`TwinRefit` it is retrained on the twins (``train_data``, ``retrain_epochs``)
      after every refit, then deployed again.

    Parameters
    ----------
    twins : sequence of Twin
        One per block, fitted before the deployment (:func:`~physnn.learning.baselines.
        fit_twin`); they go stale when the hardware changes.
    mode : {"physics_aware", "in_silico"}
    lr : float, default 1e-4
    steps : int, default 1
    refit : TwinRefit, optional
        ``None``: the twins stay stale.
    train_data : (x, y), optional
        Needed by ``in_silico`` with ``refit`` (retraining on the refitted twins).
    retrain_epochs : int, default 50
    batch_size : int, default 32
    name : str, optional
    """

    def __init__(self, twins: Sequence[Any], *, mode: str = "physics_aware", lr: float = 1e-4,
                 steps: int = 1, refit: TwinRefit | None = None,
                 train_data: tuple[np.ndarray, np.ndarray] | None = None,
                 retrain_epochs: int = 50, batch_size: int = 32,
                 name: str | None = None) -> None:
        if mode not in ("physics_aware", "in_silico"):
            raise ValueError(f"mode must be 'physics_aware' or 'in_silico', got {mode!r}")
        twins = list(twins)
        if not twins:
            raise ValueError("twins must hold one Twin per block")
        if refit is not None and not isinstance(refit, TwinRefit):
            raise TypeError(f"refit must be a TwinRefit or None, got {refit!r}")
        if mode == "in_silico" and refit is not None and train_data is None:
            raise ValueError("in_silico with refit needs train_data=(x, y) to retrain on")
        self.mode = mode
        self._stale = twins
        self.lr = _positive("lr", lr)
        self.steps = _int("steps", steps, 1)
        self.refit = refit
        self.train_data = train_data
        self.retrain_epochs = _int("retrain_epochs", retrain_epochs, 1)
        self.batch_size = _int("batch_size", batch_size, 1)
        self.name = name or (("PAT" if mode == "physics_aware" else "in-silico")
                             + (", refitted twin" if refit else ", stale twin"))
        self.refits = 0
        self.refit_queries = 0

    def start(self, net, rng):
        import torch

        if len(self._stale) != len(net.blocks):
            raise ValueError(f"{len(self._stale)} twins for {len(net.blocks)} blocks")
        if net.readout is not None:
            raise ValueError("PhysicsAwareAdapter runs networks trained by BackpropBaseline "
                             "(no readout); this one has a readout")
        self.twins = list(self._stale)
        self._ref_err: list | None = None
        self._gen = torch.Generator().manual_seed(int(rng.integers(2**31)))
        self._params = [(torch.tensor(np.array(p.weight), requires_grad=True),
                         torch.tensor(np.array(p.bias), requires_grad=True))
                        for p in net.get_params()]
        self._opt = torch.optim.Adam([t for p in self._params for t in p], lr=self.lr)
        self.refits = 0
        self.refit_queries = 0

    def serve(self, net, x, rng):
        logits, kept = _chain_logits(net, x, rng, keep=self.refit is not None)
        return Served(np.argmax(logits, axis=1), logits, kept)

    def _twin_errors(self, kept: tuple) -> list[float]:
        import torch

        errs = []
        with torch.no_grad():
            for twin, (u, z) in zip(self.twins, kept, strict=True):
                t = twin.module(torch.from_numpy(np.ascontiguousarray(u))).numpy()
                errs.append(float(np.sqrt(np.mean((t - z) ** 2) / (z.var() + 1e-12))))
        return errs

    def _forward_torch(self, net, x, *, physical: bool, rng):
        import torch

        from .learning.baselines import _encode_torch

        h = torch.from_numpy(np.asarray(x, np.float32))
        for i, blk in enumerate(net.blocks):
            u = _encode_torch(blk.encode, h)
            t = self.twins[i].module(u)
            if physical:
                z = torch.from_numpy(blk.physical.forward(u.detach().numpy(), rng=rng))
                z = t + (z - t).detach()
            else:
                z = t
            inp = torch.cat([z, h], dim=1) if blk.skip else z
            w, b = self._params[i]
            h = inp @ w.T + b
        return h

    def _write_back(self, net) -> None:
        net.set_params([LinearParams(w.detach().numpy().copy(), b.detach().numpy().copy())
                        for w, b in self._params])

    def _snapshot(self) -> tuple:
        return ([(w.detach().clone(), b.detach().clone()) for w, b in self._params],
                copy.deepcopy(self._opt.state_dict()), list(self.twins), self._ref_err,
                self.refits, self.refit_queries)

    def _restore(self, snap: tuple) -> None:
        import torch

        params, opt_state, twins, ref, refits, rq = snap
        with torch.no_grad():
            for (w, b), (w0, b0) in zip(self._params, params, strict=True):
                w.copy_(w0)
                b.copy_(b0)
        self._opt.load_state_dict(opt_state)
        self.twins, self._ref_err, self.refits, self.refit_queries = twins, ref, refits, rq

    def _maybe_refit(self, net, served, rng) -> bool:
        from .learning.baselines import fit_twin

        if self.refit is None or not served.measurements:
            return False
        errs = self._twin_errors(served.measurements)
        if self._ref_err is None:
            self._ref_err = errs
            return False
        r = self.refit
        if not any(e > max(r.factor * e0, r.min_error) for e, e0 in zip(errs, self._ref_err,
                                                                         strict=True)):
            return False
        q0 = net.queries
        self.twins = [fit_twin(b.physical, n_queries=r.n_queries, rng=rng, epochs=r.epochs,
                               hidden=tuple(r.hidden)) for b in net.blocks]
        self.refit_queries += net.queries - q0
        self.refits += 1
        self._ref_err = None
        return True

    def _retrain_in_silico(self, net, rng) -> int:
        import torch

        x, y = self.train_data
        xt = torch.from_numpy(np.asarray(x, np.float32))
        yt = torch.from_numpy(np.asarray(y, np.int64))
        opt = torch.optim.Adam([t for p in self._params for t in p], lr=self.lr)
        steps = 0
        for _ in range(self.retrain_epochs):
            perm = torch.from_numpy(rng.permutation(len(xt)))
            for s in range(0, len(xt), self.batch_size):
                idx = perm[s:s + self.batch_size]
                loss = torch.nn.functional.cross_entropy(
                    self._forward_torch(net, xt[idx], physical=False, rng=rng), yt[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                steps += len(idx)
        return steps

    def _macs_per_sample(self, net) -> int:
        return sum(b.digital.macs(1) + t.macs for b, t in zip(net.blocks, self.twins,
                                                              strict=True))

    def adapt(self, net, x, y, served, rng):
        import torch

        snap = self._snapshot()
        model = _model_state(net)
        macs = 0
        try:
            refitted = self._maybe_refit(net, served, rng)
            if self.mode == "in_silico":
                if refitted:
                    macs += 3 * self._macs_per_sample(net) * self._retrain_in_silico(net, rng)
                    self._write_back(net)
            else:
                xt = torch.from_numpy(np.asarray(x, np.float32))
                yt = torch.from_numpy(np.asarray(y, np.int64))
                for _ in range(self.steps):
                    loss = torch.nn.functional.cross_entropy(
                        self._forward_torch(net, xt, physical=True, rng=rng), yt)
                    if not torch.isfinite(loss):
                        raise FloatingPointError(f"{self.name}: the loss is {loss.item()}")
                    self._opt.zero_grad()
                    loss.backward()
                    self._opt.step()
                    macs += 3 * self._macs_per_sample(net) * len(x)
                self._write_back(net)
            if not _finite_model(net):
                raise FloatingPointError(f"{self.name}: the update made a parameter non-finite")
        except BaseException:
            self._restore(snap)
            _restore_model(net, model)
            raise
        return macs

    def predict(self, net, x, rng):
        return np.argmax(_chain_logits(net, x, rng)[0], axis=1)


# ----------------------------------------------------------------------------- reports


@dataclass(frozen=True)
class Fault:
    """A failure during a deployment: when, where and what."""

    query: int
    stage: str  # "serve", "adapt", "probe" or "checkpoint"
    layer: str | None
    error: str
    message: str


def _nan_mean(a: np.ndarray) -> float:
    a = np.asarray(a, dtype=float)
    a = a[np.isfinite(a)]
    return float(a.mean()) if a.size else float("nan")


@dataclass(frozen=True)
class RobustnessReport:
    """What :func:`evaluate_under` measured (accuracies are fractions; 0.01 = 1 point).

    Attributes
    ----------
    name, method : str
        Scenario and method.
    queries : ndarray of int
        Deployment instants (samples served) of the evaluations.
    accuracy : ndarray
        Accuracy on the evaluation set as of each instant (NaN where the probe failed).
    onset : int or None
        First query at which the scenario acts (``None``: no perturbation).
    accuracy_clean : float
        Accuracy of the deployed network on the unperturbed hardware, before any traffic.
    tolerance : float
        "Recovered" means within ``tolerance`` of :attr:`accuracy_before`.
    cost_queries : ndarray of int
        Physical queries spent by the method (serving + adaptation, all blocks) up to each
        evaluation.
    adapt_queries : ndarray of int
        The part of them spent on adaptation (updates, twin refits).
    served_accuracy : ndarray
        Accuracy on each served batch (NaN when serving failed).
    cost : dict
        Totals: ``serve_queries``, ``adapt_queries``, ``eval_queries``, ``serve_macs``,
        ``adapt_macs``, ``updates``.
    nonfinite : bool
        Whether a non-finite parameter, score or loss appeared.
    faults : tuple of Fault
    n_eval : int
        Size of the evaluation set (summed over pooled reports).
    network : PhysicalNetwork or None
        The deployed network after the run (with its :class:`~physnn.Perturbed` layers; see
        :func:`unwrap`), to inspect or save; not part of :meth:`to_dict`.
    """

    name: str
    method: str
    queries: np.ndarray
    accuracy: np.ndarray
    onset: int | None
    accuracy_clean: float
    tolerance: float
    cost_queries: np.ndarray
    adapt_queries: np.ndarray
    served_accuracy: np.ndarray
    cost: dict
    nonfinite: bool = False
    faults: tuple = ()
    n_eval: int = 0
    network: Any = field(default=None, repr=False, compare=False)

    # -- derived numbers -------------------------------------------------------------------
    def _after(self) -> np.ndarray:
        if self.onset is None:
            return np.ones(len(self.queries), bool)
        return self.queries >= self.onset

    @property
    def accuracy_before(self) -> float:
        """Mean accuracy at the evaluations before the onset (the clean accuracy when there
        is none; the first evaluation when nothing is perturbed)."""
        if self.onset is None:
            return float(self.accuracy[0])
        pre = self.accuracy[self.queries < self.onset]
        return _nan_mean(pre) if np.isfinite(pre).any() else float(self.accuracy_clean)

    @property
    def worst_accuracy(self) -> float:
        """Lowest accuracy from the onset on."""
        a = self.accuracy[self._after()]
        return float(np.nanmin(a)) if np.isfinite(a).any() else float("nan")

    @property
    def worst_query(self) -> int | None:
        """Instant of :attr:`worst_accuracy` (``None``: no finite evaluation after onset)."""
        a = np.where(self._after(), self.accuracy, np.inf)
        a = np.where(np.isfinite(a) | np.isinf(a), a, np.inf)
        return int(self.queries[int(np.argmin(a))]) if np.isfinite(a).any() else None

    @property
    def final_accuracy(self) -> float:
        """Accuracy at the last evaluation."""
        return float(self.accuracy[-1])

    @property
    def max_drop(self) -> float:
        """:attr:`accuracy_before` minus :attr:`worst_accuracy`."""
        return self.accuracy_before - self.worst_accuracy

    @property
    def _recovery_index(self) -> int | None:
        """Index of the evaluation from which accuracy stays within tolerance (``None``:
        it does not by the end)."""
        after = np.flatnonzero(self._after())
        if after.size == 0:
            return None
        low = self.accuracy_before - self.tolerance - 1e-9
        acc = self.accuracy[after]
        bad = np.flatnonzero(~(acc >= low))  # NaN counts as not recovered
        if bad.size == 0:
            return int(after[0])
        j = int(bad[-1])
        return None if j == acc.size - 1 else int(after[j + 1])

    @property
    def recovered(self) -> bool:
        """Whether accuracy is back within :attr:`tolerance` by the end (and stays)."""
        return self._recovery_index is not None

    @property
    def recovery_queries(self) -> int | None:
        """Samples served from the onset until accuracy is back within :attr:`tolerance` of
        :attr:`accuracy_before` and stays there (0: it never left; ``None``: it has not
        come back by the end, or nothing is perturbed)."""
        i = self._recovery_index
        if i is None or self.onset is None:
            return None
        if self.accuracy[self._after()].size and np.all(
                self.accuracy[self._after()] >= self.accuracy_before - self.tolerance - 1e-9):
            return 0
        return int(self.queries[i] - self.onset)

    @property
    def recovery_cost(self) -> int | None:
        """Physical queries the method spent on adaptation between the onset and recovery."""
        i = self._recovery_index
        if i is None or self.onset is None:
            return None
        pre = self.adapt_queries[self.queries <= self.onset]
        base = int(pre[-1]) if pre.size else 0
        return int(self.adapt_queries[i] - base)

    # -- output ----------------------------------------------------------------------------
    def summary(self) -> str:
        """The curve's key numbers, one line each."""
        def pct(v):
            return "nan" if v is None or not np.isfinite(v) else f"{100 * v:.1f} %"

        rq = self.recovery_queries
        lines = [
            f"{self.method} under {self.name!r} (evaluation set of {self.n_eval})",
            f"  before (q < {self.onset}): {pct(self.accuracy_before)}   clean: "
            f"{pct(self.accuracy_clean)}",
            f"  worst: {pct(self.worst_accuracy)} at q={self.worst_query}   final: "
            f"{pct(self.final_accuracy)}   max drop: {100 * self.max_drop:.1f} points",
            "  recovery: " + ("never left the tolerance" if rq == 0 else
                              f"{rq} queries after the onset (adaptation cost "
                              f"{self.recovery_cost} physical queries)" if rq is not None else
                              f"not within {100 * self.tolerance:.1f} points by the end"),
            f"  non-finite: {self.nonfinite}   faults: {len(self.faults)}",
            f"  cost: {self.cost}",
            "  curve (query: accuracy %): " + ", ".join(
                f"{int(q)}: {100 * a:.1f}" for q, a in zip(self.queries, self.accuracy,
                                                           strict=True)),
        ]
        lines += [f"  fault at q={f.query} in {f.stage} (layer {f.layer!r}): {f.error}: "
                  f"{f.message}" for f in self.faults[:10]]
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """JSON-ready numbers (curves as lists)."""
        return {
            "name": self.name, "method": self.method, "onset": self.onset,
            "queries": [int(q) for q in self.queries],
            "accuracy": [float(a) for a in self.accuracy],
            "accuracy_clean": self.accuracy_clean, "accuracy_before": self.accuracy_before,
            "worst_accuracy": self.worst_accuracy, "worst_query": self.worst_query,
            "final_accuracy": self.final_accuracy, "max_drop": self.max_drop,
            "tolerance": self.tolerance, "recovered": self.recovered,
            "recovery_queries": self.recovery_queries, "recovery_cost": self.recovery_cost,
            "cost_queries": [int(c) for c in self.cost_queries],
            "adapt_queries": [int(c) for c in self.adapt_queries],
            "served_accuracy": [float(a) for a in self.served_accuracy],
            "cost": dict(self.cost), "nonfinite": self.nonfinite, "n_eval": self.n_eval,
            "faults": [asdict(f) for f in self.faults],
        }

    def plot(self, path: str | os.PathLike | None = None, *, ax: Any = None,
             label: str | None = None, color: Any = None) -> Any:
        """Accuracy over queries (onset, pre-perturbation level and tolerance band marked);
        with ``path``, written there as a PNG. Returns the axes."""
        import matplotlib

        if ax is None and path is not None:
            matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig = None
        if ax is None:
            fig, ax = plt.subplots(figsize=(6, 3.6), layout="constrained")
        line, = ax.plot(self.queries, 100 * self.accuracy, marker=".", color=color,
                        label=label or self.method)
        if self.onset is not None:
            ax.axvline(self.onset, color="k", lw=0.8, ls=":")
        b = 100 * self.accuracy_before
        ax.axhspan(b - 100 * self.tolerance, b + 100 * self.tolerance,
                   color=line.get_color(), alpha=0.08)
        ax.set(xlabel="queries served (deployment clock)", ylabel="accuracy [%]",
               title=self.name)
        if fig is not None:
            ax.legend(fontsize=8)
            if path is not None:
                from ._io import atomic_savefig

                atomic_savefig(fig, path, dpi=120)
                plt.close(fig)
        return ax

    @staticmethod
    def pool(reports: Sequence[RobustnessReport], *, method: str | None = None
             ) -> RobustnessReport:
        """One report from several runs on the same query grid (e.g. repeated data splits):
        mean curves, summed evaluation sets, every fault."""
        reports = list(reports)
        if not reports:
            raise ValueError("reports must not be empty")
        q = reports[0].queries
        for r in reports[1:]:
            if not np.array_equal(r.queries, q) or r.onset != reports[0].onset:
                raise ValueError("pooled reports need the same evaluation instants and onset")
        w = np.array([max(r.n_eval, 1) for r in reports], float)
        w = w / w.sum()

        def wmean(vals):
            return np.sum([wi * np.asarray(v, float) for wi, v in zip(w, vals, strict=True)],
                          axis=0)

        cost = {k: float(np.mean([r.cost.get(k, 0) for r in reports])) for k in reports[0].cost}
        n = min(len(r.served_accuracy) for r in reports)
        return RobustnessReport(
            name=reports[0].name, method=method or reports[0].method, queries=q.copy(),
            accuracy=wmean([r.accuracy for r in reports]), onset=reports[0].onset,
            accuracy_clean=float(wmean([r.accuracy_clean for r in reports])),
            tolerance=reports[0].tolerance,
            cost_queries=np.round(wmean([r.cost_queries for r in reports])).astype(np.int64),
            adapt_queries=np.round(wmean([r.adapt_queries for r in reports])).astype(np.int64),
            served_accuracy=wmean([r.served_accuracy[:n] for r in reports]), cost=cost,
            nonfinite=any(r.nonfinite for r in reports),
            faults=tuple(f for r in reports for f in r.faults),
            n_eval=int(sum(r.n_eval for r in reports)))


def assert_robust(report: RobustnessReport, *, max_drop: float | None = None,
                  recover_within: int | None = None, min_final: float | None = None,
                  allow_nonfinite: bool = False, allow_faults: bool = False) -> None:
    """Fail (``AssertionError``) unless ``report`` meets every bound given; the message
    prints the curve's key numbers (:meth:`RobustnessReport.summary`).

    Parameters
    ----------
    report : RobustnessReport
    max_drop : float, optional
        Largest allowed drop of accuracy below :attr:`~RobustnessReport.accuracy_before`,
        as a fraction (0.05 = 5 points).
    recover_within : int, optional
        Samples served after the onset by which accuracy must be back within the report's
        tolerance and stay there.
    min_final : float, optional
        Lowest allowed final accuracy (fraction).
    allow_nonfinite, allow_faults : bool, default False
    """
    if not isinstance(report, RobustnessReport):
        raise TypeError(f"report must be a RobustnessReport, got {type(report).__name__}")
    if max_drop is not None:
        max_drop = _fraction("max_drop", max_drop)
    if recover_within is not None:
        recover_within = _int("recover_within", recover_within)
    if min_final is not None:
        min_final = _fraction("min_final", min_final)
    problems = []
    if max_drop is not None and not report.max_drop <= max_drop + 1e-12:
        problems.append(f"accuracy dropped {100 * report.max_drop:.1f} points (allowed "
                        f"{100 * max_drop:.1f})")
    if recover_within is not None:
        rq = report.recovery_queries
        if rq is None or rq > recover_within:
            problems.append(f"recovery took {'longer than the run' if rq is None else rq} "
                            f"queries (allowed {recover_within})")
    if min_final is not None and not report.final_accuracy >= min_final:
        problems.append(f"final accuracy {100 * report.final_accuracy:.1f} % < "
                        f"{100 * min_final:.1f} %")
    if report.nonfinite and not allow_nonfinite:
        problems.append("a non-finite value appeared")
    if report.faults and not allow_faults:
        problems.append(f"{len(report.faults)} fault(s): " + "; ".join(
            f"{f.layer or f.stage}: {f.message}" for f in report.faults[:3]))
    if problems:
        raise AssertionError("not robust: " + "; ".join(problems) + "\n" + report.summary())


# ----------------------------------------------------------------------------- the harness


def _fault(exc: BaseException, query: int, stage: str) -> Fault:
    layer = exc.layer if isinstance(exc, PhysicalLayerError) else None
    return Fault(int(query), stage, layer, type(exc).__name__, str(exc))


def evaluate_under(net: PhysicalNetwork, x: np.ndarray, y: np.ndarray,
                   schedule: Scenario | Sequence[Perturbation] | None = None, *,
                   method: Deployment | None = None,
                   stream: tuple[np.ndarray, np.ndarray] | None = None,
                   horizon: int, eval_every: int, batch_size: int = 32,
                   tolerance: float = 0.01, rng: np.random.Generator | int = 0,
                   copy_net: bool = True, checkpoint: str | os.PathLike | None = None,
                   checkpoint_every: int = 10, name: str | None = None) -> RobustnessReport:
    """Deploy ``net`` under ``schedule``, serve a stream, evaluate as of regular instants.

    Parameters
    ----------
    net : PhysicalNetwork
        A trained network (copied unless ``copy_net=False``).
    x, y : ndarray
        Evaluation set (in the format ``method.predict`` takes), measured as of each
        evaluation instant inside :func:`physnn.perturb.probe`.
    schedule : Scenario or sequence of Perturbation, optional
        What happens to every physical layer (``None``: the network as it is, e.g. with
        its own :class:`~physnn.Perturbed` layers).
    method : Deployment, optional
        :class:`Frozen` (default), :class:`OnlineAdapter`, :class:`PhysicsAwareAdapter` ...
    stream : (x, y), optional
        Labelled traffic served in shuffled passes, ``batch_size`` samples per step. Without
        a stream (only for methods that do not learn) nothing is served: the evaluations
        are made as of the instants directly (exact, since perturbations are functions of
        the clock).
    horizon : int
        Samples served in total.
    eval_every : int
        Samples served between evaluations (one also at instant 0).
    batch_size : int, default 32
    tolerance : float, default 0.01
        Recovery tolerance (fraction: 0.01 = 1 point).
    rng : Generator or int, default 0
        Stream order, the method's randomness, the physical noise. The evaluations draw
        their noise from generators seeded by ``(seed, evaluation index)`` when an int is
        given, so that methods compared under one seed are evaluated with the same noise.
    checkpoint : path, optional
        ``physnn.save(checkpoint, network, method.learner)`` every ``checkpoint_every``
        steps that finished without a fault (atomic; a failed step never writes).
    name : str, optional
        The scenario's name in the report.

    Returns
    -------
    RobustnessReport
    """
    if not isinstance(net, PhysicalNetwork):
        raise TypeError(f"net must be a physnn.PhysicalNetwork, got {type(net).__name__}")
    if schedule is not None and not isinstance(schedule, Scenario):
        schedule = Scenario(name or "custom", tuple(schedule))
    method = Frozen() if method is None else method
    if not isinstance(method, Deployment):
        raise TypeError(f"method must be a physnn.robustness.Deployment, got "
                        f"{type(method).__name__}")
    horizon = _int("horizon", horizon, 1)
    eval_every = _int("eval_every", eval_every, 1)
    batch_size = _int("batch_size", batch_size, 1)
    checkpoint_every = _int("checkpoint_every", checkpoint_every, 1)
    tolerance = _fraction("tolerance", tolerance)
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim != 2 or y.shape != (len(x),) or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"x must be (n, d) and y (n,) integer labels, got {x.shape} and "
                         f"{y.shape} {y.dtype}")
    learns = type(method).adapt is not Deployment.adapt
    if stream is None and learns:
        raise ValueError(f"method {method.name!r} learns during the deployment: give "
                         "stream=(x, y), the labelled traffic it serves")
    if stream is not None:
        sx, sy = np.asarray(stream[0]), np.asarray(stream[1])
        if sx.ndim != 2 or sy.shape != (len(sx),) or len(sx) == 0:
            raise ValueError(f"stream must be (x (n, d), y (n,)) with n > 0, got {sx.shape} and "
                             f"{sy.shape}")
    seed = rng if isinstance(rng, int | np.integer) and not isinstance(rng, bool) else None
    if seed is not None:
        rng = np.random.default_rng(int(seed))
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy Generator or an int seed, got {rng!r}")

    def eval_rng(k: int) -> np.random.Generator:
        return (np.random.default_rng([int(seed), 7, k]) if seed is not None
                else np.random.default_rng(rng.integers(2**63)))

    deployed = deploy(net, schedule, copy_net=copy_net)
    layers = perturbed_layers(deployed)
    onset_list = [p.onset for p in layers if p.onset is not None]
    onset = min(onset_list) if onset_list else None
    clock = layers[0].clock if layers else 0
    faults: list[Fault] = []
    nonfinite = False

    clean = unwrap(deployed)
    try:
        acc_clean = float(np.mean(method.predict(clean, x, eval_rng(10**6)) == y))
    except Exception as exc:  # noqa: BLE001 - reported, the deployment goes on
        faults.append(_fault(exc, clock, "probe"))
        acc_clean = float("nan")

    def sync(q: int) -> None:
        for layer in layers:
            layer.clock = q

    eq, acc, cost_q, adapt_q = [], [], [], []
    served_acc = []
    totals = {"serve_queries": 0, "adapt_queries": 0, "eval_queries": 0, "serve_macs": 0,
              "adapt_macs": 0, "updates": 0}

    def evaluate(k: int) -> None:
        nonlocal nonfinite
        sync(clock)
        before = deployed.queries
        try:
            with probe(deployed):
                pred = method.predict(deployed, x, eval_rng(k))
            a = float(np.mean(pred == y))
        except Exception as exc:  # noqa: BLE001 - reported
            faults.append(_fault(exc, clock, "probe"))
            nonfinite |= isinstance(exc, FloatingPointError)
            a = float("nan")
        totals["eval_queries"] += deployed.queries - before
        eq.append(clock)
        acc.append(a)
        cost_q.append(totals["serve_queries"] + totals["adapt_queries"])
        adapt_q.append(totals["adapt_queries"])

    method.start(deployed, rng)
    k_eval = 0
    evaluate(k_eval)
    next_eval = clock + eval_every
    end = clock + horizon
    if stream is None:
        while next_eval <= end:
            clock = next_eval
            k_eval += 1
            evaluate(k_eval)
            next_eval += eval_every
    else:
        order = np.zeros(0, dtype=np.int64)
        steps = 0
        while clock < end:
            n = min(batch_size, end - clock, next_eval - clock)  # evaluate on the dot
            if len(order) < n:
                order = np.concatenate([order, rng.permutation(len(sx))])
            idx, order = order[:n], order[n:]
            xb, yb = sx[idx], sy[idx]
            sync(clock)
            before = deployed.queries
            served = None
            try:
                served = method.serve(deployed, xb, rng)
                if served.scores is not None and not np.all(np.isfinite(served.scores)):
                    nonfinite = True
                served_acc.append(float(np.mean(served.predictions == yb)))
                totals["serve_macs"] += method.serve_macs(deployed, n)
            except Exception as exc:  # noqa: BLE001 - reported, the deployment goes on
                faults.append(_fault(exc, clock, "serve"))
                served_acc.append(float("nan"))
            totals["serve_queries"] += deployed.queries - before
            clock += n
            sync(clock)
            ok = served is not None
            if served is not None:
                before = deployed.queries
                try:
                    with hold(deployed):
                        macs = method.adapt(deployed, xb, yb, served, rng)
                    totals["adapt_macs"] += int(macs)
                    totals["updates"] += 1 if macs else 0
                except Exception as exc:  # noqa: BLE001 - reported
                    faults.append(_fault(exc, clock, "adapt"))
                    nonfinite |= isinstance(exc, FloatingPointError)
                    ok = False
                totals["adapt_queries"] += deployed.queries - before
            if not _finite_model(deployed):
                nonfinite = True
            steps += 1
            if checkpoint is not None and ok and steps % checkpoint_every == 0:
                from .persist import save

                try:
                    save(checkpoint, deployed, method.learner)
                except Exception as exc:  # noqa: BLE001 - reported
                    faults.append(_fault(exc, clock, "checkpoint"))
            while clock >= next_eval:
                k_eval += 1
                evaluate(k_eval)
                next_eval += eval_every
    return RobustnessReport(
        name=name or (schedule.name if schedule is not None else "as deployed"),
        method=method.name, queries=np.asarray(eq, np.int64),
        accuracy=np.asarray(acc, float), onset=onset, accuracy_clean=acc_clean,
        tolerance=tolerance, cost_queries=np.asarray(cost_q, np.int64),
        adapt_queries=np.asarray(adapt_q, np.int64),
        served_accuracy=np.asarray(served_acc, float), cost=totals, nonfinite=nonfinite,
        faults=tuple(faults), n_eval=int(len(y)), network=deployed)
