"""What every local learner shares: the fit loop, history, accounting and checkpoints."""

from __future__ import annotations

import logging
import os
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..backends import resolve_backend
from ..nets import PhysicalNetwork
from ..optim import SGD, Adam
from ..persist import check_writable
from ..perturb import probe
from ..readouts import overlay_labels
from . import _checkpoint

__all__ = ["EpochRecord", "History", "LocalLearner", "overlay_labels"]

log = logging.getLogger("physnn")


@dataclass(frozen=True)
class EpochRecord:
    """Numbers of one finished epoch (cumulative counters count from the start of ``fit``).

    Attributes
    ----------
    epoch : int
        1-based epoch number.
    loss : float
        Mean local loss over the epoch's batches and blocks.
    eval_accuracy : float
        Accuracy on ``eval_data`` after the epoch (NaN when none was given).
    queries : int
        Physical queries spent on training so far (samples sent through physical layers).
    macs : int
        Digital multiply-accumulates spent on training so far (matrix products only).
    wall_s : float
        Training wall time so far in seconds (evaluation excluded).
    """

    epoch: int
    loss: float
    eval_accuracy: float
    queries: int
    macs: int
    wall_s: float


@dataclass(frozen=True)
class History:
    """Per-epoch records of one ``fit`` call."""

    records: tuple[EpochRecord, ...]

    def __getattr__(self, name: str) -> list:
        if name.startswith("_") or name not in EpochRecord.__dataclass_fields__:
            raise AttributeError(name)
        return [getattr(r, name) for r in self.records]

    def __len__(self) -> int:
        return len(self.records)

    def as_dict(self) -> dict[str, list]:
        """Column-wise plain lists, ready for JSON."""
        return {k: [asdict(r)[k] for r in self.records] for k in EpochRecord.__dataclass_fields__}


def check_fit_args(rng: Any, epochs: Any, batch_size: Any) -> None:
    """The checks every ``fit`` makes of its ``rng``, ``epochs`` and ``batch_size``."""
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    for name, v in (("epochs", epochs), ("batch_size", batch_size)):
        if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}")


def _lr_factor(schedule: str | Callable[[int, int], float]) -> Callable[[int, int], float]:
    """The learning-rate factor ``f(epoch, epochs)`` of a ``lr_schedule`` argument."""
    if callable(schedule):
        return schedule
    if schedule == "constant":
        return lambda e, n: 1.0
    if schedule == "cosine":
        return lambda e, n: 0.5 * (1.0 + np.cos(np.pi * (e - 1) / n))
    raise ValueError(f"lr_schedule must be 'constant', 'cosine' or a callable, got {schedule!r}")


def _check_xy(net: PhysicalNetwork, x: Any, y: Any, width: int, name: str = "x"
              ) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x)
    y = np.asarray(y)
    if x.ndim != 2 or x.shape[1] != width:
        raise ValueError(f"{name} must have shape (n, {width}) for this network and learner, "
                         f"got {x.shape}")
    if not np.issubdtype(x.dtype, np.floating) and not np.issubdtype(x.dtype, np.integer):
        raise TypeError(f"{name} must be a real array, got dtype {x.dtype}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains NaN or infinite values")
    if y.shape != (x.shape[0],) or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"labels must be an integer array of shape ({x.shape[0]},), "
                         f"got {y.dtype} {y.shape}")
    if y.size and y.min() < 0:
        raise ValueError("labels must be non-negative class indices")
    return x.astype(net.blocks[0].digital.dtype, copy=False), y.astype(np.int64, copy=False)


