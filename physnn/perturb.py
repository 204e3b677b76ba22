r"""Perturbations real hardware suffers, as composable wrappers around any ``PhysicalLayer``.

A :class:`Perturbed` layer wraps a physical layer with a list of perturbations and a seed::

    noisy = Perturbed(layer, AdditiveNoise(0.01), Drift(rate=1e-5),
                      DeadChannels(fraction=0.1, start=5_000), seed=0)

**Time.** A deployment has a clock, :attr:`Perturbed.clock`: the number of samples served
so far. Every perturbation is a pure function of the clock (and of the wrapper's seed), so
its effect "as of query ``q``" is defined for any ``q``:

- a plain :meth:`~physnn.PhysicalLayer.forward` serves traffic: the ``k``-th row of a batch
  is measured at instant ``clock + k`` and the clock advances by the batch size;
- inside :func:`same_instant` (used by :class:`~physnn.readouts.GoodnessReadout` for the
  ``K`` label hypotheses of each sample) the rows of one sample share one instant and the
  clock advances once per sample;
- inside :func:`probe` (evaluation) every row is measured as of one instant (the current
  clock or ``at=q``), and neither the clock, nor any running state, nor the model's physical
  parameters change: measuring does not change what is measured;
- inside :func:`hold` (training or calibration measurements during a deployment) the same
  holds, but the queries count as use of the hardware, not as evaluation.

:attr:`Perturbed.queries` counts every sample sent through the wrapper (the cost);
:attr:`Perturbed.probe_queries` the part spent inside :func:`probe`.

**Windows and schedules.** Every perturbation takes keyword-only ``start`` / ``stop`` (query
indices): it acts on the samples measured at ``start <= q < stop`` only. Noise levels,
drifts and parameter values also accept a :class:`Schedule`: a small immutable description
of a value over queries (:class:`Ramp`, :class:`Step`, :class:`RandomWalk`,
:class:`Cyclic`, :class:`Constant`), composed with ``+`` and scaled with ``*``.

**Replay.** Random walks are generated from the wrapper's seed as a function of the query
index alone (counter-based), so a drift does not depend on how the traffic was cut into
batches nor on the generator a learner passes to ``forward``. The measurement noise of
served traffic is drawn from generators seeded by ``(seed, q0)`` (``q0`` = the clock at the
start of the batch) unless ``forward`` gets an ``rng``; after :meth:`Perturbed.reset` the same
sequence of batches gives the same answers bit for bit (an exact replay).

Output and input perturbations act on values; :class:`ParameterDrift` acts on a named
physical parameter of the wrapped model (``layer.params``) and is held constant within a
batch (a batch is one acquisition).
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import math
import numbers
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .physical import PhysicalLayer

__all__ = [
    "AdditiveNoise",
    "Constant",
    "Cyclic",
    "DeadChannels",
    "Drift",
    "MultiplicativeNoise",
    "ParameterDrift",
    "Perturbation",
    "Perturbed",
    "Quantize",
    "Ramp",
    "RandomWalk",
    "Scaled",
    "Schedule",
    "Shift",
    "Step",
    "Sum",
    "hold",
    "perturbed_layers",
    "probe",
    "same_instant",
]

_SIDES = ("input", "output")


# ----------------------------------------------------------------------------- validation


def _check_on(on: str) -> None:
    if on not in _SIDES:
        raise ValueError(f"on must be 'input' or 'output', got {on!r}")


def _finite(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) \
            or not math.isfinite(float(value)):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def _nonneg(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) \
            or not (math.isfinite(float(value)) and value >= 0):
        raise ValueError(f"{name} must be finite and >= 0, got {value!r}")


def _index(name: str, value: Any, minimum: int = 0) -> int:
    """A query index: an integer (or an integral float such as ``1e4``) >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be an integer query index, got {value!r}")
    if isinstance(value, numbers.Integral):
        iv = int(value)
    else:
        fv = float(value)
        if not math.isfinite(fv) or not fv.is_integer():
            raise ValueError(f"{name} must be an integer query index (a count of samples "
                             f"served), got {value!r}")
        iv = int(fv)
    if iv < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return iv


def _set(obj: Any, name: str, value: Any) -> None:
    object.__setattr__(obj, name, value)


# ----------------------------------------------------------------------------- random walks

_WALK_BLOCK = 1024  # queries per generated block of walk steps
_WALK_MEMO: OrderedDict[tuple, np.ndarray] = OrderedDict()  # key -> W at block starts
_STEP_MEMO: OrderedDict[tuple, np.ndarray] = OrderedDict()  # (key, block) -> W within block
_MEMO_SIZE = 64


def _block_steps(key: tuple[int, ...], block: int, n: int) -> np.ndarray:
    gen = np.random.default_rng(np.random.SeedSequence([*key, int(block)]))
    return gen.standard_normal((_WALK_BLOCK, n))


