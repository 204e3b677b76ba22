"""Checkpoints of a running ``fit``: what continuing it bit-identically needs.

A checkpoint is a physnn file (:func:`physnn.save`) holding the network, the learner and a
``training`` record: epochs done and planned, batch size, the generator (its bit-generator
state *and* its seed sequence's spawn count, which ``Generator.spawn`` advances), the history
so far, the run's counters and a fingerprint of the training data.
"""

from __future__ import annotations

import os
import zlib
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .. import persist

__all__ = ["FitRun", "fingerprint"]


def fingerprint(x: np.ndarray, y: np.ndarray) -> str:
    """A cheap identity of the training data: shapes, dtypes and a CRC-32 of the bytes."""
    crc = zlib.crc32(np.ascontiguousarray(x).view(np.uint8).ravel())
    crc = zlib.crc32(np.ascontiguousarray(y).view(np.uint8).ravel(), crc)
    return f"{x.dtype.str}{list(x.shape)}:{y.dtype.str}{list(y.shape)}:{crc:08x}"


def _drivers(net: Any) -> dict:
    """The drivers of the CallableLayers in ``net`` (a resume keeps the ones here)."""
    from ..perturb import Perturbed
    from ..physical import CallableLayer

    out = {}
    for b in getattr(net, "blocks", ()):
        layer = b.physical
        while isinstance(layer, Perturbed):
            layer = layer.layer
        if isinstance(layer, CallableLayer):
            out[layer.name] = layer.fn
    return out


def _schedule_name(schedule: Any) -> str | None:
    return schedule if isinstance(schedule, str) else None


@dataclass
class FitRun:
    """Progress of one ``fit`` call (restored from a checkpoint on resume)."""

    epochs: int
    batch_size: int
    fingerprint: str
    rng: np.random.Generator
    schedule: Any = None
    done: int = 0
    records: tuple = ()
    counters: dict = field(default_factory=dict)
    user_rng: np.random.Generator | None = None

    def save(self, path: str | os.PathLike, net: Any, learner: Any, epoch: int,
             records: list) -> None:
        """Write the checkpoint after ``epoch``."""
        training = {"epoch": int(epoch), "epochs": self.epochs, "batch_size": self.batch_size,
                    "fingerprint": self.fingerprint, "rng": self.rng,
                    "lr_schedule": _schedule_name(self.schedule),
                    "records": [asdict(r) for r in records],
                    "counters": dict(self.counters)}
        persist.save(path, net, learner, training=training)

    def restore(self, path: str | os.PathLike, net: Any, learner: Any) -> None:
        """Load ``path`` into ``net`` and ``learner`` in place and continue from it."""
        from ._base import EpochRecord

        src = str(path)
        loaded_net, loaded_learner, training = persist._load_all(path, _drivers(net))
        if not isinstance(training, dict):
            raise persist.PersistError(f"{src} holds no fit progress (it was written by "
                                       "physnn.save, not by fit(checkpoint=...))")
        for key, mine in (("epochs", self.epochs), ("batch_size", self.batch_size)):
            if training[key] != mine:
                raise persist.PersistError(
                    f"{src} was written by fit({key}={training[key]}); resume it with the same "
                    f"{key} (got {mine})")
        if training["fingerprint"] != self.fingerprint:
            raise persist.PersistError(f"{src} was written for other training data "
                                       f"({training['fingerprint']}, here {self.fingerprint})")
        if training["lr_schedule"] != _schedule_name(self.schedule):
            raise persist.PersistError(f"{src} was written with lr_schedule="
                                       f"{training['lr_schedule']!r}; resume it with the same")
        if loaded_learner is None:
            raise persist.PersistError(f"{src} holds no learner")
        persist.restore_into(net, loaded_net, src, "model")
        persist.restore_into(learner, loaded_learner, src, "learner")
        self.done = int(training["epoch"])
        self.records = tuple(EpochRecord(**r) for r in training["records"])
        self.counters = dict(training["counters"])
        self.user_rng, self.rng = self.rng, training["rng"]

    def hand_back(self) -> None:
        """Leave the caller's generator where the run's generator ended."""
        if self.user_rng is not None:
            self.user_rng.bit_generator.state = self.rng.bit_generator.state
