"""Trainable digital layers with hand-written local gradients.

A digital layer holds its parameters as a small immutable record (a ``NamedTuple`` of
arrays) and computes its own gradients; nothing here differentiates through a physical
layer. The only layer a physical network needs is :class:`Linear`,

.. math:: y = x W^\\top + b, \\qquad W \\in \\mathbb{R}^{m \\times n},\\; b \\in \\mathbb{R}^m,

whose gradients for an upstream gradient :math:`g = \\partial L / \\partial y` are

.. math:: \\partial L/\\partial W = g^\\top x, \\quad
          \\partial L/\\partial b = \\textstyle\\sum_i g_i, \\quad \\partial L/\\partial x = g W.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["Linear", "LinearParams"]


class LinearParams(NamedTuple):
    """Parameters of :class:`Linear`: ``weight`` (out, in) and ``bias`` (out,)."""

    weight: np.ndarray
    bias: np.ndarray


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.array(a, copy=True)
    a.flags.writeable = False
    return a


class Linear:
    """Fully connected layer :math:`y = x W^\\top + b` with a local gradient.

    Parameters
    ----------
    in_features, out_features : int
        Input width :math:`n` and output width :math:`m`.
    bias : bool, default True
        Whether to learn the offset :math:`b` (kept at zero otherwise).
    dtype : numpy dtype, default float32
        Parameter dtype.

    Notes
    -----
    ``params`` is ``None`` until :meth:`reset_parameters` is called (a learner's ``fit`` does
    that with its own RNG), so that every random draw of a run comes from the RNG given at the
    call. Parameters are replaced, never modified in place.
    """

    def __init__(self, in_features: int, out_features: int, *, bias: bool = True,
                 dtype: np.dtype | type = np.float32) -> None:
        for name, v in (("in_features", in_features), ("out_features", out_features)):
            if not isinstance(v, int | np.integer) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        self.use_bias = bool(bias)
        self.dtype = np.dtype(dtype)
        if self.dtype.kind != "f":
            raise TypeError(f"dtype must be a floating dtype, got {self.dtype}")
        self._params: LinearParams | None = None

    # -- parameters -----------------------------------------------------------------------
    @property
    def params(self) -> LinearParams | None:
        """Current parameters (``None`` before initialisation)."""
        return self._params

    @params.setter
    def params(self, value: LinearParams) -> None:
        self.check_params(value)
        self._params = LinearParams(_frozen(value.weight.astype(self.dtype, copy=False)),
                                    _frozen(value.bias.astype(self.dtype, copy=False)))

    def check_params(self, p: LinearParams) -> None:
        """Raise ``ValueError`` unless ``p`` has this layer's shapes and finite values."""
        if not isinstance(p, LinearParams):
            raise TypeError(f"params must be a LinearParams record, got {type(p).__name__}")
        if p.weight.shape != (self.out_features, self.in_features):
            raise ValueError("params.weight must have shape "
                             f"{(self.out_features, self.in_features)}, got {p.weight.shape}")
        if p.bias.shape != (self.out_features,):
            raise ValueError(f"params.bias must have shape {(self.out_features,)}, "
                             f"got {p.bias.shape}")
        if not (np.all(np.isfinite(p.weight)) and np.all(np.isfinite(p.bias))):
            raise ValueError("params contain NaN or infinite values")

    def reset_parameters(self, rng: np.random.Generator) -> LinearParams:
        """Draw fresh parameters: :math:`W_{jk} \\sim U(-1/\\sqrt n, 1/\\sqrt n)`, :math:`b=0`.

        Returns the new record and stores it in :attr:`params`.
        """
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        bound = 1.0 / np.sqrt(self.in_features)
        w = rng.uniform(-bound, bound, size=(self.out_features, self.in_features))
        self.params = LinearParams(w, np.zeros(self.out_features))
        return self._params

    def _resolve(self, params: LinearParams | None) -> LinearParams:
        p = self._params if params is None else params
        if p is None:
            raise RuntimeError("Linear has no parameters yet: call reset_parameters(rng) or fit a "
                               "learner first")
        return p

    # -- computation ----------------------------------------------------------------------
    def forward(self, x: np.ndarray, params: LinearParams | None = None) -> np.ndarray:
        """:math:`y = x W^\\top + b`; ``x`` (batch, in_features) -> (batch, out_features)."""
        p = self._resolve(params)
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise ValueError(f"x must have shape (batch, {self.in_features}), got {x.shape}")
        y = x @ p.weight.T
        if self.use_bias:
            y = y + p.bias
        return y

    __call__ = forward

    def backward(self, x: np.ndarray, grad_y: np.ndarray, params: LinearParams | None = None, *,
                 need_input_grad: bool = False) -> tuple[LinearParams, np.ndarray | None]:
        """Local gradients for an upstream gradient ``grad_y`` = :math:`\\partial L/\\partial y`.

        Returns ``(LinearParams(dW, db), dx)`` with :math:`dW = g^\\top x` (out, in),
        :math:`db = \\sum_i g_i` (zero when the layer has no bias) and, when
        ``need_input_grad``, :math:`dx = g W` (batch, in); otherwise ``dx`` is ``None``.
        """
        p = self._resolve(params)
        gw = grad_y.T @ x
        gb = grad_y.sum(axis=0) if self.use_bias else np.zeros_like(p.bias)
        gx = grad_y @ p.weight if need_input_grad else None
        return LinearParams(gw, gb), gx

    def macs(self, batch: int) -> int:
        """Multiply-accumulates of one forward pass on ``batch`` samples (:math:`B n m`)."""
        return int(batch) * self.in_features * self.out_features

    def __repr__(self) -> str:
        return (f"Linear(in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.use_bias})")