def _unit_walk(key: tuple[int, ...], q: np.ndarray, n: int) -> np.ndarray:
    r"""Unit-step random walk :math:`\hat W(q) = \sum_{p < q} \xi_p`, shape ``(len(q), n)``.

    The steps :math:`\xi_p \sim N(0, 1)` (``n`` independent channels) are drawn from
    generators seeded by ``(key, p // 1024)``: the walk is a pure function of the query
    index, the same however it is evaluated (in order, out of order, in any batches). The
    positions at block boundaries and the last blocks used are memoised (a cache of a pure
    function: results never depend on it).
    """
    q = np.asarray(q, dtype=np.int64)
    if q.size == 0:
        return np.zeros((0, n))
    if q.min() < 0:
        raise ValueError("random walks are defined for query indices >= 0")
    blocks = q // _WALK_BLOCK
    need = int(blocks.max())
    mkey = (*key, n)
    starts = _WALK_MEMO.get(mkey)
    if starts is None:
        starts = np.zeros((1, n))
    if len(starts) <= need:
        grown = [starts]
        last = starts[-1]
        for b in range(len(starts) - 1, need):
            last = last + _block_steps(key, b, n).sum(axis=0)
            grown.append(last[None])
        starts = np.concatenate(grown)
    _WALK_MEMO[mkey] = starts
    _WALK_MEMO.move_to_end(mkey)
    while len(_WALK_MEMO) > _MEMO_SIZE:
        _WALK_MEMO.popitem(last=False)
    out = np.empty((q.size, n))
    for b in np.unique(blocks):
        skey = (*mkey, int(b))
        inner = _STEP_MEMO.get(skey)
        if inner is None:
            steps = _block_steps(key, int(b), n)
            inner = np.concatenate([np.zeros((1, n)), np.cumsum(steps, axis=0)[:-1]])
            _STEP_MEMO[skey] = inner
            while len(_STEP_MEMO) > _MEMO_SIZE:
                _STEP_MEMO.popitem(last=False)
        sel = blocks == b
        out[sel] = starts[b] + inner[q[sel] - b * _WALK_BLOCK]
    return out


# ----------------------------------------------------------------------------- schedules


class Schedule(ABC):
    """A value over query indices: an immutable description, composable with ``+``, ``-``
    and multiplication by a number.

    ``schedule(q)`` takes an integer query index or an array of them and returns the value
    (a float, or a float64 array of the same shape). :attr:`bounds` gives the range of
    values it can take (used to validate, e.g., that a noise level stays >= 0), and
    :attr:`onset` the first query at which it departs from its value at ``q = 0``
    (``None``: never).
    """

    @abstractmethod
    def _eval(self, q: np.ndarray) -> np.ndarray:
        """Values at the integer array ``q`` (float64, same shape)."""

    @property
    @abstractmethod
    def bounds(self) -> tuple[float, float]:
        """``(lowest, highest)`` value over all queries."""

    @property
    @abstractmethod
    def onset(self) -> int | None:
        """First query at which the value differs from its value at ``q = 0``."""

    def __call__(self, q: Any) -> Any:
        arr = np.asarray(q)
        if not np.issubdtype(arr.dtype, np.integer):
            raise TypeError(f"query indices must be integers, got dtype {arr.dtype}")
        out = self._eval(arr.astype(np.int64))
        return float(out) if arr.ndim == 0 else out

    def __add__(self, other: Any) -> Schedule:
        return Sum((self, _as_schedule(other, "right operand of +")))

    def __radd__(self, other: Any) -> Schedule:
        return Sum((_as_schedule(other, "left operand of +"), self))

    def __sub__(self, other: Any) -> Schedule:
        return self + (-1.0) * _as_schedule(other, "right operand of -")

    def __rsub__(self, other: Any) -> Schedule:
        return _as_schedule(other, "left operand of -") + (-1.0) * self

    def __mul__(self, factor: Any) -> Schedule:
        if isinstance(factor, Schedule):
            return NotImplemented
        return Scaled(_finite("factor", factor), self)

    __rmul__ = __mul__

    def __neg__(self) -> Schedule:
        return Scaled(-1.0, self)


def _as_schedule(v: Any, what: str) -> Schedule:
    if isinstance(v, Schedule):
        return v
    return Constant(_finite(what, v))


def _schedule_or_float(name: str, v: Any, *, nonneg: bool = False) -> Any:
    if isinstance(v, Schedule):
        if nonneg and v.bounds[0] < 0:
            raise ValueError(f"{name} must stay >= 0, but the schedule {v!r} reaches "
                             f"{v.bounds[0]:g}; use a schedule bounded below by 0 (a random "
                             "walk is not)")
        return v
    if nonneg:
        _nonneg(name, v)
    return _finite(name, v)


@dataclass(frozen=True)
class Constant(Schedule):
    """The same value at every query."""

    value: float

    def __post_init__(self) -> None:
        _set(self, "value", _finite("value", self.value))

    def _eval(self, q):
        return np.full(q.shape, self.value)

    @property
    def bounds(self):
        return (self.value, self.value)

    @property
    def onset(self):
        return None


@dataclass(frozen=True)
class Ramp(Schedule):
    r"""Linear ramp: ``initial`` up to query ``start``, ``to`` from query ``stop`` on,
    linear in between.

    .. math:: s(q) = s_0 + (s_1 - s_0)\,\mathrm{clip}\!\Big(\frac{q - q_a}{q_b - q_a}, 0, 1\Big)

    Parameters
    ----------
    start, stop : int
        Queries :math:`q_a < q_b` where the ramp begins and ends.
    to : float
        Final value :math:`s_1` (units of what it drives).
    initial : float, default 0
        Value :math:`s_0` before the ramp.
    """

    start: int
    stop: int
    to: float
    initial: float = 0.0

    def __post_init__(self) -> None:
        _set(self, "start", _index("start", self.start))
        _set(self, "stop", _index("stop", self.stop))
        if self.stop <= self.start:
            raise ValueError(f"Ramp needs start < stop, got start={self.start}, "
                             f"stop={self.stop}")
        _set(self, "to", _finite("to", self.to))
        _set(self, "initial", _finite("initial", self.initial))

    def _eval(self, q):
        frac = np.clip((q - self.start) / (self.stop - self.start), 0.0, 1.0)
        return self.initial + (self.to - self.initial) * frac

    @property
    def bounds(self):
        return (min(self.initial, self.to), max(self.initial, self.to))

    @property
    def onset(self):
        return self.start if self.to != self.initial else None


