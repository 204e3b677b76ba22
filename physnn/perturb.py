r"""Perturbations real hardware suffers, as composable wrappers around any ``PhysicalLayer``.

A :class:`Perturbed` layer wraps a physical layer with a list of perturbations and a seed::

    noisy = Perturbed(layer, AdditiveNoise(0.01), Drift(rate=1e-5), DeadChannels(fraction=0.1),
                      seed=0)

Time is counted in physical queries (samples served): the ``q``-th sample ever sent through
the wrapper is measured at "time" ``q``. All randomness of the wrapper and of the wrapped
layer is drawn from generators seeded by ``(seed, q0)``, with ``q0`` the query count at the
start of each batch, so after :meth:`Perturbed.reset` the same sequence of batches gives the
same answers bit for bit (an exact replay). Perturbations are immutable descriptions; their
running state (a random walk's position, a mask of dead channels) lives in the wrapper.

Output and input perturbations act on values; :class:`ParameterDrift` acts on a named
physical parameter of the wrapped model (``layer.params``) and is held constant within a
batch (a batch is one acquisition).
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np

from .physical import PhysicalLayer

__all__ = [
    "AdditiveNoise",
    "DeadChannels",
    "Drift",
    "MultiplicativeNoise",
    "ParameterDrift",
    "Perturbation",
    "Perturbed",
    "Quantize",
    "Shift",
]

_SIDES = ("input", "output")


def _check_on(on: str) -> None:
    if on not in _SIDES:
        raise ValueError(f"on must be 'input' or 'output', got {on!r}")


def _nonneg(name: str, value: float) -> None:
    if not (np.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be finite and >= 0, got {value!r}")


class Perturbation(ABC):
    """Base of all perturbations: an immutable description plus two pure functions.

    ``init(n_channels, rng)`` returns the initial running state; ``apply(v, q, state, rng)``
    receives the values ``v`` (batch, channels), the query index of every sample ``q``
    (batch,), the state and a generator, and returns ``(new_values, new_state)``.
    """

    on: str = "output"

    def init(self, n_channels: int, rng: np.random.Generator) -> Any:
        """Initial running state (``None`` when the perturbation keeps none)."""
        return None

    @abstractmethod
    def apply(self, v: np.ndarray, q: np.ndarray, state: Any,
              rng: np.random.Generator) -> tuple[np.ndarray, Any]:
        """Perturb a batch ``v`` measured at query indices ``q``."""


@dataclass(frozen=True)
class AdditiveNoise(Perturbation):
    r"""Additive white Gaussian noise: :math:`v \to v + \sigma \xi`, :math:`\xi \sim N(0, 1)`.

    Parameters
    ----------
    std : float
        :math:`\sigma`, in the units of the values.
    on : {"output", "input"}
    """

    std: float
    on: str = "output"

    def __post_init__(self) -> None:
        _nonneg("std", self.std)
        _check_on(self.on)

    def apply(self, v, q, state, rng):
        return v + np.float32(self.std) * rng.standard_normal(v.shape, dtype=np.float32), state


@dataclass(frozen=True)
class MultiplicativeNoise(Perturbation):
    r"""Gain noise: :math:`v \to v (1 + \sigma \xi)`, :math:`\xi \sim N(0, 1)` per value.

    Parameters
    ----------
    std : float
        Relative standard deviation :math:`\sigma`.
    on : {"output", "input"}
    """

    std: float
    on: str = "output"

    def __post_init__(self) -> None:
        _nonneg("std", self.std)
        _check_on(self.on)

    def apply(self, v, q, state, rng):
        noise = rng.standard_normal(v.shape, dtype=np.float32)
        return v * (np.float32(1) + np.float32(self.std) * noise), state


@dataclass(frozen=True)
class Drift(Perturbation):
    r"""Slow drift in query count ``q``: linear trend plus random walk.

    .. math:: d(q) = r q + W(q), \qquad W(q) = \sum_{p < q} \sigma \xi_p

    applied as an offset :math:`v \to v + d(q)` (``mode="offset"``) or a gain
    :math:`v \to v (1 + d(q))` (``mode="gain"``). The walk steps once per query, so the drift
    is continuous across samples and batches (a step of :math:`\sigma` per query).

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
    """

    rate: float = 0.0
    walk_std: float = 0.0
    mode: str = "offset"
    per_channel: bool = True
    on: str = "output"

    def __post_init__(self) -> None:
        if not np.isfinite(self.rate):
            raise ValueError(f"rate must be finite, got {self.rate!r}")
        _nonneg("walk_std", self.walk_std)
        if self.mode not in ("offset", "gain"):
            raise ValueError(f"mode must be 'offset' or 'gain', got {self.mode!r}")
        _check_on(self.on)

    def init(self, n_channels, rng):
        return np.zeros(n_channels if self.per_channel else 1, dtype=np.float64)

    def drift(self, q: np.ndarray, state: np.ndarray, rng: np.random.Generator):
        """Drift ``d`` for samples at query indices ``q`` (batch, channels) and the new state."""
        walk = np.broadcast_to(state, (len(q), len(state)))
        if self.walk_std > 0:
            steps = self.walk_std * rng.standard_normal((len(q), len(state)))
            walk = state + np.cumsum(steps, axis=0) - steps  # W(q0 + k) = W(q0) + sum_{j<k}
            new_state = walk[-1] + steps[-1] if len(q) else state
        else:
            new_state = state
        return self.rate * q[:, None].astype(np.float64) + walk, new_state

    def apply(self, v, q, state, rng):
        d, state = self.drift(q, state, rng)
        d = d.astype(np.float32)
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
        if int(self.at_query) < 0:
            raise ValueError(f"at_query must be >= 0, got {self.at_query}")
        for name in ("offset", "gain"):
            arr = np.asarray(getattr(self, name), dtype=float)
            if arr.ndim > 1 or not np.all(np.isfinite(arr)):
                raise ValueError(f"{name} must be a finite scalar or 1-D sequence")
            object.__setattr__(self, name, float(arr) if arr.ndim == 0 else tuple(arr.tolist()))
        _check_on(self.on)

    def apply(self, v, q, state, rng):
        hit = (q >= self.at_query)[:, None]
        shifted = v * np.asarray(self.gain, np.float32) + np.asarray(self.offset, np.float32)
        return np.where(hit, shifted, v).astype(np.float32, copy=False), state


@dataclass(frozen=True)
class DeadChannels(Perturbation):
    """Channels that read (or, on the input side, transmit) exactly zero.

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
        if (self.channels is None) == (self.fraction is None):
            raise ValueError("give exactly one of channels= or fraction=")
        if self.fraction is not None and not 0.0 <= self.fraction <= 1.0:
            raise ValueError(f"fraction must be in [0, 1], got {self.fraction}")
        if self.channels is not None:
            object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        _check_on(self.on)

    def init(self, n_channels, rng):
        mask = np.zeros(n_channels, dtype=bool)
        if self.channels is not None:
            bad = [c for c in self.channels if not -n_channels <= c < n_channels]
            if bad:
                raise ValueError(f"dead channels {bad} out of range for {n_channels} channels")
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
        if not 1 <= int(self.bits) <= 24:
            raise ValueError(f"bits must be in 1..24, got {self.bits}")
        if not (np.isfinite(self.low) and np.isfinite(self.high) and self.high > self.low):
            raise ValueError(f"need finite low < high, got low={self.low}, high={self.high}")
        _check_on(self.on)

    def apply(self, v, q, state, rng):
        step = (self.high - self.low) / (2 ** int(self.bits) - 1)
        k = np.round((np.clip(v, self.low, self.high) - self.low) / step)
        return (self.low + k * step).astype(np.float32), state


