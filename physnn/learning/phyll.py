"""Model-free contrastive local learning of physical networks: PhyLL and Forward-Forward.

Both rules train each block from its own cached physical measurement, never through the
physics (Momeni et al., *Science* 2023; Hinton, 2022). For a batch :math:`(x_i, c_i)`:

1. a negative label :math:`\\tilde c_i \\neq c_i` is drawn uniformly; the positive and the
   negative input are the sample with its label overlaid (:func:`overlay_labels`);
2. block :math:`\\ell` measures :math:`u = [P_\\ell(\\mathrm{encode}(h)); h]` once for the
   :math:`2B` rows (:math:`2B` physical queries);
3. ``inner_steps`` optimizer steps on :math:`(W_\\ell, b_\\ell)` minimise the block's local
   loss of :math:`y = W_\\ell u + b_\\ell` on that cached :math:`u`;
4. the next block reads :math:`h_{\\ell+1} = \\phi(y_\\ell)` computed with the new parameters.

With ``negatives=m > 1``, step 1 draws :math:`m` distinct wrong labels per sample, every block
measures all :math:`(1 + m)B` rows, and each block trains against the candidate it currently
scores highest (its own hardest negative, chosen from its own goodness, so the rule stays
local). That costs :math:`(1 + m)/2` times the physical queries of ``negatives=1`` (the
method as published) and one extra digital forward pass over the candidates.

``backend="cuda"`` trains the digital layers on the GPU (:mod:`physnn.kernels.dense_cuda`):
a block's measurement is uploaded once per batch, the inner steps run on the device and the
new parameters come back; the results match the CPU's to float32 rounding. Inference and
the physical layers are unaffected.

Inference overlays every candidate label, runs all blocks and picks
:math:`\\arg\\max_c \\sum_\\ell G_\\ell(c)` (:math:`K` physical passes per sample).
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, NamedTuple

import numpy as np

from ..layers import LinearParams
from ..nets import PhysicalNetwork
from ..optim import SGD, Adam
from ..readouts import GoodnessReadout, overlay_labels
from ._base import LocalLearner
from .losses import contrastive_loss, threshold_loss

__all__ = ["ForwardForward", "GoodnessState", "PhyLL"]


class GoodnessState(NamedTuple):
    """Training state of the goodness learners: one optimizer state per block (the goodness
    vectors are model state, in ``net.readout``)."""

    opt_states: tuple


class _GoodnessLearner(LocalLearner):
    """Shared machinery of the contrastive (goodness-based) learners."""

    def __init__(self, *, optimizer, inner_steps, overlay, num_classes, negatives,
                 backend) -> None:
        super().__init__(optimizer=optimizer, inner_steps=inner_steps, num_classes=num_classes,
                         backend=backend)
        if overlay not in ("prepend", "replace"):
            raise ValueError(f"overlay must be 'prepend' or 'replace', got {overlay!r}")
        if not isinstance(negatives, int | np.integer) or negatives < 1:
            raise ValueError(f"negatives must be a positive int, got {negatives!r}")
        if num_classes is not None and negatives > num_classes - 1:
            raise ValueError(f"negatives must be <= num_classes - 1 = {num_classes - 1}, "
                             f"got {negatives}")
        self.overlay = overlay
        self.negatives = int(negatives)

    def _classes(self, net, y):
        k = super()._classes(net, y)
        if self.negatives > k - 1:
            raise ValueError(f"negatives={self.negatives} needs at least {self.negatives + 1} "
                             f"classes, the labels have {k}")
        return k

    def _draw_negatives(self, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Wrong labels, shape (m, B): row ``j`` holds every sample's ``j``-th candidate."""
        k, m = self.num_classes, self.negatives
        if m == 1:  # the published rule, one uniform wrong label (kept draw for draw)
            return ((y + rng.integers(1, k, size=y.shape[0])) % k)[None]
        offsets = np.argsort(rng.random((y.shape[0], k - 1)), axis=1)[:, :m] + 1
        return ((y[:, None] + offsets) % k).T

    # per-rule pieces
    goodness: str
    transfer: str

    def _goodness(self, i: int, y: np.ndarray) -> np.ndarray:
        """Goodness of block ``i``'s outputs, shape (B,) (the bound network's readout)."""
        return self._bound_readout.block_goodness(i, y)

    def _goodness_grad(self, i: int, y: np.ndarray, grad_g: np.ndarray) -> np.ndarray:
        """Back-propagate ``grad_g`` (B,) through the goodness to ``y``."""
        return self._bound_readout.block_goodness_grad(i, y, grad_g)

    @abstractmethod
    def _pair_loss(self, gp: np.ndarray, gn: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        """Loss of positive / negative goodness and its two gradients."""

    def _next(self, y: np.ndarray) -> np.ndarray:
        """The next block's input from this block's output."""
        return self._bound_readout.next_input(y)

    def _readout_fits(self, readout):
        if not isinstance(readout, GoodnessReadout):
            return f"it has a {type(readout).__name__}"
        for name in ("goodness", "transfer", "overlay"):
            if getattr(readout, name) != getattr(self, name):
                return f"its {name} is {getattr(readout, name)!r}, not {getattr(self, name)!r}"
        return None

    def _init_training(self, net):
        return GoodnessState(tuple(self.optimizer.init(b.digital.params) for b in net.blocks))

    def input_width(self, data_features: int, num_classes: int) -> int:
        """``d + K`` with ``overlay="prepend"``, ``d`` with ``overlay="replace"``."""
        return data_features + (num_classes if self.overlay == "prepend" else 0)

    def local_loss(self, i: int, linear, params: LinearParams, u_pos: np.ndarray,
                   u_neg: np.ndarray) -> tuple[float, LinearParams]:
        """Block ``i``'s local loss on cached inputs and its gradient w.r.t. ``params``.

        Parameters
        ----------
        i : int
            Block index (selects the block's goodness vector).
        linear : Linear
            The block's digital layer.
        params : LinearParams
        u_pos, u_neg : ndarray, shape (B, n)
            Measured digital-layer inputs :math:`[z; h]` of the positive and negative rows.

        Returns
        -------
        (float, LinearParams)
            The loss and :math:`(\\partial L/\\partial W, \\partial L/\\partial b)`.
        """
        if u_pos.shape != u_neg.shape:
            raise ValueError(f"u_pos and u_neg must have the same shape, got {u_pos.shape} and "
                             f"{u_neg.shape}")
        return self._loss_grad(i, linear, params, np.concatenate([u_pos, u_neg]), u_pos.shape[0])

    def _loss_grad(self, i, linear, params, u, b):
        y = linear.forward(u, params)
        g = self._goodness(i, y)
        loss, dgp, dgn = self._pair_loss(g[:b], g[b:])
        gy = self._goodness_grad(i, y, np.concatenate([dgp, dgn]).astype(y.dtype, copy=False))
        grads, _ = linear.backward(u, gy, params)
        return loss, grads

    def _update(self, net, x, y, rng):
        k, m = self.num_classes, self.negatives
        bsz = x.shape[0]
        neg = self._draw_negatives(y, rng)
        h = np.concatenate([overlay_labels(x, y, k, mode=self.overlay)]
                           + [overlay_labels(x, c, k, mode=self.overlay) for c in neg])
        train = self._train_block_host
        if self.backend == "cuda":
            from ._dense_ops import DenseCuda

            dev = DenseCuda()
            train = lambda *a: self._train_block_cuda(dev, *a)  # noqa: E731
        new_params, new_opt, losses, macs = [], [], [], 0
        for i, blk in enumerate(net.blocks):
            u = blk.measure(h, rng=rng)
            lin = blk.digital
            loss, p, st, y_all = train(i, lin, lin.params, self.state.opt_states[i], u, bsz)
            losses.append(loss)
            macs += (2 * self.inner_steps * lin.macs(2 * bsz) + lin.macs((1 + m) * bsz)
                     + (lin.macs(m * bsz) if m > 1 else 0))
            h = self._next(y_all)
            new_params.append(p)
            new_opt.append(st)
        return (float(np.mean(losses)), tuple(new_params), net.readout,
                GoodnessState(tuple(new_opt)), macs)

    def _hardest(self, g: np.ndarray, bsz: int) -> np.ndarray:
        """Rows of the positives, then of each sample's highest-goodness candidate."""
        rows = np.arange(bsz)
        pick = bsz + np.argmax(g.reshape(self.negatives, bsz), axis=0) * bsz + rows
        return np.concatenate([rows, pick])

    def _train_block_host(self, i, lin, p, st, u, bsz):
        """Block ``i``'s inner steps on the host: ``(first loss, params, state, y of all
        rows under the new params)``."""
        u_train = u
        if self.negatives > 1:  # this block's hardest candidate under its current parameters
            u_train = u[self._hardest(self._goodness(i, lin.forward(u[bsz:], p)), bsz)]
        first = 0.0
        for step in range(self.inner_steps):
            loss, grads = self._loss_grad(i, lin, p, u_train, bsz)
            if step == 0:
                first = loss
            p, st = self.optimizer.step(p, grads, st)
        return first, p, st, lin.forward(u, p)

    def _train_block_cuda(self, dev, i, lin, p, st, u, bsz):
        """:meth:`_train_block_host` with the digital layer on the GPU."""
        u_dev = dev.upload(u)
        w, b = dev.upload(p.weight), dev.upload(p.bias)
        st_dev = dev.upload_state(self.optimizer, st)
        u_train = u_dev
        if self.negatives > 1:
            g, _ = self._goodness_cuda(dev, i, dev.linear(lin, u_dev[bsz:], w, b))
            u_train = dev.upload(u[self._hardest(dev.host(g), bsz)])
        first = 0.0
        for step in range(self.inner_steps):
            y = dev.linear(lin, u_train, w, b)
            g, aux = self._goodness_cuda(dev, i, y)
            loss_rows, dg = self._pair_loss_cuda(dev, g, bsz)
            loss = float(dev.host(loss_rows).sum())
            if not np.isfinite(loss):
                raise FloatingPointError(f"block {i}: the local loss is {loss} on the device")
            if step == 0:
                first = loss
            gw, gb = dev.linear_grads(lin, u_train, self._goodness_grad_cuda(dev, i, y, aux, dg),
                                      w, b)
            st_dev = dev.step(self.optimizer, (w, b), (gw, gb), st_dev)
        y_all = dev.host(dev.linear(lin, u_dev, w, b)).astype(lin.dtype, copy=False)
        return (first, dev.params_to_host(w, b, p), dev.download_state(self.optimizer, st_dev, st),
                y_all)

    # device twins of the per-rule pieces (backend="cuda")
    @abstractmethod
    def _goodness_cuda(self, dev, i: int, y) -> tuple[Any, Any]:
        """Device goodness of each row of ``y`` and what its gradient needs."""

    @abstractmethod
    def _goodness_grad_cuda(self, dev, i: int, y, aux, dg):
        """Device ``dL/dy`` from ``dL/dG``."""

    @abstractmethod
    def _pair_loss_cuda(self, dev, g, bsz: int) -> tuple[Any, Any]:
        """Device per-pair loss terms (their sum is the loss) and ``dL/dG``."""

    def scores(self, net: PhysicalNetwork, x: np.ndarray, *,
               rng: np.random.Generator | None = None) -> np.ndarray:
        """Summed goodness :math:`S_{ic} = \\sum_\\ell G_\\ell(x_i \\oplus c)` for every class.

        Returns shape (n, K); :meth:`predict` is its arg-max over ``c``. The network's own
        readout computes it (:meth:`physnn.readouts.GoodnessReadout.scores`).
        """
        self._check_bound(net)
        return net.readout.scores(net, np.asarray(x), rng=rng)


class PhyLL(_GoodnessLearner):
    """Physical local learning (Momeni et al., *Science* 2023) with the cosine goodness.

    Block :math:`\\ell` has a fixed random unit vector :math:`\\xi_\\ell` (drawn from the fit
    RNG) and goodness :math:`G_\\ell = \\cos(|y_\\ell|, \\xi_\\ell)`
    (:func:`~physnn.learning.losses.cosine_goodness`); the local loss is

    .. math:: L_\\ell = \\frac1B\\sum_i \\operatorname{softplus}\\big(-\\alpha(G^+_{\\ell,i}
              - G^-_{\\ell,i})\\big)

    and the next block reads :math:`h_{\\ell+1} = y_\\ell`.

    Parameters
    ----------
    alpha : float, default 4.0
        Sharpness :math:`\\alpha` of the pairwise loss (dimensionless).
    inner_steps : int, default 10
        Optimizer steps per batch on the cached physical measurement.
    optimizer : SGD or Adam, default Adam(5e-4)
    overlay : {"prepend", "replace"}, default "prepend"
        How the label enters the input (see :func:`overlay_labels`).
    num_classes : int, optional
        Inferred from the training labels when omitted.
    negatives : int, default 1
        Wrong-label candidates per sample; with more than one, each block trains against
        its hardest (see the module notes). 1 is the published method.
    backend : {"cpu", "cuda", "auto"}, default "cpu"
        Where the digital layers train (see the module notes); the physical layers keep
        their own backends.
    """

    def __init__(self, alpha: float = 4.0, inner_steps: int = 10,
                 optimizer: Adam | SGD | None = None, *, overlay: str = "prepend",
                 num_classes: int | None = None, negatives: int = 1,
                 backend: str = "cpu") -> None:
        super().__init__(optimizer=optimizer if optimizer is not None else Adam(5e-4),
                         inner_steps=inner_steps, overlay=overlay, num_classes=num_classes,
                         negatives=negatives, backend=backend)
        if not np.isfinite(alpha) or alpha <= 0:
            raise ValueError(f"alpha must be a positive number, got {alpha!r}")
        self.alpha = float(alpha)

    goodness = "cosine"
    transfer = "identity"

    def _init_readout(self, net, num_classes, rng):
        xi = []
        for b in net.blocks:
            v = rng.standard_normal(b.out_features)
            xi.append((v / np.linalg.norm(v)).astype(b.digital.dtype))
        return GoodnessReadout(num_classes, "cosine", "identity", self.overlay, tuple(xi))

    def _pair_loss(self, gp, gn):
        return contrastive_loss(gp, gn, self.alpha)

    def _goodness_cuda(self, dev, i, y):
        rows = y.shape[0]
        g, n, s = dev.empty((rows,)), dev.empty((rows,)), dev.empty((rows,))
        xi = dev.upload(self._bound_readout.xi[i])
        dev.launch(dev.k.cosine_rows, rows, y, xi, g, n, s)
        return g, (xi, n, s)

    def _goodness_grad_cuda(self, dev, i, y, aux, dg):
        xi, n, s = aux
        gy = dev.empty(y.shape)
        dev.launch(dev.k.cosine_backward, y.size, y, xi, n, s, dg, gy)
        return gy

    def _pair_loss_cuda(self, dev, g, bsz):
        loss, dg = dev.empty((bsz,)), dev.empty((2 * bsz,))
        dev.launch(dev.k.contrastive_pairs, bsz, g, np.float32(self.alpha), loss, dg)
        return loss, dg

    def __repr__(self) -> str:
        return (f"PhyLL(alpha={self.alpha}, inner_steps={self.inner_steps}, "
                f"optimizer={self.optimizer!r}, overlay={self.overlay!r}, "
                f"negatives={self.negatives})")


class ForwardForward(_GoodnessLearner):
    """Forward-Forward with Hinton's goodness, applied block by block to a physical network.

    Goodness :math:`G = \\frac1m\\sum_j \\max(y_j,0)^2`
    (:func:`~physnn.learning.losses.square_goodness`), threshold loss
    :func:`~physnn.learning.losses.threshold_loss`, and length normalisation between blocks:
    :math:`h_{\\ell+1} = a_\\ell / (\\|a_\\ell\\| + 10^{-8})`, :math:`a_\\ell = \\max(y_\\ell, 0)`.

    Parameters
    ----------
    theta : float, default 2.0
        Goodness threshold :math:`\\theta` (squared units of ``y``).
    alpha : float, default 1.0
        Sharpness of the loss.
    inner_steps : int, default 10
    optimizer : SGD or Adam, default Adam(1e-3)
    overlay : {"prepend", "replace"}, default "prepend"
    num_classes : int, optional
    negatives : int, default 1
        Wrong-label candidates per sample (each block trains against its hardest).
    backend : {"cpu", "cuda", "auto"}, default "cpu"
        Where the digital layers train.
    """

    def __init__(self, theta: float = 2.0, alpha: float = 1.0, inner_steps: int = 10,
                 optimizer: Adam | SGD | None = None, *, overlay: str = "prepend",
                 num_classes: int | None = None, negatives: int = 1,
                 backend: str = "cpu") -> None:
        super().__init__(optimizer=optimizer if optimizer is not None else Adam(1e-3),
                         inner_steps=inner_steps, overlay=overlay, num_classes=num_classes,
                         negatives=negatives, backend=backend)
        if not np.isfinite(theta) or theta <= 0:
            raise ValueError(f"theta must be a positive number, got {theta!r}")
        if not np.isfinite(alpha) or alpha <= 0:
            raise ValueError(f"alpha must be a positive number, got {alpha!r}")
        self.theta, self.alpha = float(theta), float(alpha)

    goodness = "square"
    transfer = "normalized_relu"

    def _init_readout(self, net, num_classes, rng):
        return GoodnessReadout(num_classes, "square", "normalized_relu", self.overlay)

    def _pair_loss(self, gp, gn):
        return threshold_loss(gp, gn, self.theta, self.alpha)

    def _goodness_cuda(self, dev, i, y):
        g = dev.empty((y.shape[0],))
        dev.launch(dev.k.square_rows, y.shape[0], y, g)
        return g, None

    def _goodness_grad_cuda(self, dev, i, y, aux, dg):
        gy = dev.empty(y.shape)
        dev.launch(dev.k.square_backward, y.size, y, dg, gy)
        return gy

    def _pair_loss_cuda(self, dev, g, bsz):
        loss, dg = dev.empty((bsz,)), dev.empty((2 * bsz,))
        dev.launch(dev.k.threshold_pairs, bsz, g, np.float32(self.theta), np.float32(self.alpha),
                   loss, dg)
        return loss, dg

    def __repr__(self) -> str:
        return (f"ForwardForward(theta={self.theta}, alpha={self.alpha}, inner_steps="
                f"{self.inner_steps}, optimizer={self.optimizer!r}, overlay={self.overlay!r}, "
                f"negatives={self.negatives})")