@dataclass(frozen=True)
class Step(Schedule):
    """A sudden change: 0 before query ``at``, ``size`` from ``at`` on."""

    at: int
    size: float

    def __post_init__(self) -> None:
        _set(self, "at", _index("at", self.at))
        _set(self, "size", _finite("size", self.size))

    def _eval(self, q):
        return np.where(q >= self.at, self.size, 0.0)

    @property
    def bounds(self):
        return (min(0.0, self.size), max(0.0, self.size))

    @property
    def onset(self):
        return self.at if self.size != 0 else None


@dataclass(frozen=True)
class RandomWalk(Schedule):
    r"""A random walk of step :math:`\sigma` per query, starting at 0 at query ``start``.

    .. math:: s(q) = \sigma \sum_{start \le p < q} \xi_p, \qquad \xi_p \sim N(0, 1)

    The steps are a pure function of ``seed`` and the query index (counter-based), so the
    walk is the same however it is evaluated. Two walks with the same seed are identical:
    give independent parts of a scenario different seeds.

    Parameters
    ----------
    std : float
        Step :math:`\sigma` per query (units of what it drives).
    seed : int, default 0
    start : int, default 0
    """

    std: float
    seed: int = 0
    start: int = 0

    def __post_init__(self) -> None:
        _nonneg("std", self.std)
        _set(self, "std", float(self.std))
        _set(self, "seed", _index("seed", self.seed))
        _set(self, "start", _index("start", self.start))

    def _eval(self, q):
        flat = q.ravel()
        key = (self.seed, 0x5C4ED)
        w = _unit_walk(key, np.maximum(flat, self.start), 1)[:, 0]
        w = w - _unit_walk(key, np.array([self.start]), 1)[0, 0]
        return (self.std * np.where(flat >= self.start, w, 0.0)).reshape(q.shape)

    @property
    def bounds(self):
        return (-math.inf, math.inf) if self.std > 0 else (0.0, 0.0)

    @property
    def onset(self):
        return self.start if self.std > 0 else None


@dataclass(frozen=True)
class Cyclic(Schedule):
    r"""A periodic change (temperature cycles, mains hum):
    :math:`s(q) = A \sin(2\pi (q - q_a) / P + \varphi)` from query :math:`q_a` = ``start``
    on, 0 before.

    Parameters
    ----------
    amplitude : float
        :math:`A` (units of what it drives).
    period : float
        :math:`P` in queries (> 0).
    phase : float, default 0
        :math:`\varphi` in radians.
    start : int, default 0
    """

    amplitude: float
    period: float
    phase: float = 0.0
    start: int = 0

    def __post_init__(self) -> None:
        _set(self, "amplitude", _finite("amplitude", self.amplitude))
        _set(self, "period", _finite("period", self.period))
        if self.period <= 0:
            raise ValueError(f"period must be > 0 queries, got {self.period}")
        _set(self, "phase", _finite("phase", self.phase))
        _set(self, "start", _index("start", self.start))

    def _eval(self, q):
        v = self.amplitude * np.sin(2 * np.pi * (q - self.start) / self.period + self.phase)
        return np.where(q >= self.start, v, 0.0)

    @property
    def bounds(self):
        a = abs(self.amplitude)
        return (-a, a)

    @property
    def onset(self):
        return self.start if self.amplitude != 0 else None


@dataclass(frozen=True)
class Sum(Schedule):
    """The sum of several schedules (what ``a + b`` builds)."""

    terms: tuple

    def __post_init__(self) -> None:
        terms = []
        for t in tuple(self.terms):
            if not isinstance(t, Schedule):
                raise TypeError(f"Sum terms must be Schedule objects, got {t!r}")
            terms.extend(t.terms if isinstance(t, Sum) else (t,))
        if not terms:
            raise ValueError("Sum needs at least one term")
        _set(self, "terms", tuple(terms))

    def _eval(self, q):
        return sum(t._eval(q) for t in self.terms)

    @property
    def bounds(self):
        return (sum(t.bounds[0] for t in self.terms), sum(t.bounds[1] for t in self.terms))

    @property
    def onset(self):
        on = [t.onset for t in self.terms if t.onset is not None]
        return min(on) if on else None


@dataclass(frozen=True)
class Scaled(Schedule):
    """``factor`` times a schedule (what ``factor * schedule`` builds)."""

    factor: float
    schedule: Schedule

    def __post_init__(self) -> None:
        _set(self, "factor", _finite("factor", self.factor))
        if not isinstance(self.schedule, Schedule):
            raise TypeError(f"schedule must be a Schedule, got {self.schedule!r}")

    def _eval(self, q):
        return self.factor * self.schedule._eval(q)

    @property
    def bounds(self):
        lo, hi = self.schedule.bounds
        a = (0.0 if self.factor == 0 else self.factor * lo, 0.0 if self.factor == 0
             else self.factor * hi)
        return (min(a), max(a))

    @property
    def onset(self):
        return self.schedule.onset if self.factor != 0 else None


# ----------------------------------------------------------------------------- perturbations