@dataclass(frozen=True)
class ParameterDrift(Perturbation):
    r"""Change of a named physical parameter of the wrapped model with query count.

    .. math:: p(q_0) = p_0 + r q_0 + W(q_0) + s\,[q_0 \ge q_s]

    with :math:`q_0` the query index at the start of the batch (the parameter is constant
    within a batch), :math:`W` a random walk of step :math:`\sigma` per query and ``p0`` the
    parameter's value when the wrapper was built (restored by :meth:`Perturbed.reset`).

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
    """

    name: str
    rate: float = 0.0
    walk_std: float = 0.0
    at_query: int | None = None
    shift: float = 0.0
    on: str = "parameter"

    def __post_init__(self) -> None:
        if not np.isfinite(self.rate) or not np.isfinite(self.shift):
            raise ValueError("rate and shift must be finite")
        _nonneg("walk_std", self.walk_std)
        if self.on != "parameter":
            raise ValueError("ParameterDrift acts on a parameter; leave on='parameter'")

    def apply(self, v, q, state, rng):
        """Values pass unchanged: :class:`Perturbed` applies :meth:`value` to the parameter."""
        return v, state

    def value(self, p0: float, q0: int, walk: float) -> float:
        """Parameter value for a batch starting at query ``q0`` given the walk position."""
        jump = self.shift if self.at_query is not None and q0 >= self.at_query else 0.0
        return float(p0 + self.rate * q0 + walk + jump)


