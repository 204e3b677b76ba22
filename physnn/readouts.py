"""How a trained :class:`~physnn.PhysicalNetwork` turns its block outputs into a class.

A readout is part of the model, not of the learner that trained it: it lives in
``net.readout``, is saved with the network, and lets ``net.predict(x)`` run with no learner.

- :class:`GoodnessReadout` (PhyLL, Forward-Forward): every candidate label :math:`c` is
  overlaid on the input (:func:`overlay_labels`), the blocks run, and the prediction is
  :math:`\\arg\\max_c \\sum_\\ell G_\\ell(x \\oplus c)` (:math:`K` physical passes per sample).
- :class:`HeadReadout` (local readout): one physical pass; the last block's linear head gives
  the logits.

Readouts are immutable records; a learner replaces ``net.readout`` as it trains.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .layers import LinearParams

if TYPE_CHECKING:  # pragma: no cover
    from .nets import PhysicalNetwork

__all__ = ["GoodnessReadout", "HeadReadout", "overlay_labels"]


def overlay_labels(x: np.ndarray, labels: np.ndarray, num_classes: int, *,
                   mode: str = "prepend") -> np.ndarray:
    """Write a one-hot label into the input, as Forward-Forward does.

    The first ``num_classes`` entries are zeroed and entry ``labels[i]`` is set to
    :math:`\\max_j |x_{ij}|` (1 for an all-zero row). With ``mode="prepend"`` these
    ``num_classes`` entries are added in front of ``x`` (width ``d + K``); with
    ``mode="replace"`` they overwrite the first ``K`` features (width ``d``).
    """
    x = np.asarray(x)
    labels = np.asarray(labels)
    if mode not in ("prepend", "replace"):
        raise ValueError(f"mode must be 'prepend' or 'replace', got {mode!r}")
    if mode == "replace" and x.shape[1] < num_classes:
        raise ValueError(f"mode='replace' needs at least num_classes={num_classes} features, "
                         f"x has {x.shape[1]}")
    peak = np.abs(x).max(axis=1)
    peak = np.where(peak > 0, peak, 1.0).astype(x.dtype)
    if mode == "prepend":
        out = np.concatenate([np.zeros((x.shape[0], num_classes), x.dtype), x], axis=1)
    else:
        out = x.copy()
        out[:, :num_classes] = 0
    out[np.arange(x.shape[0]), labels] = peak
    return out


def _check_classes(num_classes: int) -> int:
    if isinstance(num_classes, bool) or not isinstance(num_classes, int | np.integer) \
            or num_classes < 2:
        raise ValueError(f"num_classes must be an int >= 2, got {num_classes!r}")
    return int(num_classes)


@dataclass(frozen=True, eq=False)
class GoodnessReadout:
    """Inference rule of the goodness learners (:class:`~physnn.learning.PhyLL`,
    :class:`~physnn.learning.ForwardForward`).

    Parameters
    ----------
    num_classes : int
        :math:`K`.
    goodness : {"cosine", "square"}
        ``"cosine"``: :math:`G_\\ell = \\cos(|y_\\ell|, \\xi_\\ell)` (PhyLL, needs ``xi``);
        ``"square"``: :math:`G = \\frac1m \\sum_j \\max(y_j, 0)^2` (Forward-Forward).
    transfer : {"identity", "normalized_relu"}
        The next block's input: :math:`h_{\\ell+1} = y_\\ell`, or
        :math:`a_\\ell / (\\lVert a_\\ell \\rVert + 10^{-8})` with :math:`a = \\max(y, 0)`.
    overlay : {"prepend", "replace"}
        How the label enters the input (:func:`overlay_labels`).
    xi : tuple of ndarray, optional
        Per-block unit goodness vectors :math:`\\xi_\\ell` (``"cosine"`` only).
    """

    num_classes: int
    goodness: str
    transfer: str
    overlay: str = "prepend"
    xi: tuple = ()

    def __post_init__(self) -> None:
        _check_classes(self.num_classes)
        if self.goodness not in ("cosine", "square"):
            raise ValueError(f"goodness must be 'cosine' or 'square', got {self.goodness!r}")
        if self.transfer not in ("identity", "normalized_relu"):
            raise ValueError("transfer must be 'identity' or 'normalized_relu', got "
                             f"{self.transfer!r}")
        if self.overlay not in ("prepend", "replace"):
            raise ValueError(f"overlay must be 'prepend' or 'replace', got {self.overlay!r}")
        if self.goodness == "cosine" and not self.xi:
            raise ValueError("the cosine goodness needs the goodness vectors xi")

    def check(self, net: PhysicalNetwork) -> None:
        """Raise ``ValueError`` unless this readout fits ``net``'s blocks."""
        if self.goodness == "cosine":
            if len(self.xi) != len(net.blocks):
                raise ValueError(f"readout has {len(self.xi)} goodness vectors for "
                                 f"{len(net.blocks)} blocks")
            for i, (v, b) in enumerate(zip(self.xi, net.blocks, strict=True)):
                if np.shape(v) != (b.out_features,):
                    raise ValueError(f"goodness vector {i} has shape {np.shape(v)}, block {i} "
                                     f"gives {b.out_features} outputs")
        self.data_width(net)

    def data_width(self, net: PhysicalNetwork) -> int:
        """Features of one data sample (the network input minus the label overlay)."""
        w = net.in_features - (self.num_classes if self.overlay == "prepend" else 0)
        if w < (1 if self.overlay == "prepend" else self.num_classes):
            raise ValueError(f"the network input width {net.in_features} cannot hold "
                             f"{self.num_classes} classes with overlay={self.overlay!r}")
        return w

    def block_goodness(self, i: int, y: np.ndarray) -> np.ndarray:
        """Goodness of block ``i``'s outputs ``y`` (B, m), shape (B,)."""
        from .learning.losses import cosine_goodness, square_goodness

        if self.goodness == "cosine":
            return cosine_goodness(y, self.xi[i])
        return square_goodness(y)

    def block_goodness_grad(self, i: int, y: np.ndarray, grad_g: np.ndarray) -> np.ndarray:
        """Back-propagate ``grad_g`` (B,) through block ``i``'s goodness to ``y``."""
        from .learning.losses import cosine_goodness_grad, square_goodness_grad

        if self.goodness == "cosine":
            return cosine_goodness_grad(y, self.xi[i], grad_g)
        return square_goodness_grad(y, grad_g)

    def next_input(self, y: np.ndarray) -> np.ndarray:
        """The next block's input from this block's output."""
        if self.transfer == "identity":
            return y
        a = np.maximum(y, 0.0)
        return a / (np.linalg.norm(a, axis=1, keepdims=True) + 1e-8)

    def scores(self, net: PhysicalNetwork, x: np.ndarray, *,
               rng: np.random.Generator | None = None) -> np.ndarray:
        """Summed goodness :math:`S_{ic} = \\sum_\\ell G_\\ell(x_i \\oplus c)`, shape (n, K).

        All :math:`K` hypotheses of a sample are measured in one batch and at one instant
        (:func:`physnn.perturb.same_instant`): a perturbation that changes from query to
        query sees every hypothesis of sample :math:`i` as it is at that sample's instant,
        so the vote is not skewed by when each hypothesis happened to be measured.
        """
        from .perturb import same_instant

        k, n = self.num_classes, x.shape[0]
        h = np.concatenate([overlay_labels(x, np.full(n, c), k, mode=self.overlay)
                            for c in range(k)])
        total = np.zeros(k * n)
        with same_instant(n):
            for i, blk in enumerate(net.blocks):
                yv = blk.digital.forward(blk.measure(h, rng=rng))
                total += self.block_goodness(i, yv)
                h = self.next_input(yv)
        return total.reshape(k, n).T

    def predict_batch(self, net: PhysicalNetwork, x: np.ndarray,
                      rng: np.random.Generator | None) -> np.ndarray:
        return np.argmax(self.scores(net, x, rng=rng), axis=1)

    def macs(self, net: PhysicalNetwork, n: int) -> int:
        """``K`` label hypotheses per sample, each a full pass through the digital layers."""
        return int(n) * self.num_classes * sum(b.digital.macs(1) for b in net.blocks)