@dataclass(frozen=True)
class Perturbation(ABC):
    """Base of all perturbations: an immutable description plus two pure functions.

    ``init(n_channels, rng)`` returns the initial running state; ``apply(v, q, state, rng)``
    receives the values ``v`` (batch, channels), the query index (instant) of every sample
    ``q`` (batch,), the state and a generator, and returns ``(new_values, new_state)``.
    :class:`Perturbed` applies a perturbation only to the rows measured inside its window
    ``start <= q < stop``; the others pass unchanged.

    Parameters
    ----------
    start : int, default 0
        Keyword-only, on every perturbation: first query index at which it acts.
    stop : int, optional
        Keyword-only: first query index at which it no longer acts (``None``: never stops).
    """

    start: int = field(default=0, kw_only=True)
    stop: int | None = field(default=None, kw_only=True)

    def _check_window(self) -> None:
        _set(self, "start", _index("start", self.start))
        if self.stop is not None:
            _set(self, "stop", _index("stop", self.stop))
            if self.stop <= self.start:
                raise ValueError(f"stop must be > start, got start={self.start}, "
                                 f"stop={self.stop}")

    def active(self, q: np.ndarray) -> np.ndarray:
        """Boolean mask: which of the instants ``q`` fall inside the window."""
        q = np.asarray(q)
        on = q >= self.start
        return on if self.stop is None else on & (q < self.stop)

    @property
    def onset(self) -> int | None:
        """First query at which this perturbation changes anything (``None``: never)."""
        return self.start

    def check(self, n_channels: int) -> None:
        """Raise ``ValueError`` unless this perturbation fits a side of ``n_channels``."""
        return None

    def init(self, n_channels: int, rng: np.random.Generator) -> Any:
        """Initial running state (``None`` when the perturbation keeps none)."""
        return None

    @abstractmethod
    def apply(self, v: np.ndarray, q: np.ndarray, state: Any,
              rng: np.random.Generator) -> tuple[np.ndarray, Any]:
        """Perturb a batch ``v`` measured at query indices ``q``."""


def _noise_onset(p: Any) -> int | None:
    if isinstance(p.std, Schedule):
        if p.std(p.start) > 0:
            return p.start
        on = p.std.onset
        return None if on is None else max(p.start, on)
    return p.start if p.std > 0 else None


@dataclass(frozen=True)
class AdditiveNoise(Perturbation):
    r"""Additive white Gaussian noise: :math:`v \to v + \sigma(q) \xi`, :math:`\xi \sim N(0, 1)`.

    Parameters
    ----------
    std : float or Schedule
        :math:`\sigma`, in the units of the values (a schedule gives a level per query,
        e.g. ``Ramp(0, 10_000, to=0.1)`` for growing noise; it must stay >= 0).
    on : {"output", "input"}
    """

    std: Any
    on: str = "output"

    def __post_init__(self) -> None:
        self._check_window()
        _set(self, "std", _schedule_or_float("std", self.std, nonneg=True))
        _check_on(self.on)

    @property
    def onset(self):
        return _noise_onset(self)

    def apply(self, v, q, state, rng):
        xi = rng.standard_normal(v.shape, dtype=np.float32)
        if isinstance(self.std, Schedule):
            return v + self.std(q).astype(np.float32)[:, None] * xi, state
        return v + np.float32(self.std) * xi, state


@dataclass(frozen=True)
class MultiplicativeNoise(Perturbation):
    r"""Gain noise: :math:`v \to v (1 + \sigma(q) \xi)`, :math:`\xi \sim N(0, 1)` per value.

    Parameters
    ----------
    std : float or Schedule
        Relative standard deviation :math:`\sigma` (dimensionless, >= 0).
    on : {"output", "input"}
    """

    std: Any
    on: str = "output"

    def __post_init__(self) -> None:
        self._check_window()
        _set(self, "std", _schedule_or_float("std", self.std, nonneg=True))
        _check_on(self.on)

    @property
    def onset(self):
        return _noise_onset(self)

    def apply(self, v, q, state, rng):
        noise = rng.standard_normal(v.shape, dtype=np.float32)
        if isinstance(self.std, Schedule):
            return v * (np.float32(1) + self.std(q).astype(np.float32)[:, None] * noise), state
        return v * (np.float32(1) + np.float32(self.std) * noise), state


@dataclass(frozen=True)
class Drift(Perturbation):
    r"""Slow drift in query count ``q``: linear trend, random walk and an optional schedule.

    .. math:: d(q) = r (q - q_a) + \sigma \big(\hat W(q) - \hat W(q_a)\big) + s(q),
              \qquad \hat W(q) = \sum_{p < q} \xi_p

    with :math:`q_a` = ``start``, applied as an offset :math:`v \to v + d(q)`
    (``mode="offset"``) or a gain :math:`v \to v (1 + d(q))` (``mode="gain"``). The walk
    steps once per query (a step of :math:`\sigma`), continuously across samples and
    batches, and is a pure function of the wrapper's seed and ``q``.

    Parameters
    ----------
    rate : float
        Linear trend :math:`r` per query.
    walk_std : float
        Random-walk step :math:`\sigma` per query.
    mode : {"offset", "gain"}
    per_channel : bool
        Independent walks per channel (``True``) or one common walk.
    on : {"output", "input"}
    schedule : Schedule, optional (keyword-only)
        An extra common term :math:`s(q)` (e.g. :class:`Cyclic` temperature cycles).
    """

    rate: float = 0.0
    walk_std: float = 0.0
    mode: str = "offset"
    per_channel: bool = True
    on: str = "output"
    schedule: Schedule | None = field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        self._check_window()
        _set(self, "rate", _finite("rate", self.rate))
        _nonneg("walk_std", self.walk_std)
        if self.mode not in ("offset", "gain"):
            raise ValueError(f"mode must be 'offset' or 'gain', got {self.mode!r}")
        _check_on(self.on)
        if self.schedule is not None and not isinstance(self.schedule, Schedule):
            raise TypeError(f"schedule must be a Schedule or None, got {self.schedule!r}")

    def init(self, n_channels, rng):
        """The walk's key (drawn from the wrapper's seed; constant afterwards)."""
        return (int(rng.integers(2**62)),)

    def drift(self, q: np.ndarray, state: tuple, width: int) -> np.ndarray:
        """Drift ``d`` for samples at query indices ``q`` on ``width`` channels, shape
        (batch, width) (or (batch, 1) for a common walk without ``per_channel``)."""
        q = np.asarray(q, dtype=np.int64)
        d = self.rate * (q - self.start)[:, None].astype(np.float64)
        if self.walk_std > 0:
            n = width if self.per_channel else 1
            t = np.maximum(q, self.start)
            w = _unit_walk(state, t, n) - _unit_walk(state, np.array([self.start]), n)
            d = d + self.walk_std * w
        if self.schedule is not None:
            d = d + self.schedule(q)[:, None]
        return d

    def apply(self, v, q, state, rng):
        d = self.drift(q, state, v.shape[1]).astype(np.float32)
        return (v + d if self.mode == "offset" else v * (np.float32(1) + d)), state