class LocalLearner(ABC):
    """Base of the local learners: subclasses implement ``_init_readout``, ``_readout_fits``,
    ``_init_training`` and ``_update``; this class runs the epochs, accounting and checkpoints.

    The model state (digital parameters, the readout: goodness vectors or heads, class count)
    lives in the network; the learner keeps only training state (optimizer moments, step
    counters) in :attr:`state`, tagged with the ``uid`` of the network it belongs to.
    """

    def __init__(self, *, optimizer: Adam | SGD | None, inner_steps: int,
                 num_classes: int | None, backend: str = "cpu") -> None:
        if optimizer is None:
            optimizer = Adam(1e-3)
        if not hasattr(optimizer, "init") or not hasattr(optimizer, "step"):
            raise TypeError("optimizer must be a physnn.optim optimizer (SGD or Adam), got "
                            f"{type(optimizer).__name__}")
        if not isinstance(inner_steps, int | np.integer) or inner_steps < 1:
            raise ValueError(f"inner_steps must be a positive int, got {inner_steps!r}")
        if num_classes is not None and (not isinstance(num_classes, int | np.integer)
                                        or num_classes < 2):
            raise ValueError(f"num_classes must be an int >= 2 or None, got {num_classes!r}")
        self.optimizer = optimizer
        self.backend = resolve_backend(backend)
        if self.backend == "cuda" and not isinstance(optimizer, Adam | SGD):
            raise TypeError("backend='cuda' supports the physnn.optim SGD and Adam optimizers, "
                            f"got {type(optimizer).__name__}")
        self.inner_steps = int(inner_steps)
        self._fixed_classes = None if num_classes is None else int(num_classes)
        self.num_classes: int | None = self._fixed_classes
        #: Training state (optimizer moments per block): an immutable record, or ``None``.
        self.state: Any = None
        self._net_uid: str | None = None
        self._bound_readout: Any = None
        self.train_macs = 0
        self._eval_queries = 0

    # -- to implement ----------------------------------------------------------------------
    @abstractmethod
    def _init_readout(self, net: PhysicalNetwork, num_classes: int,
                      rng: np.random.Generator) -> Any:
        """A fresh readout for an untrained network (goodness vectors, heads)."""

    @abstractmethod
    def _readout_fits(self, readout: Any) -> str | None:
        """``None`` when this learner can train a network with ``readout``, else why not."""

    @abstractmethod
    def _init_training(self, net: PhysicalNetwork) -> Any:
        """Fresh training state (optimizer moments) for ``net``."""

    @abstractmethod
    def _update(self, net: PhysicalNetwork, x: np.ndarray, y: np.ndarray,
                rng: np.random.Generator) -> tuple[float, tuple, Any, Any, int]:
        """One batch: ``(loss, new block params, new readout, new state, digital MACs)``."""

    def input_width(self, data_features: int, num_classes: int) -> int:
        """Width of the network input for data with ``data_features`` features."""
        return data_features

    # -- shared machinery ------------------------------------------------------------------
    def _classes(self, net: PhysicalNetwork, y: Any) -> int:
        if net.readout is not None:
            self._check_readout(net)
            return int(net.readout.num_classes)
        if self._fixed_classes is not None:
            return self._fixed_classes
        y = np.asarray(y)
        if y.size == 0 or not np.issubdtype(y.dtype, np.integer):
            raise ValueError("labels must be a non-empty integer array")
        return int(y.max()) + 1

    def _data_width(self, net: PhysicalNetwork, k: int) -> int:
        for w in range(net.in_features + 1):
            if self.input_width(w, k) == net.in_features:
                return w
        raise ValueError(f"the network input width {net.in_features} cannot hold {k} classes "
                         f"with this learner")

    def _validate(self, net: PhysicalNetwork, x: Any, y: Any, name: str = "x",
                  k: int | None = None) -> tuple[np.ndarray, np.ndarray, int]:
        if not isinstance(net, PhysicalNetwork):
            raise TypeError(f"net must be a physnn.PhysicalNetwork, got {type(net).__name__}")
        k = self._classes(net, y) if k is None else k
        x, y = _check_xy(net, x, y, self._data_width(net, k), name)
        if y.size and y.max() >= k:
            raise ValueError(f"labels must be < num_classes={k}, got {y.max()}")
        return x, y, k

    def _check_readout(self, net: PhysicalNetwork) -> None:
        """Refuse a trained network whose readout this learner cannot train."""
        why = self._readout_fits(net.readout)
        if why is None and self._fixed_classes is not None \
                and self._fixed_classes != net.readout.num_classes:
            why = (f"it has {net.readout.num_classes} classes, this learner was built with "
                   f"num_classes={self._fixed_classes}")
        if why is not None:
            raise ValueError(f"net was trained with another readout than {type(self).__name__} "
                             f"uses ({why}); train it with the learner that made it, or set "
                             "net.readout = None to start its readout afresh")

    def _bind(self, net: PhysicalNetwork, k: int, rng: np.random.Generator) -> None:
        """Attach to ``net``: give an untrained network its parameters and readout; check a
        trained network's readout; start fresh training state for a network this learner's
        state does not belong to (its moments are never applied to another model)."""
        if net.readout is None:
            if k < 2:
                raise ValueError("labels must contain at least two classes")
            for b in net.blocks:
                if b.digital.params is None:
                    b.digital.reset_parameters(rng)
            net.readout = self._init_readout(net, k, rng)
            self.state = None
        else:
            self._check_readout(net)
        if self.state is None or self._net_uid != net.uid:
            if self.state is not None:
                log.info("%s: new network (uid %s): starting fresh optimizer state",
                         type(self).__name__, net.uid)
            self.state = self._init_training(net)
            self._net_uid = net.uid
        self.num_classes = int(net.readout.num_classes)
        self._bound_readout = net.readout

    def _check_bound(self, net: PhysicalNetwork) -> None:
        if not isinstance(net, PhysicalNetwork):
            raise TypeError(f"net must be a physnn.PhysicalNetwork, got {type(net).__name__}")
        if net.readout is None:
            raise RuntimeError("this network has not been trained: call fit(net, ...) first "
                               "(or load a trained network with physnn.load)")
        self.num_classes = int(net.readout.num_classes)
        self._bound_readout = net.readout

    def update(self, net: PhysicalNetwork, x: np.ndarray, y: np.ndarray, *,
               rng: np.random.Generator) -> float:
        """One training step on one batch; returns the batch's mean local loss.

        The new parameters of all blocks are committed only when the whole batch succeeded:
        if a physical layer fails (:class:`~physnn.nets.PhysicalLayerError`) the network and
        the learner keep their previous parameters and state.
        """
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        x, y, k = self._validate(net, x, y)
        self._bind(net, k, rng)
        loss, params, readout, state, macs = self._update(net, x, y, rng)
        if not np.isfinite(loss):
            raise FloatingPointError("the local loss became NaN or infinite; lower the learning "
                                     "rate or check the physical layer's output scale")
        net.set_params(params)
        if readout is not net.readout:
            net.readout = readout
            self._bound_readout = readout
        self.state = state
        self.train_macs += macs
        return loss

    def fit(self, net: PhysicalNetwork, x: np.ndarray, y: np.ndarray, *, epochs: int,
            rng: np.random.Generator, batch_size: int = 64,
            eval_data: tuple[np.ndarray, np.ndarray] | None = None, progress: bool = True,
            callback: Callable[[EpochRecord], None] | None = None,
            checkpoint: str | os.PathLike | None = None, resume: bool = False,
            lr_schedule: str | Callable[[int, int], float] = "constant") -> History:
        """Train ``net`` for ``epochs`` passes over ``(x, y)`` in shuffled mini-batches.

        Parameters
        ----------
        net : PhysicalNetwork
        x : ndarray, shape (n, d)
            Training inputs (for the goodness learners, before the label overlay).
        y : ndarray of int, shape (n,)
            Class labels ``0 .. K-1``.
        epochs : int
        rng : numpy.random.Generator
            The only source of randomness: parameter init, goodness vectors, shuffling,
            negative labels and the physical layers' noise.
        batch_size : int, default 64
        eval_data : (x, y), optional
            Evaluated after every epoch (accuracy in the history; its queries are not counted
            as training queries). The evaluation runs inside :func:`physnn.perturb.probe`: it
            does not advance the clock of :class:`~physnn.Perturbed` layers.
        progress : bool, default True
            A tqdm bar over epochs when standard error is a terminal.
        callback : callable, optional
            Called with each :class:`EpochRecord`.
        checkpoint : path, optional
            A physnn file (:func:`physnn.save`) rewritten atomically after every epoch with
            the network, this learner's training state, the generator and the history so far.
            Its folder is checked for writing before any training.
        resume : bool, default False
            When ``checkpoint`` exists, restore the network, the learner and the generator
            from it and run only the remaining epochs: the result is bit-identical to the
            uninterrupted run. The file must come from the same network configuration, data,
            ``epochs`` and ``batch_size`` (checked). Without the file, training starts afresh.
        lr_schedule : {"constant", "cosine"} or callable, default "constant"
            Learning-rate factor of epoch ``e = 1 .. epochs``: the optimizer's ``lr`` is
            ``lr_0 f(e)`` during that epoch and ``lr_0`` again after ``fit`` returns.
            ``"cosine"``: :math:`f(e) = \\tfrac12 (1 + \\cos(\\pi (e - 1) / E))`;
            a callable gets ``(e, epochs)`` and returns a positive factor.

        Returns
        -------
        History
            Every epoch of the run, those before a resume included.
        """
        check_fit_args(rng, epochs, batch_size)
        if checkpoint is not None:
            check_writable(checkpoint, "checkpoint")
        elif resume:
            raise ValueError("resume=True needs a checkpoint path")
        factor = _lr_factor(lr_schedule)
        x, y, k = self._validate(net, x, y)
        ex = ey = None
        if eval_data is not None:
            ex, ey, _ = self._validate(net, *eval_data, name="eval_data x", k=k)
        run = _checkpoint.FitRun(epochs=int(epochs), batch_size=int(batch_size),
                                 fingerprint=_checkpoint.fingerprint(x, y), rng=rng,
                                 schedule=lr_schedule)
        if resume and checkpoint is not None and os.path.exists(checkpoint):
            run.restore(checkpoint, net, self)
        else:
            self._bind(net, k, rng)
            run.counters = {"queries": self._train_queries(net), "macs": self.train_macs}
        lr0 = self.optimizer.lr
        try:
            return self._fit_epochs(net, x, y, ex, ey, run=run, progress=progress,
                                    callback=callback, checkpoint=checkpoint,
                                    lr0=lr0, factor=factor)
        finally:
            self.optimizer.lr = lr0
            run.hand_back()

    def _fit_epochs(self, net, x, y, ex, ey, *, run, progress, callback, checkpoint, lr0,
                    factor) -> History:
        from tqdm.auto import tqdm

        show = bool(progress) and sys.stderr.isatty()
        n = x.shape[0]
        rng = run.rng
        q0, m0 = run.counters["queries"], run.counters["macs"]
        records = list(run.records)
        wall = records[-1].wall_s if records else 0.0
        bar = tqdm(range(run.done + 1, run.epochs + 1), disable=not show,
                   desc=type(self).__name__, unit="epoch", leave=False)
        for ep in bar:
            rate = float(lr0 * factor(ep, run.epochs))
            if not (np.isfinite(rate) and rate > 0):
                raise ValueError(f"lr_schedule gave the learning rate {rate!r} at epoch {ep}; "
                                 "it must be positive and finite")
            self.optimizer.lr = rate
            t0 = time.perf_counter()
            order = rng.permutation(n)
            losses = []
            for s in range(0, n, run.batch_size):
                idx = order[s:s + run.batch_size]
                losses.append(self.update(net, x[idx], y[idx], rng=rng))
            wall += time.perf_counter() - t0
            q_train = self._train_queries(net) - q0
            acc = float("nan")
            if ex is not None:
                before = [b.physical.queries for b in net.blocks]
                with probe(net):  # measuring does not move a deployment's clock
                    acc = float(np.mean(self.predict(net, ex, rng=rng) == ey))
                self._eval_queries += sum(b.physical.queries - q for b, q in
                                          zip(net.blocks, before, strict=True))
            rec = EpochRecord(ep, float(np.mean(losses)), acc, int(q_train),
                              int(self.train_macs - m0), wall)
            records.append(rec)
            if checkpoint is not None:
                self.optimizer.lr = lr0  # the file holds the learner as configured
                run.save(checkpoint, net, self, ep, records)
                self.optimizer.lr = rate
            if show:
                bar.set_postfix(loss=f"{rec.loss:.4f}", acc=f"{acc:.3f}")
            if callback is not None:
                callback(rec)
        bar.close()
        return History(tuple(records))

    def _train_queries(self, net: PhysicalNetwork) -> int:
        return net.queries - self._eval_queries

    def predict(self, net: PhysicalNetwork, x: np.ndarray, *,
                rng: np.random.Generator | None = None, batch_size: int = 1024) -> np.ndarray:
        """Predicted class of every row of ``x`` (shape (n,), int64): ``net.predict``."""
        self._check_bound(net)
        return net.predict(x, rng=rng, batch_size=batch_size)

    def evaluate(self, net: PhysicalNetwork, x: np.ndarray, y: np.ndarray, *,
                 rng: np.random.Generator | None = None) -> dict[str, float]:
        """Accuracy on ``(x, y)`` and what inference cost.

        The queries run inside :func:`physnn.perturb.probe`: evaluating a network whose
        physical layers are :class:`~physnn.Perturbed` does not advance their clocks, their
        running states or their drifts (measuring does not change what is measured); inside
        ``with probe(net, at=q)`` it measures as of query ``q``.

        Returns
        -------
        dict
            ``accuracy`` (fraction), ``n``, ``queries`` (physical queries spent),
            ``macs`` (digital multiply-accumulates spent), ``wall_s``.
        """
        self._check_bound(net)
        x, y, _ = self._validate(net, x, y)
        before = net.queries
        t0 = time.perf_counter()
        with probe(net):  # measuring does not move a deployment's clock
            pred = self.predict(net, x, rng=rng)
        wall = time.perf_counter() - t0
        q = net.queries - before
        self._eval_queries += q
        return {"accuracy": float(np.mean(pred == y)), "n": int(y.size), "queries": int(q),
                "macs": int(self.inference_macs(net, y.size)), "wall_s": wall}

    def inference_macs(self, net: PhysicalNetwork, n: int) -> int:
        """Digital multiply-accumulates to classify ``n`` samples."""
        if net.readout is not None:
            return int(net.readout.macs(net, n))
        return int(n) * sum(b.digital.macs(1) for b in net.blocks)
