"""A small, fast physical network with a drifting physical parameter, for the robustness
tests (seeded; trains in about a second)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import physnn as pn
from physnn.persist import register
from physnn.physical import PhysicalLayer

K = 4  # classes
D = 8  # data features


@dataclass(frozen=True)
class ToyParams:
    """The drive gain of :class:`GainProjection` (1 = as built)."""

    gain: float = 1.0


class GainProjection(PhysicalLayer):
    """``y = tanh(2 g x A) ** 2``: a fixed random projection with a saturating read-out and a
    physical drive gain ``g`` that may drift."""

    def __init__(self, n: int, m: int, seed: int = 0) -> None:
        super().__init__()
        self.in_features, self.out_features = n, m
        self._a = np.random.default_rng(seed).standard_normal((n, m)) / np.sqrt(n)
        self.params = ToyParams()

    def _forward(self, x, rng):
        return np.tanh(2.0 * self.params.gain * (x @ self._a)) ** 2


register(GainProjection, name="tests.GainProjection")
register(ToyParams, name="tests.ToyParams")


def blobs(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` samples of ``K`` overlapping Gaussian classes in ``D`` features, in [0, 1]."""
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(99).uniform(0.2, 0.8, size=(K, D))
    y = rng.integers(0, K, size=n)
    x = centres[y] + 0.12 * rng.standard_normal((n, D))
    return x.clip(0, 1).astype(np.float32), y.astype(np.int64)


def network(width: int, seed: int = 0) -> pn.PhysicalNetwork:
    """Two blocks ``GainProjection -> Linear``; ``width`` = the network input width."""
    return pn.PhysicalNetwork([
        pn.Block(GainProjection(width, 24, seed=seed), pn.Linear(24 + width, 16)),
        pn.Block(GainProjection(16, 24, seed=seed + 1), pn.Linear(24 + 16, 16),
                 encode=pn.nets.abs_max_scale),
    ])


def trained(learner, epochs: int = 25, seed: int = 0):
    """``(net, x_train, y_train, x_test, y_test)``: ``learner`` trained on 400 samples; 300
    test samples (1 point = 3 samples)."""
    x, y = blobs(400, seed)
    xt, yt = blobs(300, seed + 100)
    net = network(learner.input_width(D, K), seed)
    learner.fit(net, x, y, epochs=epochs, batch_size=32, rng=np.random.default_rng(seed),
                progress=False)
    return net, x, y, xt, yt