@dataclass(frozen=True)
class Shift(Perturbation):
    r"""Sudden change at a given query: for :math:`q \ge q_s`, :math:`v \to g v + o`.

    Parameters
    ----------
    at_query : int
        Query index :math:`q_s` of the first affected sample.
    offset : float or array of shape (channels,)
        Offset :math:`o`.
    gain : float or array of shape (channels,)
        Gain :math:`g`.
    on : {"output", "input"}
    """

    at_query: int
    offset: Any = 0.0
    gain: Any = 1.0
    on: str = "output"

    def __post_init__(self) -> None:
        self._check_window()
        _set(self, "at_query", _index("at_query", self.at_query))
        for name in ("offset", "gain"):
            try:
                arr = np.asarray(getattr(self, name), dtype=float)
            except (TypeError, ValueError):
                arr = np.array([np.nan])
            if arr.ndim > 1 or arr.size == 0 or not np.all(np.isfinite(arr)):
                raise ValueError(f"{name} must be a finite scalar or 1-D sequence, got "
                                 f"{getattr(self, name)!r}")
            _set(self, name, float(arr) if arr.ndim == 0 else tuple(arr.tolist()))
        _check_on(self.on)

    @property
    def onset(self):
        return max(self.start, self.at_query)

    def check(self, n_channels):
        for name in ("offset", "gain"):
            v = getattr(self, name)
            if isinstance(v, tuple) and len(v) not in (1, n_channels):
                raise ValueError(f"Shift.{name} has {len(v)} values but the {self.on} side has "
                                 f"{n_channels} channels; give a scalar or {n_channels} values")

    def apply(self, v, q, state, rng):
        hit = (q >= self.at_query)[:, None]
        shifted = v * np.asarray(self.gain, np.float32) + np.asarray(self.offset, np.float32)
        return np.where(hit, shifted, v).astype(np.float32, copy=False), state


@dataclass(frozen=True)
class DeadChannels(Perturbation):
    """Channels that read (or, on the input side, transmit) exactly zero.

    With ``start`` / ``stop`` the channels die at query ``start`` (and come back at
    ``stop``); :attr:`Perturbed.dead_outputs` reports only the channels dead now.

    Parameters
    ----------
    channels : sequence of int, optional
        Indices of the dead channels.
    fraction : float, optional
        Instead of ``channels``: this fraction of channels, drawn from the wrapper's seed.
    on : {"output", "input"}
    """

    channels: tuple[int, ...] | None = None
    fraction: float | None = None
    on: str = "output"

    def __post_init__(self) -> None:
        self._check_window()
        if (self.channels is None) == (self.fraction is None):
            raise ValueError("give exactly one of channels= or fraction=")
        if self.fraction is not None:
            f = _finite("fraction", self.fraction)
            if not 0.0 <= f <= 1.0:
                raise ValueError(f"fraction must be in [0, 1], got {self.fraction}")
            _set(self, "fraction", f)
        if self.channels is not None:
            _set(self, "channels", tuple(_index("channels[i]", c, minimum=-2**62)
                                         for c in self.channels))
        _check_on(self.on)

    def check(self, n_channels):
        if self.channels is not None:
            bad = [c for c in self.channels if not -n_channels <= c < n_channels]
            if bad:
                raise ValueError(f"dead channels {bad} out of range for {n_channels} channels")

    def init(self, n_channels, rng):
        mask = np.zeros(n_channels, dtype=bool)
        if self.channels is not None:
            self.check(n_channels)
            mask[list(self.channels)] = True
        else:
            k = int(round(self.fraction * n_channels))
            mask[rng.choice(n_channels, size=k, replace=False)] = True
        return mask

    def apply(self, v, q, state, rng):
        v = v.copy()
        v[:, state] = 0.0
        return v, state


@dataclass(frozen=True)
class Quantize(Perturbation):
    r"""Quantisation to ``bits`` bits over ``[low, high]`` (a DAC or an ADC).

    .. math:: v \to l + \Delta\, \mathrm{round}\big((\mathrm{clip}(v, l, h) - l)/\Delta\big),
              \quad \Delta = (h - l) / (2^{bits} - 1)

    with :math:`l` = ``low`` and :math:`h` = ``high``.

    Parameters
    ----------
    bits : int
    low, high : float
        Full-scale range; values outside are clipped.
    on : {"input", "output"}
    """

    bits: int
    low: float = 0.0
    high: float = 1.0
    on: str = "output"

    def __post_init__(self) -> None:
        self._check_window()
        bits = _index("bits", self.bits)
        if not 1 <= bits <= 24:
            raise ValueError(f"bits must be in 1..24, got {self.bits}")
        _set(self, "bits", bits)
        low, high = _finite("low", self.low), _finite("high", self.high)
        if not high > low:
            raise ValueError(f"need finite low < high, got low={self.low}, high={self.high}")
        _set(self, "low", low)
        _set(self, "high", high)
        _check_on(self.on)

    def apply(self, v, q, state, rng):
        step = (self.high - self.low) / (2 ** int(self.bits) - 1)
        k = np.round((np.clip(v, self.low, self.high) - self.low) / step)
        return (self.low + k * step).astype(np.float32), state


