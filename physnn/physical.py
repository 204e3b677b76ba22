"""The ``PhysicalLayer`` protocol: a black-box forward layer that may be queried, never
differentiated.

A physical layer maps a batch ``x`` of shape ``(batch, in_features)`` to ``(batch,
out_features)``. It carries no gradient, may be noisy (it then draws from the ``rng`` it is
given), and counts the physical queries it served (one query = one sample sent through the
system). Simulators in ``hardware_models`` and wrappers around real instruments implement it
the same way, so a training rule cannot tell them apart.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

__all__ = ["PhysicalLayer"]


class PhysicalLayer(ABC):
    """Base class of every physical (black-box) layer.

    Subclasses set ``in_features`` and ``out_features`` and implement :meth:`_forward`, which
    receives a validated C-contiguous float array of shape ``(batch, in_features)``.
    :meth:`forward` validates, counts queries and checks the result.
    """

    in_features: int
    out_features: int

    def __init__(self) -> None:
        self._queries = 0

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

    def forward(self, x: np.ndarray, *, rng: np.random.Generator | None = None) -> np.ndarray:
        """Query the physical system on a batch.

        Parameters
        ----------
        x : ndarray, shape (batch, in_features)
            Finite real inputs. A 1-D array is taken as a batch of one.
        rng : numpy.random.Generator, optional
            Source of the layer's noise, if it has any. ``None`` uses the layer's own seed.

        Returns
        -------
        ndarray, shape (batch, out_features), float32
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
            raise RuntimeError(
                f"{type(self).__name__} returned shape {y.shape}, expected "
                f"({x.shape[0]}, {self.out_features})"
            )
        self._queries += x.shape[0]
        return y.astype(np.float32, copy=False)

    __call__ = forward

    def __repr__(self) -> str:
        return f"{type(self).__name__}(in_features={self.in_features}, out_features={self.out_features})"
