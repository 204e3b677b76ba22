"""Local learning rules for physical networks.

Every learner follows one protocol: ``fit(net, x, y, *, epochs, rng, batch_size, eval_data,
progress, callback, checkpoint, resume) -> History``, ``update(net, x, y, *, rng) -> loss`` (one
batch), ``predict(net, x)`` and ``evaluate(net, x, y) -> dict``.
"""

from __future__ import annotations

from . import losses
from ._base import EpochRecord, History, LocalLearner, overlay_labels
from .phyll import ForwardForward, PhyLL
from .readout import LocalReadout
from .sltt import BPTT, SLTT

__all__ = [
    "BPTT",
    "SLTT",
    "EpochRecord",
    "ForwardForward",
    "History",
    "LocalLearner",
    "LocalReadout",
    "PhyLL",
    "losses",
    "overlay_labels",
]