@dataclass(frozen=True)
class ParameterDrift(Perturbation):
    r"""Change of a named physical parameter of the wrapped model with query count.

    .. math:: p(q_0) = p_0 + r (q_0 - q_a) + \sigma\big(\hat W(q_0) - \hat W(q_a)\big)
              + s\,[q_0 \ge q_s] + S(q_0)

    for :math:`q_a \le q_0 <` ``stop`` (:math:`q_a` = ``start``), :math:`p_0` outside,
    with :math:`q_0` the instant of the batch's first sample (the parameter is constant
    within a batch), :math:`\hat W` a unit-step random walk (a pure function of the
    wrapper's seed and the query index), :math:`S` an optional :class:`Schedule` and ``p0``
    the parameter's value when the wrapper was built (restored by :meth:`Perturbed.reset`).
    Several drifts of one parameter add up.

    Parameters
    ----------
    name : str
        A field of the wrapped layer's ``params`` (e.g. ``"exposure"``, ``"detuning"``).
    rate : float
        Linear trend :math:`r` per query.
    walk_std : float
        Random-walk step :math:`\sigma` per query.
    at_query : int, optional
        Query :math:`q_s` of a sudden shift of size ``shift``.
    shift : float
        Size :math:`s` of that shift.
    schedule : Schedule, optional (keyword-only)
        :math:`S(q)`, e.g. ``Ramp(0, 50_000, to=-0.4)`` or ``Cyclic(0.01, 20_000)``.
    every : int, default 1 (keyword-only)
        Sampling period of the change in queries: the parameter takes the value of
        :math:`\lfloor q_0 / \mathrm{every} \rfloor \mathrm{every}` (a slow thermal time
        constant; a model whose parameter change is expensive to apply then recomputes
        only every ``every`` queries).
    """

    name: str
    rate: float = 0.0
    walk_std: float = 0.0
    at_query: int | None = None
    shift: float = 0.0
    on: str = "parameter"
    schedule: Schedule | None = field(default=None, kw_only=True)
    every: int = field(default=1, kw_only=True)

    def __post_init__(self) -> None:
        self._check_window()
        _set(self, "every", _index("every", self.every, minimum=1))
        if not isinstance(self.name, str) or not self.name:
            raise TypeError(f"name must be a parameter name (a non-empty str), got "
                            f"{self.name!r}")
        if not np.isfinite(self.rate) or not np.isfinite(self.shift):
            raise ValueError("rate and shift must be finite")
        _nonneg("walk_std", self.walk_std)
        if self.at_query is not None:
            _set(self, "at_query", _index("at_query", self.at_query))
        if self.on != "parameter":
            raise ValueError("ParameterDrift acts on a parameter; leave on='parameter'")
        if self.schedule is not None and not isinstance(self.schedule, Schedule):
            raise TypeError(f"schedule must be a Schedule or None, got {self.schedule!r}")

    @property
    def onset(self):
        if self.rate != 0 or self.walk_std > 0:
            return self.start
        on = []
        if self.at_query is not None and self.shift != 0:
            on.append(max(self.start, self.at_query))
        if self.schedule is not None:
            if self.schedule(self.start) != 0:
                on.append(self.start)
            elif self.schedule.onset is not None:
                on.append(max(self.start, self.schedule.onset))
        return min(on) if on else None

    def init(self, n_channels, rng):
        """The walk's key (drawn from the wrapper's seed; constant afterwards)."""
        return (int(rng.integers(2**62)),)

    def apply(self, v, q, state, rng):
        """Values pass unchanged: :class:`Perturbed` applies :meth:`value` to the parameter."""
        return v, state

    def deviation(self, q0: int, state: tuple) -> float:
        """:math:`p(q_0) - p_0` for a batch starting at query ``q0``."""
        if not bool(self.active(np.array(q0))):
            return 0.0
        q0 = max(int(q0) - int(q0) % self.every, self.start)
        d = self.rate * (q0 - self.start)
        if self.walk_std > 0:
            w = _unit_walk(state, np.array([q0, self.start]), 1)[:, 0]
            d += self.walk_std * float(w[0] - w[1])
        if self.at_query is not None and q0 >= self.at_query:
            d += self.shift
        if self.schedule is not None:
            d += float(self.schedule(int(q0)))
        return float(d)

    def value(self, p0: float, q0: int, state: tuple) -> float:
        """Parameter value for a batch starting at query ``q0``."""
        return float(p0 + self.deviation(q0, state))


# ----------------------------------------------------------------------------- clocks


@dataclass(frozen=True)
class _Timing:
    """How the :class:`Perturbed` layers in the current context place rows in time."""

    mode: str = "serve"  # "serve", "probe" or "hold"
    at: int | None = None
    targets: frozenset | None = None  # Perturbed layers concerned (None: all)
    group: int | None = None  # rows per sample block (same_instant)


_TIMING: contextvars.ContextVar[_Timing | None] = contextvars.ContextVar("physnn_timing",
                                                                         default=None)
_SERVE = _Timing()


def _now() -> _Timing:
    t = _TIMING.get()
    return _SERVE if t is None else t


def perturbed_layers(*targets: Any) -> list[Perturbed]:
    """The :class:`Perturbed` layers of networks, blocks or layers, wrappers of wrappers
    included (in order, no repeats)."""
    found: list[Perturbed] = []
    for t in targets:
        if isinstance(t, Perturbed):
            layers = [t]
        elif isinstance(t, PhysicalLayer):
            layers = []
        elif hasattr(t, "blocks"):
            layers = [b.physical for b in t.blocks if isinstance(b.physical, Perturbed)]
        elif hasattr(t, "physical"):
            layers = [t.physical] if isinstance(t.physical, Perturbed) else []
        else:
            raise TypeError("targets must be physnn networks, blocks or physical layers, got "
                            f"{type(t).__name__}")
        for layer in layers:
            while isinstance(layer, Perturbed):  # wrappers of wrappers too
                if not any(layer is f for f in found):
                    found.append(layer)
                layer = layer.layer
    return found


