"""A small multilayer perceptron in NumPy with hand-written backpropagation and Adam.

Used to fit surrogates of measured physical systems (no autograd framework in the library
path). ``tanh`` hidden layers, linear output, mean-squared-error loss.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["MLP", "fit_mlp"]


@dataclass
class MLP:
    """Weights ``[W1, b1, ..., WL, bL]`` of a tanh MLP, ``W`` of shape (fan_in, fan_out)."""

    params: list[np.ndarray]

    @classmethod
    def init(cls, sizes: list[int], rng: np.random.Generator) -> MLP:
        """LeCun-normal weights and zero biases for layer widths ``sizes``."""
        params: list[np.ndarray] = []
        for a, b in zip(sizes[:-1], sizes[1:], strict=True):
            params.append((rng.standard_normal((a, b)) / math.sqrt(a)).astype(np.float32))
            params.append(np.zeros(b, dtype=np.float32))
        return cls(params)

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        """Output and the list of layer inputs (kept for :meth:`backward`)."""
        acts = [x]
        h = x
        n = len(self.params) // 2
        for i in range(n):
            z = h @ self.params[2 * i] + self.params[2 * i + 1]
            h = np.tanh(z) if i < n - 1 else z
            if i < n - 1:
                acts.append(h)
        return h, acts

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.forward(x)[0]

    def backward(self, acts: list[np.ndarray], grad_out: np.ndarray) -> list[np.ndarray]:
        """Gradients of a loss w.r.t. ``params`` given dLoss/dOutput ``grad_out``.

        For layer ``l`` with input ``h`` and pre-activation ``z = h W + b``:
        ``dW = h^T g``, ``db = sum_batch g`` and, through ``tanh``,
        ``g_prev = (g W^T) * (1 - h^2)``.
        """
        n = len(self.params) // 2
        grads: list[np.ndarray] = [np.empty(0)] * len(self.params)
        g = grad_out
        for i in range(n - 1, -1, -1):
            h = acts[i]
            grads[2 * i] = h.T @ g
            grads[2 * i + 1] = g.sum(axis=0)
            if i > 0:
                g = (g @ self.params[2 * i].T) * (1.0 - h * h)
        return grads


def mse_and_grad(model: MLP, x: np.ndarray, t: np.ndarray) -> tuple[float, list[np.ndarray]]:
    """Mean squared error ``mean((f(x) - t)^2)`` and its gradient w.r.t. the parameters."""
    out, acts = model.forward(x)
    diff = out - t
    loss = float(np.mean(diff * diff))
    return loss, model.backward(acts, (2.0 / diff.size) * diff)


def fit_mlp(
    x: np.ndarray,
    t: np.ndarray,
    *,
    hidden: tuple[int, ...],
    epochs: int,
    rng: np.random.Generator,
    lr: float = 3e-3,
    batch_size: int = 128,
    x_val: np.ndarray | None = None,
    t_val: np.ndarray | None = None,
    eval_every: int = 5,
) -> MLP:
    """Fit an MLP by Adam (beta1 0.9, beta2 0.999) with a cosine learning-rate schedule.

    When validation data are given, the parameters with the lowest validation MSE (checked
    every ``eval_every`` epochs and at the end) are returned.
    """
    model = MLP.init([x.shape[1], *hidden, t.shape[1]], rng)
    m = [np.zeros_like(p) for p in model.params]
    v = [np.zeros_like(p) for p in model.params]
    steps_per_epoch = max(len(x) // batch_size, 1)
    total = epochs * steps_per_epoch
    best, best_loss = [p.copy() for p in model.params], math.inf
    step = 0
    for epoch in range(epochs):
        perm = rng.permutation(len(x))
        for k in range(steps_per_epoch):
            idx = perm[k * batch_size:(k + 1) * batch_size]
            _, grads = mse_and_grad(model, x[idx], t[idx])
            step += 1
            lr_t = lr * 0.5 * (1.0 + math.cos(math.pi * step / total))
            c1, c2 = 1.0 - 0.9**step, 1.0 - 0.999**step
            for p, g, mi, vi in zip(model.params, grads, m, v, strict=True):
                mi *= 0.9
                mi += 0.1 * g
                vi *= 0.999
                vi += 0.001 * g * g
                p -= (lr_t / c1) * mi / (np.sqrt(vi / c2) + 1e-8)
        if x_val is not None and ((epoch + 1) % eval_every == 0 or epoch == epochs - 1):
            val = float(np.mean((model(x_val) - t_val) ** 2))
            if val < best_loss:
                best_loss, best = val, [p.copy() for p in model.params]
    if x_val is not None:
        model.params = best
    return model
