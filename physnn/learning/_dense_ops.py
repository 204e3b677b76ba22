"""The device side of the local learners (``backend="cuda"``): a block's digital layer, its
goodness, local loss and optimizer steps on numba device arrays.

The physical layers are black boxes that answer on the host, so a batch costs one upload of
each block's measured inputs ``u``; the inner optimizer steps then run on the device, and
only the new parameters and optimizer state come back (one download per block and batch).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..layers import Linear, LinearParams
from ..optim import SGD, Adam, AdamState, SGDState


class DenseCuda:
    """numba device arrays and the kernels of :mod:`physnn.kernels.dense_cuda`."""

    def __init__(self) -> None:
        from numba import cuda

        from ..kernels import dense_cuda, snn_cuda

        self.cuda, self.k, self.mm = cuda, dense_cuda, snn_cuda

    # -- memory
    def empty(self, shape, dtype=np.float32) -> Any:
        return self.cuda.device_array(tuple(int(s) for s in shape), dtype=dtype)

    def upload(self, x: np.ndarray) -> Any:
        return self.cuda.to_device(np.ascontiguousarray(x, dtype=np.float32))

    def host(self, a) -> np.ndarray:
        return a.copy_to_host()

    def launch(self, kernel, n: int, *args) -> None:
        if n:
            kernel[self.mm.grid(n)](*args)

    # -- the digital layer
    def linear(self, lin: Linear, u, w, b):
        """``y = u W^T + b`` on the device."""
        y = self.empty((u.shape[0], w.shape[0]))
        self.mm.gemm(u, w, y, tb=True)
        if lin.use_bias:
            self.launch(self.mm.add_row_vector, y.size, y, b)
        return y

    def linear_grads(self, lin: Linear, u, gy, w, b):
        """``dW = gy^T u`` and ``db = sum_r gy_r`` (zeros without a bias)."""
        gw = self.empty(w.shape)
        self.mm.gemm(gy, u, gw, ta=True)
        gb = self.empty(b.shape)
        if lin.use_bias:
            self.launch(self.mm.column_sums, b.size, gy, gb, False)
        else:
            self.launch(self.mm.fill, b.size, gb, 0.0)
        return gw, gb

    # -- optimizer
    def upload_state(self, optimizer, state):
        if isinstance(optimizer, Adam):
            return AdamState(state.step, tuple(self.upload(a) for a in state.m),
                             tuple(self.upload(a) for a in state.v))
        return SGDState(tuple(self.upload(a) for a in state.velocity))

    def download_state(self, optimizer, state, like):
        if isinstance(optimizer, Adam):
            return AdamState(state.step,
                             tuple(self.host(a).astype(r.dtype) for a, r in zip(state.m, like.m,
                                                                                strict=True)),
                             tuple(self.host(a).astype(r.dtype) for a, r in zip(state.v, like.v,
                                                                                strict=True)))
        return SGDState(tuple(self.host(a).astype(r.dtype)
                              for a, r in zip(state.velocity, like.velocity, strict=True)))

    def step(self, optimizer: Adam | SGD, params: tuple, grads: tuple, state):
        """One optimizer step in place on device ``params``; returns the new state."""
        f = np.float32
        if isinstance(optimizer, Adam):
            b1, b2 = optimizer.betas
            t = state.step + 1
            for p, g, m, v in zip(params, grads, state.m, state.v, strict=True):
                self.launch(self.k.adam_update, p.size, p.reshape(p.size), g.reshape(g.size),
                            m.reshape(m.size), v.reshape(v.size), f(optimizer.lr), f(b1), f(b2),
                            f(1.0 - b1**t), f(1.0 - b2**t), f(optimizer.eps),
                            f(optimizer.weight_decay))
            return AdamState(t, state.m, state.v)
        if isinstance(optimizer, SGD):
            for p, g, vel in zip(params, grads, state.velocity, strict=True):
                self.launch(self.k.sgd_update, p.size, p.reshape(p.size), g.reshape(g.size),
                            vel.reshape(vel.size), f(optimizer.lr), f(optimizer.momentum),
                            f(optimizer.weight_decay))
            return state
        raise TypeError(f"backend='cuda' supports the SGD and Adam optimizers, got "
                        f"{type(optimizer).__name__}")

    def params_to_host(self, w, b, like: LinearParams) -> LinearParams:
        return LinearParams(self.host(w).astype(like.weight.dtype),
                            self.host(b).astype(like.bias.dtype))