@contextlib.contextmanager
def _timing(mode: str, at: Any, targets: tuple) -> Iterator[None]:
    if at is not None:
        at = _index("at", at)
    scope = frozenset(perturbed_layers(*targets)) if targets else None
    outer = _now()
    if outer.mode != "serve":  # nested: keep the enclosing instant and the layers it holds
        if at is None:
            at = outer.at
        if scope is not None:
            scope = None if outer.targets is None else outer.targets | scope
    token = _TIMING.set(dataclasses.replace(outer, mode=mode, at=at, targets=scope))
    try:
        yield
    finally:
        _TIMING.reset(token)


def probe(*targets: Any, at: int | None = None) -> contextlib.AbstractContextManager[None]:
    """Measure "as of query ``at``" without moving the deployment.

    Inside ``with probe(net):`` every sample sent through the :class:`Perturbed` layers of
    ``targets`` (networks, blocks or layers; all of them when none is given) is measured at
    one instant: ``at``, or each layer's current :attr:`~Perturbed.clock`. Their clocks,
    running states and the wrapped models' physical parameters are the same afterwards, so
    evaluating a deployment does not change it. The queries count in
    :attr:`Perturbed.queries` and :attr:`Perturbed.probe_queries`.

    Nested inside another :func:`probe` or :func:`hold`, it measures at the enclosing
    instant unless given its own ``at``, and every layer the enclosing context concerned stays
    out of the deployment's time (so a learner's ``evaluate``, which probes its network,
    measures "as of q" inside ``with probe(net, at=q)``).

    Example: ``with probe(net, at=20_000): acc = np.mean(net.predict(x) == y)``
    """
    return _timing("probe", at, targets)


def hold(*targets: Any, at: int | None = None) -> contextlib.AbstractContextManager[None]:
    """Measure at one instant without advancing the clock, counted as use of the hardware.

    For the measurements a training rule or a calibration makes during a deployment (an
    online update, a twin refit): they happen at the current instant (or ``at``), cost
    physical queries (:attr:`Perturbed.queries`) and leave the clock, the running states and
    the physical parameters as they were. Otherwise as :func:`probe`.
    """
    return _timing("hold", at, targets)


@contextlib.contextmanager
def same_instant(n_samples: int) -> Iterator[None]:
    """Rows that belong to one sample are measured at one instant.

    Inside this context, a batch whose length is a multiple of ``n_samples`` is read as
    blocks of ``n_samples`` rows, row ``r`` belonging to sample ``r % n_samples`` (the layout
    of :class:`~physnn.readouts.GoodnessReadout`'s ``K`` label hypotheses). When served, the
    rows of sample ``i`` are measured at instant ``clock + i`` and the clock advances by
    ``n_samples``; a drift that changes per query then sees every hypothesis of a sample at
    the same instant.
    """
    n = _index("n_samples", n_samples, minimum=1)
    token = _TIMING.set(dataclasses.replace(_now(), group=n))
    try:
        yield
    finally:
        _TIMING.reset(token)


# ----------------------------------------------------------------------------- the wrapper


def _layer_name(layer: PhysicalLayer) -> str:
    name = getattr(layer, "name", None)
    return name if isinstance(name, str) and name else type(layer).__name__