class Perturbed(PhysicalLayer):
    """A physical layer seen through a list of perturbations; seeded and exactly replayable.

    Example: ``Perturbed(OpticalSpeckle(in_features=64, out_features=64), AdditiveNoise(0.01),
    seed=0)``

    Order per batch: parameter drifts set the model's parameters for this batch, input
    perturbations act on ``x`` (in the order given), the wrapped layer is queried, output
    perturbations act on ``y`` (in the order given).

    Parameters
    ----------
    layer : PhysicalLayer
        The system to perturb.
    *perturbations : Perturbation
        Applied in order.
    seed : int
        Seeds every random choice of the wrapper and, unless ``forward`` is given an ``rng``,
        the wrapped layer's noise too.
    """

    def __init__(self, layer: PhysicalLayer, *perturbations: Perturbation, seed: int = 0) -> None:
        if not isinstance(layer, PhysicalLayer):
            raise TypeError(f"layer must be a PhysicalLayer, got {type(layer).__name__}")
        for p in perturbations:
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
        super().__init__()
        self.layer = layer
        self.perturbations = tuple(perturbations)
        self.seed = int(seed)
        self.in_features = layer.in_features
        self.out_features = layer.out_features
        self._base_params = layer.params
        self.reset()

    def reset(self) -> None:
        """Restart the schedule: query count 0, initial states, original parameters."""
        self._queries = 0
        if self._base_params is not None:
            self.layer.params = self._base_params
            self.layer._params_changed()
        self._states = []
        for i, p in enumerate(self.perturbations):
            rng = np.random.default_rng(np.random.SeedSequence([self.seed, 0, i]))
            n = self.in_features if p.on == "input" else self.out_features
            self._states.append(0.0 if isinstance(p, ParameterDrift) else p.init(n, rng))

    @property
    def dead_outputs(self) -> np.ndarray:
        """Boolean mask (out_features,) of output channels set dead by :class:`DeadChannels`."""
        mask = np.zeros(self.out_features, dtype=bool)
        for p, s in zip(self.perturbations, self._states, strict=True):
            if isinstance(p, DeadChannels) and p.on == "output":
                mask |= s
        return mask

    def _forward(self, x: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        q0 = self._queries
        if rng is None:
            rng = np.random.default_rng(np.random.SeedSequence([self.seed, 1, q0]))
        rngs = rng.spawn(len(self.perturbations) + 1)
        q = np.arange(q0, q0 + len(x), dtype=np.int64)
        states = list(self._states)
        changes = {}
        for i, p in enumerate(self.perturbations):
            if isinstance(p, ParameterDrift):
                walk = states[i]
                p0 = getattr(self._base_params, p.name)
                changes[p.name] = p.value(p0, q0, walk)
                if p.walk_std > 0:
                    states[i] = walk + p.walk_std * float(
                        rngs[i].standard_normal(len(x)).sum())
        if changes:
            self.layer.set_params(**changes)
        v = x
        for i, p in enumerate(self.perturbations):
            if p.on == "input":
                v, states[i] = p.apply(v, q, states[i], rngs[i])
        y = np.asarray(self.layer.forward(np.ascontiguousarray(v, np.float32), rng=rngs[-1]))
        for i, p in enumerate(self.perturbations):
            if p.on == "output":
                y, states[i] = p.apply(y, q, states[i], rngs[i])
        self._states = states
        return y

    def __repr__(self) -> str:
        inner = ", ".join(repr(p) for p in self.perturbations)
        return f"Perturbed({self.layer!r}, {inner}, seed={self.seed})"