@dataclass(frozen=True, eq=False)
class HeadReadout:
    """Inference rule of :class:`~physnn.learning.LocalReadout`: one physical pass,
    :math:`h_{\\ell+1} = \\max(y_\\ell, 0)`, logits :math:`o = V_L a_L + c_L` of the last
    block's head.

    Parameters
    ----------
    num_classes : int
    heads : tuple of LinearParams
        Every block's head ``(V, c)``, ``V`` of shape (K, block outputs); inference uses the
        last one.
    """

    num_classes: int
    heads: tuple

    def __post_init__(self) -> None:
        _check_classes(self.num_classes)
        if not self.heads or not all(isinstance(h, LinearParams) for h in self.heads):
            raise ValueError("heads must be a non-empty tuple of LinearParams")

    def check(self, net: PhysicalNetwork) -> None:
        """Raise ``ValueError`` unless the heads fit ``net``'s blocks."""
        if len(self.heads) != len(net.blocks):
            raise ValueError(f"readout has {len(self.heads)} heads for {len(net.blocks)} blocks")
        for i, (h, b) in enumerate(zip(self.heads, net.blocks, strict=True)):
            if h.weight.shape != (self.num_classes, b.out_features) or h.bias.shape != (
                    self.num_classes,):
                raise ValueError(f"head {i} has shapes {h.weight.shape}, {h.bias.shape}; block "
                                 f"{i} needs ({self.num_classes}, {b.out_features}), "
                                 f"({self.num_classes},)")

    def data_width(self, net: PhysicalNetwork) -> int:
        return net.in_features

    def logits(self, net: PhysicalNetwork, x: np.ndarray, *,
               rng: np.random.Generator | None = None) -> np.ndarray:
        """Logits of the last block's head, shape (n, K), from one physical pass."""
        h = x
        for blk in net.blocks:
            h = np.maximum(blk.digital.forward(blk.measure(h, rng=rng)), 0.0)
        head = self.heads[-1]
        return h @ head.weight.T + head.bias

    def predict_batch(self, net: PhysicalNetwork, x: np.ndarray,
                      rng: np.random.Generator | None) -> np.ndarray:
        return np.argmax(self.logits(net, x, rng=rng), axis=1)

    def macs(self, net: PhysicalNetwork, n: int) -> int:
        """One pass through every digital layer plus the last head."""
        last = net.blocks[-1].out_features * self.num_classes
        return int(n) * (sum(b.digital.macs(1) for b in net.blocks) + last)