class Perturbed(PhysicalLayer):
    """A physical layer seen through a list of perturbations; seeded and exactly replayable.

    Example: ``Perturbed(OpticalSpeckle(in_features=64, out_features=64), AdditiveNoise(0.01),
    seed=0)``

    Order per batch: parameter drifts set the model's parameters for this batch, input
    perturbations act on ``x`` (in the order given), the wrapped layer is queried, output
    perturbations act on ``y`` (in the order given). Each perturbation acts only on the rows
    measured inside its window. Nothing changes (clock, states, parameters) when the batch
    fails.

    Parameters
    ----------
    layer : PhysicalLayer
        The system to perturb.
    *perturbations : Perturbation
        Applied in order.
    seed : int
        Seeds every random choice of the wrapper (dead-channel draws, random walks) and,
        unless ``forward`` is given an ``rng``, the measurement noise too.
    """

    def __init__(self, layer: PhysicalLayer, *perturbations: Perturbation, seed: int = 0) -> None:
        if not isinstance(layer, PhysicalLayer):
            raise TypeError(f"layer must be a PhysicalLayer, got {type(layer).__name__}")
        seed = _index("seed", seed)
        for i, p in enumerate(perturbations):
            if not isinstance(p, Perturbation):
                raise TypeError(f"perturbations must be Perturbation objects, got {p!r}")
            if isinstance(p, ParameterDrift):
                if layer.params is None or not dataclasses.is_dataclass(layer.params):
                    raise TypeError(f"{type(layer).__name__} exposes no physical parameters "
                                    f"for ParameterDrift({p.name!r})")
                names = [f.name for f in dataclasses.fields(layer.params)]
                if p.name not in names:
                    raise KeyError(f"{type(layer).__name__} has no parameter {p.name!r}; "
                                   f"valid names are {names}")
            else:
                n = layer.in_features if p.on == "input" else layer.out_features
                try:
                    p.check(n)
                except ValueError as exc:
                    raise ValueError(f"perturbations[{i}] ({type(p).__name__}) does not fit "
                                     f"{_layer_name(layer)}: {exc}") from exc
        super().__init__()
        self.layer = layer
        self.perturbations = tuple(perturbations)
        self.seed = seed
        self.in_features = layer.in_features
        self.out_features = layer.out_features
        self._base_params = layer.params
        self._pending: tuple | None = None
        self.reset()

    @property
    def name(self) -> str:
        """The wrapped layer's name (a :class:`~physnn.CallableLayer`'s ``name``, else its
        class name): what errors report."""
        return _layer_name(self.layer)

    def reset(self) -> None:
        """Restart the schedule: clock and query counts 0, initial states, original
        parameters."""
        self._queries = 0
        self._clock = 0
        self._probe_queries = 0
        self._hold_queries = 0
        if self._base_params is not None:
            self.layer.params = self._base_params
            self.layer._params_changed()
        self._states = []
        for i, p in enumerate(self.perturbations):
            rng = np.random.default_rng(np.random.SeedSequence([self.seed, 0, i]))
            n = self.in_features if p.on == "input" else self.out_features
            self._states.append(p.init(n, rng))

    # -- time ------------------------------------------------------------------------------
    @property
    def clock(self) -> int:
        """Deployment time: samples served so far (queries inside :func:`probe`,
        :func:`hold` and the extra hypotheses of :func:`same_instant` do not count)."""
        return self._clock

    @clock.setter
    def clock(self, q: int) -> None:
        self._clock = _index("clock", q)

    @property
    def probe_queries(self) -> int:
        """Samples measured inside :func:`probe` (evaluation), part of :attr:`queries`."""
        return self._probe_queries

    @property
    def hold_queries(self) -> int:
        """Samples measured inside :func:`hold` (training during deployment)."""
        return self._hold_queries

    @property
    def onset(self) -> int | None:
        """First query at which any of the perturbations acts (``None``: none ever does)."""
        on = [p.onset for p in self.perturbations if p.onset is not None]
        return min(on) if on else None

    def dead_outputs_at(self, q: int) -> np.ndarray:
        """Boolean mask (out_features,) of output channels dead at query ``q``."""
        q = _index("q", q)
        mask = np.zeros(self.out_features, dtype=bool)
        for p, s in zip(self.perturbations, self._states, strict=True):
            if isinstance(p, DeadChannels) and p.on == "output" and bool(p.active(q)):
                mask |= s
        return mask

    @property
    def dead_outputs(self) -> np.ndarray:
        """Boolean mask (out_features,) of output channels dead now (at :attr:`clock`);
        channels set to die later are not included."""
        return self.dead_outputs_at(self._clock)

    # -- measurement ----------------------------------------------------------------------
    def forward(self, x: np.ndarray, *, rng: np.random.Generator | None = None) -> np.ndarray:
        self._pending = None
        y = super().forward(x, rng=rng)
        pending, self._pending = self._pending, None
        if pending is not None:
            mode, clock, states, n = pending
            if mode == "serve":
                self._clock, self._states = clock, states
            elif mode == "probe":
                self._probe_queries += n
            else:
                self._hold_queries += n
        return y

    __call__ = forward

    def _instants(self, n: int) -> tuple[str, np.ndarray, int]:
        t = _now()
        mode = t.mode if (t.targets is None or self in t.targets) else "serve"
        if mode == "serve":
            group = t.group if (t.group and n % t.group == 0) else None
            offs = np.arange(n, dtype=np.int64)
            if group:
                offs %= group
            return mode, self._clock + offs, self._clock + (group or n)
        base = self._clock if t.at is None else t.at
        return mode, np.full(n, base, dtype=np.int64), self._clock

    def _forward(self, x: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        mode, q, new_clock = self._instants(len(x))
        q0 = int(q[0]) if len(q) else self._clock
        if rng is None:
            key = ([self.seed, 1, q0] if mode == "serve" else
                   [self.seed, 2, q0, self._probe_queries] if mode == "probe" else
                   [self.seed, 3, q0, self._hold_queries])
            rng = np.random.default_rng(np.random.SeedSequence(key))
        rngs = rng.spawn(len(self.perturbations) + 1)
        states = list(self._states)
        changes: dict[str, float] = {}
        for i, p in enumerate(self.perturbations):
            if isinstance(p, ParameterDrift):
                changes[p.name] = changes.get(p.name, 0.0) + p.deviation(q0, states[i])
        old = self.layer.params
        if changes:
            target = {k: float(getattr(self._base_params, k) + d) for k, d in changes.items()}
            differ = {k: v for k, v in target.items() if getattr(old, k) != v}
            if differ:
                self.layer.set_params(**differ)
        try:
            v = x
            for i, p in enumerate(self.perturbations):
                if p.on == "input":
                    v, states[i] = self._apply(p, v, q, states[i], rngs[i])
            y = np.asarray(self.layer.forward(np.ascontiguousarray(v, np.float32),
                                              rng=rngs[-1]))
            for i, p in enumerate(self.perturbations):
                if p.on == "output":
                    y, states[i] = self._apply(p, y, q, states[i], rngs[i])
        except BaseException:
            self._restore(old)
            raise
        if mode != "serve":
            self._restore(old)
        self._pending = (mode, new_clock, states, len(x))
        return y

    @staticmethod
    def _apply(p: Perturbation, v: np.ndarray, q: np.ndarray, state: Any,
               rng: np.random.Generator) -> tuple[np.ndarray, Any]:
        on = p.active(q)
        if on.all():
            return p.apply(v, q, state, rng)
        if not on.any():
            return v, state
        new, state = p.apply(v, q, state, rng)
        return np.where(on[:, None], new, v).astype(np.float32, copy=False), state

    def _restore(self, params: Any) -> None:
        if params is not None and self.layer.params is not params:
            self.layer.params = params
            self.layer._params_changed()

    def __repr__(self) -> str:
        inner = ", ".join(repr(p) for p in self.perturbations)
        return f"Perturbed({self.layer!r}, {inner}, seed={self.seed})"
