"""Network containers: a :class:`Block` (physical layer + trainable digital layer) and a
:class:`PhysicalNetwork` (a chain of blocks).

Block :math:`\\ell` maps its input :math:`h_\\ell` (batch, d) to

.. math::
    z_\\ell = P_\\ell(\\mathrm{encode}(h_\\ell)), \\qquad
    y_\\ell = W_\\ell [z_\\ell ; h_\\ell] + b_\\ell

where :math:`P_\\ell` is a physical layer (queried, never differentiated) and the skip
concatenation :math:`[z; h]` is optional. How :math:`y_\\ell` becomes the next block's input
is decided by the learning rule (see :mod:`physnn.learning`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .layers import Linear
from .physical import PhysicalLayer

__all__ = ["Block", "PhysicalNetwork", "PhysicalLayerError", "abs_max_scale", "identity",
           "layer_name"]


class PhysicalLayerError(RuntimeError):
    """A physical layer failed or returned non-finite values during training or inference.

    Attributes
    ----------
    layer : str or None
        The failing layer's name (a :class:`~physnn.CallableLayer`'s ``name``, the wrapped
        layer's name for a :class:`~physnn.Perturbed`, else its class name).
    """

    def __init__(self, message: str, *, layer: str | None = None) -> None:
        super().__init__(message)
        self.layer = layer

    def __reduce__(self):  # keep ``layer`` through pickling (worker processes)
        return (_rebuild_layer_error, (str(self), self.layer))


def _rebuild_layer_error(message: str, layer: str | None) -> PhysicalLayerError:
    return PhysicalLayerError(message, layer=layer)


def layer_name(layer: PhysicalLayer) -> str:
    """The name errors and reports use for a physical layer: its ``name`` attribute when it
    has one (a :class:`~physnn.CallableLayer`, a :class:`~physnn.Perturbed`), else its class
    name."""
    name = getattr(layer, "name", None)
    return name if isinstance(name, str) and name else type(layer).__name__


def identity(h: np.ndarray) -> np.ndarray:
    """Send the block input to the physical layer unchanged."""
    return h


def abs_max_scale(h: np.ndarray) -> np.ndarray:
    """Per-sample scaling into [0, 1]: :math:`u_j = |h_j| / \\max_k |h_k|` (0 for a zero row).

    Suits physical layers whose inputs are amplitudes in [0, 1] (acoustic, microwave).
    """
    a = np.abs(h)
    m = a.max(axis=1, keepdims=True)
    return np.divide(a, m, out=np.zeros_like(a), where=m > 0)


class Block:
    """A physical layer followed by a trainable digital :class:`~physnn.layers.Linear` layer.

    Parameters
    ----------
    physical : PhysicalLayer
        The fixed black-box layer :math:`P`. Its ``in_features`` is the block's input width.
    digital : Linear
        The trainable layer; ``in_features`` must be ``physical.out_features`` (no skip) or
        ``physical.out_features + physical.in_features`` (skip).
    skip : bool, default True
        Concatenate the block input to the physical output, :math:`[z; h]`.
    encode : callable, optional
        Shape-preserving map from the block input to the physical input (e.g.
        :func:`abs_max_scale`); the identity by default.
    """

    def __init__(self, physical: PhysicalLayer, digital: Linear, *, skip: bool = True,
                 encode: Callable[[np.ndarray], np.ndarray] | None = None) -> None:
        if not isinstance(physical, PhysicalLayer):
            raise TypeError("physical must be a physnn.PhysicalLayer (wrap a callable in a "
                            f"PhysicalLayer subclass), got {type(physical).__name__}")
        if not isinstance(digital, Linear):
            raise TypeError(f"digital must be a physnn.Linear, got {type(digital).__name__}")
        expect = physical.out_features + (physical.in_features if skip else 0)
        if digital.in_features != expect:
            raise ValueError(
                f"digital.in_features must be {expect} (physical.out_features="
                f"{physical.out_features}" + (f" + block input {physical.in_features}" if skip
                                               else "") + f"), got {digital.in_features}")
        if encode is not None and not callable(encode):
            raise TypeError("encode must be callable or None")
        self.physical = physical
        self.digital = digital
        self.skip = bool(skip)
        self.encode = identity if encode is None else encode

    @property
    def in_features(self) -> int:
        """Width of the block input :math:`h`."""
        return self.physical.in_features

    @property
    def out_features(self) -> int:
        """Width of the block output :math:`y`."""
        return self.digital.out_features

    def measure(self, h: np.ndarray, *, rng: np.random.Generator | None = None) -> np.ndarray:
        """Query the physical layer and return the digital layer's input :math:`[z; h]`.

        Raises
        ------
        PhysicalLayerError
            When the physical layer raises or returns non-finite values.
        """
        u = np.asarray(self.encode(h))
        if u.shape != h.shape:
            raise ValueError(f"encode must preserve the shape {h.shape}, returned {u.shape}")
        try:
            z = self.physical.forward(u, rng=rng)
        except Exception as exc:
            name = layer_name(self.physical)  # only on failure: a layer is only queried
            raise PhysicalLayerError(f"physical layer {name!r} ({type(self.physical).__name__}) "
                                     f"failed: {exc}", layer=name) from exc
        if not np.all(np.isfinite(z)):
            name = layer_name(self.physical)
            raise PhysicalLayerError(f"physical layer {name!r} ({type(self.physical).__name__}) "
                                     "returned NaN or infinite values", layer=name)
        z = z.astype(self.digital.dtype, copy=False)
        if self.skip:
            return np.concatenate([z, h.astype(self.digital.dtype, copy=False)], axis=1)
        return z

    def __repr__(self) -> str:
        return f"Block({self.physical!r}, {self.digital!r}, skip={self.skip})"


class PhysicalNetwork:
    """A chain of :class:`Block` s; block :math:`\\ell+1` reads block :math:`\\ell`'s output.

    Parameters
    ----------
    blocks : sequence of Block
        ``blocks[l+1].in_features`` must equal ``blocks[l].out_features``.
    """

    def __init__(self, blocks: Sequence[Block]) -> None:
        blocks = list(blocks)
        if not blocks:
            raise ValueError("blocks must contain at least one Block")
        for i, b in enumerate(blocks):
            if not isinstance(b, Block):
                raise TypeError(f"blocks[{i}] must be a physnn.Block, got {type(b).__name__}")
        for i in range(len(blocks) - 1):
            if blocks[i + 1].in_features != blocks[i].out_features:
                raise ValueError(f"blocks[{i + 1}].in_features ({blocks[i + 1].in_features}) must "
                                 f"equal blocks[{i}].out_features ({blocks[i].out_features})")
        self.blocks = tuple(blocks)
        #: Identity of this model, kept by save / load and copies; a learner's training state
        #: records the model it belongs to by this, never by ``id()``.
        self.uid = uuid.uuid4().hex
        self._readout: Any = None

    @property
    def readout(self) -> Any:
        """How the trained network classifies (:mod:`physnn.readouts`); ``None`` until a
        learner has been fitted. Saved with the network, so that :meth:`predict` needs no
        learner."""
        return self._readout

    @readout.setter
    def readout(self, value: Any) -> None:
        if value is not None:
            if not hasattr(value, "predict_batch") or not hasattr(value, "check"):
                raise TypeError("readout must be a physnn.readouts readout (GoodnessReadout or "
                                f"HeadReadout) or None, got {type(value).__name__}")
            value.check(self)
        self._readout = value

    def predict(self, x: np.ndarray, *, rng: np.random.Generator | None = None,
                batch_size: int = 1024) -> np.ndarray:
        """Predicted class of every row of ``x`` with the network's own readout.

        Parameters
        ----------
        x : ndarray, shape (n, d)
            Data samples (without a label overlay; the readout adds it).
        rng : numpy.random.Generator, optional
            Noise of the physical layers (``None``: their own seeded generators).
        batch_size : int, default 1024

        Returns
        -------
        ndarray of int64, shape (n,)
        """
        if self._readout is None:
            raise RuntimeError("this network has no readout yet: train it with a learner's "
                               "fit (or load a trained one with physnn.load)")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer) \
                or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        x = np.asarray(x)
        width = self._readout.data_width(self)
        if x.ndim != 2 or x.shape[1] != width:
            raise ValueError(f"x must have shape (n, {width}) for this network, got {x.shape}")
        if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
            raise TypeError(f"x must be a real array, got dtype {x.dtype}")
        if not np.all(np.isfinite(x)):
            raise ValueError("x contains NaN or infinite values")
        x = x.astype(self.blocks[0].digital.dtype, copy=False)
        out = [self._readout.predict_batch(self, x[s:s + batch_size], rng)
               for s in range(0, x.shape[0], batch_size)]
        return np.concatenate(out).astype(np.int64) if out else np.zeros(0, np.int64)

    @property
    def in_features(self) -> int:
        """Width of the network input."""
        return self.blocks[0].in_features

    def __len__(self) -> int:
        return len(self.blocks)

    def __iter__(self):
        return iter(self.blocks)

    def __getitem__(self, i: int) -> Block:
        return self.blocks[i]

    @property
    def queries(self) -> int:
        """Physical queries served so far by all blocks' physical layers."""
        return sum(b.physical.queries for b in self.blocks)

    def get_params(self) -> tuple:
        """The digital parameters of every block, as a tuple of records."""
        return tuple(b.digital.params for b in self.blocks)

    def set_params(self, params: Sequence) -> None:
        """Replace every block's digital parameters (all validated before any is set)."""
        params = tuple(params)
        if len(params) != len(self.blocks):
            raise ValueError(f"params must have {len(self.blocks)} records, got {len(params)}")
        for b, p in zip(self.blocks, params, strict=True):
            b.digital.check_params(p)
        for b, p in zip(self.blocks, params, strict=True):
            b.digital.params = p

    def __repr__(self) -> str:
        inner = ",\n  ".join(repr(b) for b in self.blocks)
        return f"PhysicalNetwork([\n  {inner}\n])"
