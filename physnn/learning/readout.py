"""Single-pass local learning: every block trains its own linear classifier head.

As in Mono-Forward, block :math:`\\ell` computes :math:`y_\\ell = W_\\ell u_\\ell + b_\\ell`
from its cached measurement :math:`u_\\ell = [P_\\ell(\\mathrm{encode}(h_\\ell)); h_\\ell]`,
the activity :math:`a_\\ell = \\max(y_\\ell, 0)` and the logits
:math:`o_\\ell = V_\\ell a_\\ell + c_\\ell`, and minimises the cross-entropy of
:math:`o_\\ell` with respect to :math:`(W_\\ell, b_\\ell, V_\\ell, c_\\ell)` only. The next
block reads :math:`h_{\\ell+1} = a_\\ell`. Inference is one physical pass: the last block's
head gives the class (no label overlay, so :math:`K` times fewer physical queries than
:class:`~physnn.learning.PhyLL`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..layers import Linear, LinearParams
from ..nets import PhysicalNetwork
from ..optim import SGD, Adam
from ..readouts import HeadReadout
from ._base import LocalLearner
from .losses import softmax_cross_entropy

__all__ = ["LocalReadout", "ReadoutState"]


class ReadoutState(NamedTuple):
    """Training state: the optimizer states of the blocks and of their heads (the heads
    themselves are model state, in ``net.readout``)."""

    opt_states: tuple
    head_opt_states: tuple


class LocalReadout(LocalLearner):
    """Local cross-entropy learning with a linear readout head per block.

    Parameters
    ----------
    inner_steps : int, default 10
        Optimizer steps per batch on the cached physical measurement.
    optimizer : SGD or Adam, default Adam(1e-3)
        Used for both the block and its head.
    num_classes : int, optional
        Inferred from the training labels when omitted.
    backend : {"cpu", "cuda", "auto"}, default "cpu"
        Where the digital layers and heads train; ``"cuda"`` uploads a block's measurement
        once per batch and runs the inner steps on the GPU (as
        :class:`~physnn.learning.PhyLL` does).
    """

    def __init__(self, inner_steps: int = 10, optimizer: Adam | SGD | None = None, *,
                 num_classes: int | None = None, backend: str = "cpu") -> None:
        super().__init__(optimizer=optimizer if optimizer is not None else Adam(1e-3),
                         inner_steps=inner_steps, num_classes=num_classes, backend=backend)

    def _head(self, blk) -> Linear:
        return self._head_like(blk.digital)

    def _init_readout(self, net, num_classes, rng):
        self.num_classes = num_classes
        return HeadReadout(num_classes, tuple(self._head(b).reset_parameters(rng)
                                              for b in net.blocks))

    def _readout_fits(self, readout):
        return None if isinstance(readout, HeadReadout) else f"it has a {type(readout).__name__}"

    def _init_training(self, net):
        return ReadoutState(tuple(self.optimizer.init(b.digital.params) for b in net.blocks),
                            tuple(self.optimizer.init(h) for h in net.readout.heads))

    def local_loss(self, linear: Linear, params: LinearParams, head: LinearParams,
                   u: np.ndarray, labels: np.ndarray) -> tuple[float, LinearParams, LinearParams]:
        """Cross-entropy of one block's head and its gradients.

        With :math:`a = \\max(uW^\\top + b, 0)`, :math:`o = aV^\\top + c` and
        :math:`g_o = \\partial L/\\partial o` from
        :func:`~physnn.learning.losses.softmax_cross_entropy`:
        :math:`\\partial L/\\partial V = g_o^\\top a`, :math:`\\partial L/\\partial c =
        \\sum_i g_{o,i}`, :math:`g_y = (g_o V) \\odot [y > 0]`,
        :math:`\\partial L/\\partial W = g_y^\\top u`, :math:`\\partial L/\\partial b =
        \\sum_i g_{y,i}`.

        Returns ``(loss, block gradients, head gradients)``.
        """
        y = linear.forward(u, params)
        a = np.maximum(y, 0.0)
        logits = a @ head.weight.T + head.bias
        loss, go = softmax_cross_entropy(logits, labels)
        go = go.astype(y.dtype, copy=False)
        g_head = LinearParams(go.T @ a, go.sum(axis=0))
        gy = (go @ head.weight) * (y > 0)
        g_block, _ = linear.backward(u, gy, params)
        return loss, g_block, g_head

    def _update(self, net, x, y, rng):
        bsz = x.shape[0]
        h = x
        train = self._train_block_host
        if self.backend == "cuda":
            from ._dense_ops import DenseCuda

            dev = DenseCuda()
            train = lambda *a: self._train_block_cuda(dev, *a)  # noqa: E731
        new_p, new_h, new_os, new_hs, losses, macs = [], [], [], [], [], 0
        for i, blk in enumerate(net.blocks):
            u = blk.measure(h, rng=rng)
            lin = blk.digital
            loss, p, st, hp, hst, a = train(lin, lin.params, self.state.opt_states[i],
                                            net.readout.heads[i],
                                            self.state.head_opt_states[i], u, y)
            losses.append(loss)
            head_macs = bsz * blk.out_features * self.num_classes
            macs += self.inner_steps * (2 * lin.macs(bsz) + 3 * head_macs) + lin.macs(bsz)
            h = a
            new_p.append(p)
            new_h.append(hp)
            new_os.append(st)
            new_hs.append(hst)
        return (float(np.mean(losses)), tuple(new_p), HeadReadout(self.num_classes, tuple(new_h)),
                ReadoutState(tuple(new_os), tuple(new_hs)), macs)

    def _train_block_host(self, lin, p, st, hp, hst, u, y):
        """One block's inner steps: ``(first loss, params, state, head, head state, next
        block's input)``."""
        first = 0.0
        for step in range(self.inner_steps):
            loss, gp, gh = self.local_loss(lin, p, hp, u, y)
            if step == 0:
                first = loss
            p, st = self.optimizer.step(p, gp, st)
            hp, hst = self.optimizer.step(hp, gh, hst)
        return first, p, st, hp, hst, np.maximum(lin.forward(u, p), 0.0)

    def _train_block_cuda(self, dev, lin, p, st, hp, hst, u, y):
        """:meth:`_train_block_host` on the GPU (:meth:`local_loss`, kernel by kernel)."""
        head = self._head_like(lin)
        u_dev, labels = dev.upload(u), dev.cuda.to_device(np.ascontiguousarray(y, np.int64))
        w, b = dev.upload(p.weight), dev.upload(p.bias)
        v, c = dev.upload(hp.weight), dev.upload(hp.bias)
        st_dev = dev.upload_state(self.optimizer, st)
        hst_dev = dev.upload_state(self.optimizer, hst)
        rows = u.shape[0]
        first = 0.0
        for step in range(self.inner_steps):
            yd = dev.linear(lin, u_dev, w, b)
            a = dev.empty(yd.shape)
            dev.launch(dev.k.relu, yd.size, yd.reshape(yd.size), a.reshape(a.size))
            logits = dev.linear(head, a, v, c)
            loss_rows, go = dev.empty((rows,)), dev.empty(logits.shape)
            dev.launch(dev.mm.softmax_cross_entropy, rows, logits, labels,
                       np.float32(1.0 / rows), loss_rows, go)
            loss = float(dev.host(loss_rows).sum()) / rows
            if not np.isfinite(loss):
                raise FloatingPointError(f"the local loss is {loss} on the device")
            if step == 0:
                first = loss
            gv, gc = dev.linear_grads(head, a, go, v, c)
            ga = dev.empty(yd.shape)
            dev.mm.gemm(go, v, ga)
            gy = dev.empty(yd.shape)
            dev.launch(dev.k.relu_backward, yd.size, yd.reshape(yd.size), ga.reshape(ga.size),
                       gy.reshape(gy.size))
            gw, gb = dev.linear_grads(lin, u_dev, gy, w, b)
            st_dev = dev.step(self.optimizer, (w, b), (gw, gb), st_dev)
            hst_dev = dev.step(self.optimizer, (v, c), (gv, gc), hst_dev)
        a = np.maximum(dev.host(dev.linear(lin, u_dev, w, b)), 0.0).astype(lin.dtype, copy=False)
        return (first, dev.params_to_host(w, b, p), dev.download_state(self.optimizer, st_dev, st),
                dev.params_to_host(v, c, hp), dev.download_state(self.optimizer, hst_dev, hst), a)

    def _head_like(self, lin: Linear) -> Linear:
        return Linear(lin.out_features, self.num_classes, dtype=lin.dtype)

    def logits(self, net: PhysicalNetwork, x: np.ndarray, *,
               rng: np.random.Generator | None = None) -> np.ndarray:
        """Logits of the last block's head, shape (n, K), from one physical pass
        (:meth:`physnn.readouts.HeadReadout.logits` of the network's own readout)."""
        self._check_bound(net)
        return net.readout.logits(net, np.asarray(x), rng=rng)

    def __repr__(self) -> str:
        return f"LocalReadout(inner_steps={self.inner_steps}, optimizer={self.optimizer!r})"
