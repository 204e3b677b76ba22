"""Small physical layers for the learner tests (fixed, nonlinear, black-box)."""

from __future__ import annotations

import numpy as np

from physnn.persist import register
from physnn.physical import PhysicalLayer


class SaturatingProjection(PhysicalLayer):
    """A fixed random projection followed by a saturating nonlinearity, ``tanh(x A) ** 2``."""

    def __init__(self, n: int, m: int, seed: int = 0) -> None:
        super().__init__()
        self.in_features, self.out_features = n, m
        self._a = np.random.default_rng(seed).standard_normal((n, m)) / np.sqrt(n)
        self.internal_calls = 0

    def _forward(self, x, rng):
        self.internal_calls += 1
        return np.tanh(x @ self._a * 2.0) ** 2


class FailingLayer(SaturatingProjection):
    """Serves ``ok_queries`` samples, then raises (``mode="raise"``) or returns NaN."""

    def __init__(self, n: int, m: int, ok_queries: int, mode: str = "raise", seed: int = 0):
        super().__init__(n, m, seed)
        self.ok_queries, self.mode, self.served = ok_queries, mode, 0

    def _forward(self, x, rng):
        y = super()._forward(x, rng)
        self.served += len(x)
        if self.served > self.ok_queries:
            if self.mode == "raise":
                raise OSError("instrument disconnected")
            y = y.copy()
            y[0, 0] = np.nan
        return y


# savable with physnn.save (test-only classes register under their own names)
register(SaturatingProjection, name="tests.SaturatingProjection")
register(FailingLayer, name="tests.FailingLayer")
