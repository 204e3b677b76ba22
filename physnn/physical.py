"""The ``PhysicalLayer`` protocol: a black-box forward layer that may be queried, never
differentiated.

A physical layer maps a batch ``x`` of shape ``(batch, in_features)`` to ``(batch,
out_features)``. It carries no gradient, may be noisy (it then draws from the ``rng`` it is
given), and counts the physical queries it served (one query = one sample sent through the
system). Simulators in ``hardware_models`` and wrappers around real instruments implement it
the same way, so a training rule cannot tell them apart.

:class:`CallableLayer` turns any Python callable on a batch -- a real instrument's driver --
into a ``PhysicalLayer`` with batching, validation of what the callable returns, and an
optional bounded retry.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
import math
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import numpy as np

from .persist import captured_init

__all__ = ["PhysicalLayer", "CallableLayer", "PhysicalQueryError"]

log = logging.getLogger("physnn")


class PhysicalQueryError(RuntimeError):
    """A physical system (or the callable standing for it) failed to answer a query."""


class PhysicalLayer(ABC):
    """Base class of every physical (black-box) layer.

    Subclasses set ``in_features`` and ``out_features``, call ``super().__init__()`` and
    implement :meth:`_forward`, which receives a validated C-contiguous float32 array of shape
    ``(batch, in_features)``. :meth:`forward` validates, counts queries and checks the result.

    A model that exposes physical parameters (an exposure, a resonance detuning, a threshold
    scale ...) keeps them in ``self.params``, a frozen dataclass of scalars, and may override
    :meth:`_params_changed` to refresh what it derived from them. :meth:`set_params` is the one
    way to change them (used by :class:`physnn.perturb.ParameterDrift`).
    """

    in_features: int
    out_features: int
    params: Any = None

    def __init__(self) -> None:
        self._queries = 0

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # record the constructor arguments, so that physnn.save can rebuild the model from
        # its configuration and seeds (see physnn.persist)
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:
            cls.__init__ = captured_init(cls.__dict__["__init__"])  # type: ignore[method-assign]

    @property
    def queries(self) -> int:
        """Number of samples this layer has sent through the physical system so far."""
        return self._queries

    def reset_queries(self) -> None:
        """Set the query counter back to zero."""
        self._queries = 0

    @abstractmethod
    def _forward(self, x: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        """Run the physics on a valid batch; return ``(batch, out_features)``."""

    def _params_changed(self) -> None:
        """Hook called after :meth:`set_params`; recompute anything derived from ``params``."""
        return None

    def set_params(self, **changes: float) -> None:
        """Change named physical parameters of this model.

        Parameters
        ----------
        **changes
            ``name=value`` pairs; each name must be a field of ``self.params``.

        Raises
        ------
        TypeError
            If the model exposes no physical parameters.
        KeyError
            If a name is not one of its parameters (the message lists the valid names).
        """
        if self.params is None or not dataclasses.is_dataclass(self.params):
            raise TypeError(f"{type(self).__name__} exposes no physical parameters to change")
        names = [f.name for f in dataclasses.fields(self.params)]
        unknown = sorted(set(changes) - set(names))
        if unknown:
            raise KeyError(
                f"{type(self).__name__} has no physical parameter(s) {unknown}; "
                f"valid names are {names}"
            )
        old = self.params
        self.params = dataclasses.replace(self.params, **changes)
        try:
            self._params_changed()
        except BaseException:
            self.params = old
            self._params_changed()
            raise

    def forward(self, x: np.ndarray, *, rng: np.random.Generator | None = None) -> np.ndarray:
        """Query the physical system on a batch.

        Parameters
        ----------
        x : ndarray, shape (batch, in_features)
            Finite real inputs. A 1-D array is taken as a batch of one.
        rng : numpy.random.Generator, optional
            Source of the layer's noise, if it has any. ``None`` uses the layer's own seeded
            generator.

        Returns
        -------
        ndarray, shape (batch, out_features), float32

        Raises
        ------
        ValueError, TypeError
            For a badly shaped, non-numeric or non-finite ``x`` or a wrong ``rng``.
        PhysicalQueryError
            If the system returned the wrong shape or non-finite values.
        """
        x = np.asarray(x)
        if x.ndim == 1:
            x = x[None, :]
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise ValueError(
                f"x must have shape (batch, {self.in_features}) for {type(self).__name__}, "
                f"got {x.shape}"
            )
        if not np.issubdtype(x.dtype, np.number) or np.iscomplexobj(x):
            raise TypeError(f"x must be a real numeric array, got dtype {x.dtype}")
        if not np.all(np.isfinite(x)):
            raise ValueError("x contains NaN or infinite values; physical inputs must be finite")
        if rng is not None and not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator or None, got {type(rng)}")
        y = np.asarray(self._forward(np.ascontiguousarray(x, dtype=np.float32), rng))
        if y.shape != (x.shape[0], self.out_features):
            raise PhysicalQueryError(
                f"{type(self).__name__} returned shape {y.shape}, expected "
                f"({x.shape[0]}, {self.out_features})"
            )
        if not np.all(np.isfinite(y)):
            raise PhysicalQueryError(f"{type(self).__name__} returned NaN or infinite values")
        self._queries += x.shape[0]
        return y.astype(np.float32, copy=False)

    __call__ = forward

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(in_features={self.in_features}, "
                f"out_features={self.out_features})")


def _accepts_rng(fn: Callable[..., Any]) -> bool:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return False
    return "rng" in sig.parameters or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values()
    )


class CallableLayer(PhysicalLayer):
    """Any Python callable on a batch -- e.g. a real instrument's driver -- as a physical layer.

    The batch is cut into chunks of at most ``max_batch`` samples (what the instrument takes
    at once); each chunk is sent to ``fn`` and its answer is checked: it must convert to a real
    numeric array of shape ``(chunk, out_features)`` with finite values. A chunk whose call
    raises, or whose answer fails the check, is retried up to ``retries`` more times; after
    that :class:`PhysicalQueryError` names the chunk, the attempts and the last cause, and the
    query counter is left unchanged (nothing half-counted).

    With ``timeout`` set, each call of ``fn`` runs in a daemon thread and is abandoned when
    it has not answered within ``timeout`` seconds: the attempt fails with a
    :class:`TimeoutError` (retried like any other failure when ``retries`` allows and
    ``TimeoutError`` is in ``retry_on``). Python cannot stop a hung call: it keeps running in
    its thread and its late answer is discarded, so a driver that must not be called twice at
    once should be given ``retries=0``. Each call then gets its own generator, drawn from the
    layer's (or the given) one, so that an abandoned call never shares a generator with a
    later one.

    Example: ``layer = CallableLayer(lambda x: np.tanh(x @ w), in_features=8, out_features=4)``

    Parameters
    ----------
    fn : callable
        ``fn(x)`` or ``fn(x, rng=...)`` with ``x`` float32 of shape ``(chunk, in_features)``.
        When ``fn`` takes an ``rng`` keyword, the generator given to :meth:`forward` (or the
        layer's own, seeded with ``seed``) is passed on.
    in_features, out_features : int
        Sizes of one input and one output sample.
    max_batch : int, optional
        Largest chunk sent in one call (``None``: the whole batch at once).
    retries : int
        Extra attempts per chunk after a failure (0: fail at once).
    retry_on : tuple of exception types
        Exceptions raised by ``fn`` that are retried; others propagate at once, wrapped in
        :class:`PhysicalQueryError`.
    seed : int
        Seed of the layer's own generator (used only when ``fn`` takes ``rng``).
    name : str, optional
        Name used in error messages.
    timeout : float, optional
        Seconds one call of ``fn`` may take (``None``: wait forever).
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        in_features: int,
        out_features: int,
        *,
        max_batch: int | None = None,
        retries: int = 0,
        retry_on: tuple[type[BaseException], ...] = (Exception,),
        seed: int = 0,
        name: str | None = None,
        timeout: float | None = None,
    ) -> None:
        if not callable(fn):
            raise TypeError(f"fn must be callable, got {type(fn).__name__}")
        for arg, val in (("in_features", in_features), ("out_features", out_features)):
            if not isinstance(val, (int, np.integer)) or val < 1:
                raise ValueError(f"{arg} must be a positive integer, got {val!r}")
        if max_batch is not None and (not isinstance(max_batch, (int, np.integer))
                                      or max_batch < 1):
            raise ValueError(f"max_batch must be a positive integer or None, got {max_batch!r}")
        if not isinstance(retries, (int, np.integer)) or retries < 0:
            raise ValueError(f"retries must be a non-negative integer, got {retries!r}")
        retry_on = tuple(retry_on)
        if not all(isinstance(e, type) and issubclass(e, BaseException) for e in retry_on):
            raise TypeError(f"retry_on must be a tuple of exception types, got {retry_on!r}")
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(
                timeout, int | float | np.integer | np.floating) or not math.isfinite(timeout)
                or timeout <= 0):
            raise ValueError(f"timeout must be a positive number of seconds or None, got "
                             f"{timeout!r}")
        super().__init__()
        self.fn = fn
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        self.max_batch = None if max_batch is None else int(max_batch)
        self.retries = int(retries)
        self.retry_on = tuple(retry_on)
        self.name = name or getattr(fn, "__name__", type(fn).__name__)
        self._pass_rng = _accepts_rng(fn)
        self._rng = np.random.default_rng(seed)
        self.timeout = None if timeout is None else float(timeout)

    def _call(self, chunk: np.ndarray, rng: np.random.Generator) -> Any:
        """One call of ``fn``, abandoned after ``timeout`` seconds."""
        if self.timeout is None:
            return self.fn(chunk, rng=rng) if self._pass_rng else self.fn(chunk)
        own = np.random.default_rng(rng.integers(2**63)) if self._pass_rng else None
        box: dict[str, Any] = {}

        def target() -> None:
            try:
                box["y"] = self.fn(chunk, rng=own) if self._pass_rng else self.fn(chunk)
            except BaseException as exc:  # handed to the caller's thread
                box["exc"] = exc

        worker = threading.Thread(target=target, name=f"physnn-{self.name}", daemon=True)
        worker.start()
        worker.join(self.timeout)
        if worker.is_alive():
            raise TimeoutError(f"no answer within timeout={self.timeout:g} s")
        if "exc" in box:
            raise box["exc"]
        return box["y"]

    def _check(self, y: Any, n: int) -> np.ndarray:
        try:
            arr = np.asarray(y)
        except Exception as exc:
            raise PhysicalQueryError(f"answer of {self.name!r} is not array-like ({exc})") from exc
        if arr.dtype == object or not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
            raise PhysicalQueryError(
                f"{self.name!r} returned dtype {arr.dtype}; expected real numbers")
        if arr.shape != (n, self.out_features):
            raise PhysicalQueryError(
                f"{self.name!r} returned shape {arr.shape}; expected ({n}, {self.out_features})")
        if not np.all(np.isfinite(arr)):
            bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
            raise PhysicalQueryError(f"{self.name!r} returned {bad} NaN or infinite value(s)")
        return arr.astype(np.float32, copy=False)

    def _forward(self, x: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        rng = self._rng if rng is None else rng
        step = self.max_batch or max(len(x), 1)
        out = np.empty((len(x), self.out_features), dtype=np.float32)
        for start in range(0, len(x), step):
            chunk = x[start:start + step]
            attempts = self.retries + 1
            for attempt in range(1, attempts + 1):
                try:
                    y = self._call(chunk.copy(), rng)
                    out[start:start + len(chunk)] = self._check(y, len(chunk))
                    break
                except PhysicalQueryError as exc:
                    cause: BaseException = exc
                except self.retry_on as exc:
                    cause = exc
                except Exception as exc:
                    raise PhysicalQueryError(
                        f"{self.name!r} raised {type(exc).__name__} on samples "
                        f"{start}..{start + len(chunk) - 1} (not retried): {exc}") from exc
                if attempt < attempts:
                    log.warning("%s failed on samples %d..%d (attempt %d/%d): %s; retrying",
                                self.name, start, start + len(chunk) - 1, attempt, attempts, cause)
                    continue
                raise PhysicalQueryError(
                    f"{self.name!r} failed on samples {start}..{start + len(chunk) - 1} after "
                    f"{attempts} attempt(s); last error: {type(cause).__name__}: {cause}"
                ) from cause
        return out
