"""Surrogate gradients of the Heaviside spike function.

The forward pass of a spiking neuron emits ``s = H(u - threshold)``; training replaces the
derivative of ``H`` by a smooth surrogate ``sg'(z)``, ``z = u - threshold``. Parameter
conventions follow snntorch (``atan``, ``fast_sigmoid``) and SpikingJelly (``triangle`` =
``PiecewiseQuadratic``, ``sigmoid``), so a model trained elsewhere keeps its gradient here.

=============  ==========  =======================================  ==============
name           parameter   sg'(z)                                   default
=============  ==========  =======================================  ==============
atan           alpha       alpha/2 / (1 + (pi/2 alpha z)^2)         alpha = 2
fast_sigmoid   slope       1 / (slope |z| + 1)^2                    slope = 25
triangle       alpha       max(0, alpha - alpha^2 |z|)              alpha = 1
rectangle      width       1/width on |z| < width/2, else 0         width = 1
sigmoid        alpha       alpha sigma(alpha z) (1 - sigma(alpha z)) alpha = 4
=============  ==========  =======================================  ==============
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .kernels import lif_update as _U

__all__ = ["Surrogate", "atan", "fast_sigmoid", "triangle", "rectangle", "sigmoid",
           "get_surrogate"]


class Surrogate(NamedTuple):
    """A surrogate-gradient choice: its name, kernel code and parameter."""

    name: str
    kind: int
    param: float

    def derivative(self, z: np.ndarray) -> np.ndarray:
        """``sg'(z)`` evaluated with NumPy (float64 unless ``z`` is float32)."""
        z = np.asarray(z)
        p = self.param
        if self.kind == _U.SG_ATAN:
            return p / 2 / (1 + (math.pi / 2 * p * z) ** 2)
        if self.kind == _U.SG_FAST_SIGMOID:
            return 1 / (p * np.abs(z) + 1) ** 2
        if self.kind == _U.SG_TRIANGLE:
            return np.maximum(0, p - p * p * np.abs(z))
        if self.kind == _U.SG_RECTANGLE:
            return np.where(np.abs(z) < p / 2, 1 / p, 0.0).astype(z.dtype, copy=False)
        sg = 1 / (1 + np.exp(-p * z))
        return p * sg * (1 - sg)

    def primitive(self, z: np.ndarray) -> np.ndarray:
        """A smooth step ``S(z)`` with ``S' = sg'`` (the "smoothed model" used to check
        gradients by finite differences)."""
        z = np.asarray(z, dtype=np.float64)
        p = self.param
        if self.kind == _U.SG_ATAN:
            return np.arctan(math.pi / 2 * p * z) / math.pi + 0.5
        if self.kind == _U.SG_FAST_SIGMOID:
            return z / (1 + p * np.abs(z))
        if self.kind == _U.SG_TRIANGLE:
            a = np.clip(np.abs(z), 0, 1 / p)
            return np.sign(z) * (p * a - p * p * a * a / 2) + 0.5
        if self.kind == _U.SG_RECTANGLE:
            return np.clip(z / p + 0.5, 0, 1)
        return 1 / (1 + np.exp(-p * z))


def _make(name: str, kind: int, param: float, pname: str) -> Surrogate:
    param = float(param)
    if not (math.isfinite(param) and param > 0):
        raise ValueError(f"surrogate {name!r}: {pname} must be a finite number > 0, got {param}")
    return Surrogate(name, kind, param)


def atan(alpha: float = 2.0) -> Surrogate:
    """Arc-tangent surrogate, ``sg'(z) = alpha/2 / (1 + (pi/2 alpha z)^2)`` (snntorch ``atan``)."""
    return _make("atan", _U.SG_ATAN, alpha, "alpha")


def fast_sigmoid(slope: float = 25.0) -> Surrogate:
    """Fast-sigmoid surrogate, ``sg'(z) = 1 / (slope |z| + 1)^2`` (snntorch ``fast_sigmoid``)."""
    return _make("fast_sigmoid", _U.SG_FAST_SIGMOID, slope, "slope")


def triangle(alpha: float = 1.0) -> Surrogate:
    """Triangle (piecewise-quadratic) surrogate, ``sg'(z) = max(0, alpha - alpha^2 |z|)``
    (SpikingJelly ``PiecewiseQuadratic``; SLTT's triangle with ``gamma = 1/alpha``)."""
    return _make("triangle", _U.SG_TRIANGLE, alpha, "alpha")


def rectangle(width: float = 1.0) -> Surrogate:
    """Rectangle surrogate, ``sg'(z) = 1/width`` for ``|z| < width/2``, else 0."""
    return _make("rectangle", _U.SG_RECTANGLE, width, "width")


def sigmoid(alpha: float = 4.0) -> Surrogate:
    """Sigmoid surrogate, ``sg'(z) = alpha sigma(alpha z)(1 - sigma(alpha z))`` (SpikingJelly)."""
    return _make("sigmoid", _U.SG_SIGMOID, alpha, "alpha")


_BY_NAME = {"atan": atan, "fast_sigmoid": fast_sigmoid, "triangle": triangle,
            "rectangle": rectangle, "sigmoid": sigmoid}


def get_surrogate(surrogate: str | Surrogate) -> Surrogate:
    """Accept a :class:`Surrogate` or a name (default parameter); raise on anything else."""
    if isinstance(surrogate, Surrogate):
        return surrogate
    if isinstance(surrogate, str) and surrogate in _BY_NAME:
        return _BY_NAME[surrogate]()
    raise ValueError(
        f"surrogate must be one of {sorted(_BY_NAME)} or a physnn.surrogate.Surrogate, "
        f"got {surrogate!r}"
    )
