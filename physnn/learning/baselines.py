"""Backpropagation baselines for physical networks (need PyTorch, the ``ref`` extra).

Three ways to train the same :class:`~physnn.nets.PhysicalNetwork` end to end with a
cross-entropy loss on the last block's output (its ``out_features`` are the class logits;
each block computes :math:`y = W[z; h] + b`, :math:`z = P(\\mathrm{encode}(h))`, and the next
block reads :math:`h_{\\ell+1} = y_\\ell`):

- ``"in_silico"``: every physical layer is replaced by a differentiable digital twin
  (:func:`fit_twin`, a small MLP fitted from queries); training never touches the physics;
  the trained digital layers are then deployed on the physical layers.
- ``"physics_aware"`` (Wright et al., *Nature* 601, 549 (2022)): the forward pass goes
  through the physical layer, the backward pass through the twin's Jacobian,
  :math:`z = T(u) + \\mathrm{sg}[P(u) - T(u)]` (``sg`` = stop-gradient).
- ``"digital"``: every physical layer is replaced by a trainable ``Linear + tanh`` of the same
  shape, trained and evaluated digitally (a digital network of the same size).

PyTorch is imported lazily: ``import physnn`` never needs it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..layers import LinearParams
from ..nets import PhysicalNetwork
from ..physical import PhysicalLayer
from ._base import EpochRecord, History

__all__ = ["BackpropBaseline", "Twin", "fit_twin"]

MODES = ("in_silico", "physics_aware", "digital")


def _torch():
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError("the backpropagation baselines need PyTorch: pip install "
                          "'physnn[ref]' (CPU build: pip install torch)") from exc
    return torch


@dataclass(frozen=True)
class Twin:
    """A differentiable digital model of one physical layer.

    Attributes
    ----------
    module : torch.nn.Module
        MLP ``in -> hidden... -> out`` with tanh activations, on inputs and outputs scaled
        by the stored affine maps (callable on a float32 tensor).
    queries : int
        Physical queries spent fitting it.
    macs : int
        Multiply-accumulates of one forward pass on one sample.
    r2 : float
        Variance-weighted :math:`R^2` on held-out queries (1 = perfect).
    """

    module: Any
    queries: int
    macs: int
    r2: float


def fit_twin(physical: PhysicalLayer, *, n_queries: int, rng: np.random.Generator,
             hidden: tuple[int, ...] = (64, 64), epochs: int = 100, lr: float = 3e-3,
             low: float = 0.0, high: float = 1.0) -> Twin:
    """Fit an MLP twin of ``physical`` from ``n_queries`` uniform random inputs in
    ``[low, high]`` (90 % to fit, 10 % held out for the reported :math:`R^2`).

    Minimises the mean squared error of the standardised outputs with Adam.
    """
    torch = _torch()
    if n_queries < 20:
        raise ValueError(f"n_queries must be >= 20, got {n_queries}")
    x = rng.uniform(low, high, size=(int(n_queries), physical.in_features)).astype(np.float32)
    y = physical.forward(x, rng=rng)
    n_fit = int(0.9 * len(x))
    mu, sd = y[:n_fit].mean(0), y[:n_fit].std(0) + 1e-6
    gen = torch.Generator().manual_seed(int(rng.integers(2**31)))
    sizes = [physical.in_features, *hidden, physical.out_features]
    layers: list = []
    for a, b in zip(sizes[:-1], sizes[1:], strict=True):
        lin = torch.nn.Linear(a, b)
        with torch.no_grad():
            bound = 1 / np.sqrt(a)
            lin.weight.uniform_(-bound, bound, generator=gen)
            lin.bias.zero_()
        layers += [lin, torch.nn.Tanh()]
    mlp = torch.nn.Sequential(*layers[:-1])
    xt, yt = torch.from_numpy(x), torch.from_numpy((y - mu) / sd)
    opt = torch.optim.Adam(mlp.parameters(), lr=lr)
    bs = 128
    for _ in range(int(epochs)):
        perm = torch.from_numpy(rng.permutation(n_fit))
        for s in range(0, n_fit, bs):
            idx = perm[s:s + bs]
            loss = torch.mean((mlp(2 * xt[idx] - 1) - yt[idx]) ** 2)
            opt.zero_grad()
            loss.backward()
            opt.step()

    mu_t, sd_t = torch.from_numpy(mu), torch.from_numpy(sd)

    class _Scaled(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.mlp = mlp

        def forward(self, u):
            return self.mlp(2 * u - 1) * sd_t + mu_t

    module = _Scaled()
    for p in module.parameters():
        p.requires_grad_(False)
    with torch.no_grad():
        pred = module(xt[n_fit:]).numpy()
    r2 = 1.0 - float(((pred - y[n_fit:]) ** 2).sum() / ((y[n_fit:] - y[n_fit:].mean(0)) ** 2).sum())
    macs = sum(a * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))
    return Twin(module, int(n_queries), int(macs), r2)


class BackpropBaseline:
    """End-to-end backpropagation through twins, physics-aware training, or a digital net.

    Parameters
    ----------
    mode : {"in_silico", "physics_aware", "digital"}
    twins : sequence of Twin, optional
        One per block; required for ``"in_silico"`` and ``"physics_aware"``.
    lr : float, default 3e-3
        Adam learning rate.
    """

    def __init__(self, mode: str, *, twins=None, lr: float = 3e-3) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if mode != "digital" and not twins:
            raise ValueError(f"mode={mode!r} needs twins=[Twin per block] (see fit_twin)")
        self.mode, self.twins, self.lr = mode, twins, float(lr)
        self._replacements = None

    # -- the differentiable model ----------------------------------------------------------
    def _physical_out(self, i: int, blk, u, *, train: bool, rng):
        torch = _torch()
        if self.mode == "digital":
            return torch.tanh(self._replacements[i](u))
        twin = self.twins[i].module
        if self.mode == "in_silico" and train:
            return twin(u)
        z = torch.from_numpy(blk.physical.forward(u.detach().numpy(), rng=rng))
        if self.mode == "physics_aware" and train:
            t = twin(u)
            return t + (z - t).detach()
        return z

    def _forward(self, net, x, params, *, train: bool, rng):
        torch = _torch()
        h = x
        for i, blk in enumerate(net.blocks):
            u = _encode_torch(blk.encode, h)
            z = self._physical_out(i, blk, u, train=train, rng=rng)
            inp = torch.cat([z, h], dim=1) if blk.skip else z
            w, b = params[i]
            h = inp @ w.T + b
        return h

    def fit(self, net: PhysicalNetwork, x: np.ndarray, y: np.ndarray, *, epochs: int,
            rng: np.random.Generator, batch_size: int = 32,
            eval_data: tuple[np.ndarray, np.ndarray] | None = None) -> History:
        """Train the digital layers of ``net`` (and, in ``"digital"`` mode, the replacement
        layers) by Adam on the cross-entropy of the last block's output; the trained
        parameters are written back into ``net``."""
        torch = _torch()
        if not isinstance(net, PhysicalNetwork):
            raise TypeError(f"net must be a PhysicalNetwork, got {type(net).__name__}")
        if self.twins is not None and len(self.twins) != len(net):
            raise ValueError(f"twins must have one entry per block ({len(net)})")
        gen = torch.Generator().manual_seed(int(rng.integers(2**31)))
        for b in net.blocks:
            if b.digital.params is None:
                b.digital.reset_parameters(rng)
        params = [(torch.tensor(np.array(b.digital.params.weight), requires_grad=True),
                   torch.tensor(np.array(b.digital.params.bias), requires_grad=True))
                  for b in net.blocks]
        trainable = [t for p in params for t in p]
        if self.mode == "digital":
            self._replacements = []
            for b in net.blocks:
                lin = torch.nn.Linear(b.physical.in_features, b.physical.out_features)
                with torch.no_grad():
                    bound = 1 / np.sqrt(lin.in_features)
                    lin.weight.uniform_(-bound, bound, generator=gen)
                    lin.bias.zero_()
                self._replacements.append(lin)
                trainable += list(lin.parameters())
        opt = torch.optim.Adam(trainable, lr=self.lr)
        xt = torch.from_numpy(np.asarray(x, np.float32))
        yt = torch.from_numpy(np.asarray(y, np.int64))
        q0 = net.queries
        macs_per_sample = 3 * self.train_macs_per_sample(net)
        records, wall, macs = [], 0.0, 0
        for ep in range(1, int(epochs) + 1):
            t0 = time.perf_counter()
            perm = rng.permutation(len(xt))
            losses = []
            for s in range(0, len(xt), batch_size):
                idx = torch.from_numpy(perm[s:s + batch_size])
                out = self._forward(net, xt[idx], params, train=True, rng=rng)
                loss = torch.nn.functional.cross_entropy(out, yt[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                losses.append(loss.item())
                macs += macs_per_sample * len(idx)
            wall += time.perf_counter() - t0
            q_train = net.queries - q0
            net.set_params([LinearParams(w.detach().numpy().copy(), b.detach().numpy().copy())
                            for w, b in params])
            acc = float("nan")
            if eval_data is not None:
                before = net.queries
                acc = self.evaluate(net, *eval_data)["accuracy"]
                q0 += net.queries - before
            records.append(EpochRecord(ep, float(np.mean(losses)), acc, int(q_train), int(macs),
                                       wall))
        return History(tuple(records))

    def train_macs_per_sample(self, net: PhysicalNetwork) -> int:
        """Forward multiply-accumulates per training sample (a backward pass costs about two
        more): digital layers plus, per block, the twin (``in_silico``, ``physics_aware``) or
        the replacement layer (``digital``)."""
        total = 0
        for i, b in enumerate(net.blocks):
            total += b.digital.macs(1)
            if self.mode == "digital":
                total += b.physical.in_features * b.physical.out_features
            else:
                total += self.twins[i].macs
        return total

    def predict(self, net: PhysicalNetwork, x: np.ndarray, *,
                rng: np.random.Generator | None = None, simulate: bool = False) -> np.ndarray:
        """Classes predicted by the deployed network (physical layers, or the digital
        replacements in ``"digital"`` mode); ``simulate=True`` runs the training-time model
        instead (the twins, for ``"in_silico"``), which shows the simulation-reality gap."""
        torch = _torch()
        params = [(torch.from_numpy(np.array(b.digital.params.weight)),
                   torch.from_numpy(np.array(b.digital.params.bias))) for b in net.blocks]
        with torch.no_grad():
            out = self._forward(net, torch.from_numpy(np.asarray(x, np.float32)), params,
                                train=simulate, rng=rng)
        return out.argmax(1).numpy()

    def evaluate(self, net: PhysicalNetwork, x: np.ndarray, y: np.ndarray, *,
                 rng: np.random.Generator | None = None,
                 simulate: bool = False) -> dict[str, float]:
        """``accuracy``, ``n``, ``queries`` and ``macs`` of inference on ``(x, y)`` (see
        :meth:`predict` for ``simulate``)."""
        before = net.queries
        pred = self.predict(net, x, rng=rng, simulate=simulate)
        n = len(y)
        macs = sum(b.digital.macs(n) for b in net.blocks)
        if self.mode == "digital":
            macs += n * sum(b.physical.in_features * b.physical.out_features for b in net.blocks)
        return {"accuracy": float(np.mean(pred == np.asarray(y))), "n": n,
                "queries": int(net.queries - before), "macs": int(macs)}


def _encode_torch(encode, h):
    """Differentiable versions of the encoders in :mod:`physnn.nets`."""
    torch = _torch()
    from ..nets import abs_max_scale, identity

    if encode is identity:
        return h
    if encode is abs_max_scale:
        a = h.abs()
        m = a.max(dim=1, keepdim=True).values
        return torch.where(m > 0, a / m.clamp_min(1e-30), torch.zeros_like(a))
    raise ValueError("the backprop baselines support the encoders identity and abs_max_scale")
