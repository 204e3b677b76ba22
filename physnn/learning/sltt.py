r"""Surrogate-gradient training of spiking networks: BPTT and SLTT / SLTT-K.

SLTT (spatial learning through time; Meng et al., "Towards Memory- and Time-Efficient
Backpropagation for Training Spiking Neural Networks", ICCV 2023) drops the temporal routes
of BPTT. With :math:`u_t = \beta (u_{t-1} - \vartheta s_{t-1}) + W a_t`, BPTT's error is

.. math::

    \delta_t = \frac{\partial L}{\partial s_t}\,\sigma'(u_t)
             + \delta_{t+1}\,\beta\,\big(1 - \vartheta\,\sigma'(u_t)\big),

and SLTT keeps only the first (spatial) term, so step :math:`t` needs only its own
activations: forward one step, backpropagate that step's loss :math:`L_t / T` through the
layers, accumulate, and update once per batch. Memory no longer grows with ``T``. SLTT-K
backpropagates at ``K`` steps drawn at random per batch (scaled by ``1/K``) and only runs the
others forward.

Both learners minimise the same loss, :math:`L = \frac1T \sum_t L_t` (see
:mod:`physnn.snn` for the readouts), and share one protocol: ``fit``, ``update`` (one
batch), ``predict``, ``evaluate``.

Each algorithm is written once against the operations of :mod:`physnn.learning._snn_ops`:
``backend="cpu"`` runs them with NumPy and the numba CPU kernels, ``backend="cuda"`` on numba
device arrays (:mod:`physnn.kernels.snn_cuda`); the gradients come back as host arrays and
the optimizer runs on the host either way.
"""

from __future__ import annotations

import os
import sys
import time
import tracemalloc
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from .._threads import one_blas_thread
from ..backends import resolve_backend
from ..optim import SGD, Adam
from ..persist import check_writable
from ..snn import LayerParams, SpikingNetwork
from . import _checkpoint
from ._base import EpochRecord, History, check_fit_args
from ._snn_ops import HostOps, make_ops

__all__ = ["BPTT", "SLTT", "bptt_gradients", "sltt_gradients", "peak_memory"]

_ENCODERS = ("direct", "rate")


# ----------------------------------------------------------------------------- checks


def _check_batch(net: SpikingNetwork, x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=np.float32)
    if x.shape[1:] != net.in_shape and x.reshape(len(x), -1).shape[1:] != (
            int(np.prod(net.in_shape)),):
        raise ValueError(f"x must have shape (batch, *{net.in_shape}), got {x.shape}")
    if len(x) == 0:
        raise ValueError("x must hold at least one sample")
    if not np.all(np.isfinite(x)):
        raise ValueError("x contains NaN or infinite values")
    y = np.asarray(y)
    if y.shape != (len(x),) or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"y must be integer labels of shape ({len(x)},), got {y.shape} {y.dtype}")
    c = net.num_classes
    if y.size and (y.min() < 0 or y.max() >= c):
        raise ValueError(f"labels must lie in [0, {c - 1}], got [{y.min()}, {y.max()}]")
    return x.reshape(len(x), *net.in_shape), y.astype(np.int64)


def _check_steps(T: Any) -> int:
    if isinstance(T, bool) or not isinstance(T, int | np.integer) or T < 1:
        raise ValueError(f"num_steps must be an int >= 1, got {T!r}")
    return int(T)


def _encode(x: np.ndarray, encoder: str, rng: np.random.Generator | None) -> np.ndarray:
    if encoder == "direct":
        return x
    if rng is None:
        raise ValueError("the rate encoder needs rng")
    if x.min() < 0 or x.max() > 1:
        raise ValueError("rate encoding needs inputs in [0, 1]")
    return (rng.random(x.shape) < x).astype(np.float32)


# ----------------------------------------------------------------------------- gradients


def bptt_gradients(net: SpikingNetwork, x: np.ndarray, y: np.ndarray, num_steps: int, *,
                   encoder: str = "direct", rng: np.random.Generator | None = None,
                   backend: str = "cpu") -> tuple[float, list[LayerParams]]:
    """Loss and exact surrogate gradients of :math:`L = \\frac1T\\sum_t L_t` by BPTT.

    Every layer runs over all ``T`` steps at once (one matrix product over ``T * batch``
    rows); the LIF backward kernel runs the time loop in reverse. Activations of all steps
    are kept, so memory grows linearly with ``T``. On the CPU, BLAS runs on one thread here:
    its worker threads and numba's parallel kernels take turns on the same cores, and together
    they were 3-4x slower than one BLAS thread on a 2-core machine.

    ``backend="cuda"`` (or ``"auto"``) runs the same algorithm on the GPU
    (:mod:`physnn.kernels.snn_cuda`); the returned gradients are host arrays either way.
    """
    ops = make_ops(net, resolve_backend(backend))
    with one_blas_thread():
        return _bptt_gradients(net, x, y, num_steps, encoder=encoder, rng=rng, ops=ops)


def _bptt_gradients(net: SpikingNetwork, x: np.ndarray, y: np.ndarray, num_steps: int, *,
                    encoder: str, rng: np.random.Generator | None, ops
                    ) -> tuple[float, list[LayerParams]]:
    x, y = _check_batch(net, x, y)
    T = _check_steps(num_steps)
    B = len(x)
    L = len(net.layers)
    direct = encoder == "direct"
    xd = ops.upload(x if direct else np.stack([_encode(x, encoder, rng) for _ in range(T)]))
    acts: list[Any] = []  # input of each layer, time-major (T, B, *in) (or x)
    records: list[tuple[Any, Any] | None] = []
    a = xd
    for i, layer in enumerate(net.layers):
        acts.append(a)
        if i == 0 and direct:  # the same current every step: compute it once
            z = ops.repeat(ops.forward(0, xd), T)
        else:
            z = ops.forward(i, a.reshape(T * B, *layer.in_shape())).reshape(
                T, B, *layer.out_shape())
        if net.spiking(i):
            s, _, mem = ops.lif(z, None)
            records.append((mem, s))
            a = s
        else:
            records.append(None)
            a = z
    ops.check()
    # mean over T * B rows = (1/T) sum_t mean_b; row (t, b) has label y[b]
    g = ops.loss(a.reshape(T * B, net.num_classes), ops.labels(y))
    g = g.reshape(T, B, *net.layers[-1].out_shape())
    grads: list[Any] = [None] * L
    for i in range(L - 1, -1, -1):
        layer = net.layers[i]
        if records[i] is not None:
            g = ops.lif_bptt(g, *records[i])
        if i == 0 and direct:
            grads[0], _ = ops.backward(0, xd, ops.sum_time(g), need_input=False)
            break
        gl, ga = ops.backward(i, acts[i].reshape(T * B, *layer.in_shape()),
                              g.reshape(T * B, *layer.out_shape()), need_input=i > 0)
        grads[i] = gl
        if ga is not None:
            g = ga.reshape(acts[i].shape)
    return ops.loss_total(), [LayerParams(ops.host(gl.weight), ops.host(gl.bias))
                              for gl in grads]


def sltt_gradients(*args: Any, backend: str = "cpu", **kwargs: Any
                   ) -> tuple[float, list[LayerParams]]:
    """Loss and SLTT gradients (see :func:`_sltt_gradients` for the arguments).

    The per-step products have only ``batch`` rows, so on the CPU they run on one BLAS
    thread. ``backend="cuda"`` (or ``"auto"``) runs on the GPU, one step at a time as on the
    CPU.
    """
    ops = make_ops(args[0] if args else kwargs["net"], resolve_backend(backend))
    with one_blas_thread():
        return _sltt_gradients(*args, ops=ops, **kwargs)


def _sltt_gradients(net: SpikingNetwork, x: np.ndarray, y: np.ndarray, num_steps: int, *,
                   k: int | None = None, encoder: str = "direct",
                   rng: np.random.Generator | None = None,
                   apply_step: Callable[[list[LayerParams]], None] | None = None,
                   ops=None) -> tuple[float, list[LayerParams]]:
    """Loss and SLTT gradients: per-step spatial backpropagation, accumulated over steps.

    Parameters
    ----------
    k : int, optional
        SLTT-K: backpropagate at ``k`` steps drawn without replacement from ``rng`` (the
        gradient of :math:`\\frac1k\\sum_{t \\in S} L_t`); ``None`` backpropagates at every
        step (gradient of :math:`\\frac1T\\sum_t L_t`).
    apply_step : callable, optional
        Online SLTT: called with each step's host gradients (it updates ``net.params``).

    Returns
    -------
    loss : float
        :math:`\\frac1T\\sum_t L_t` over all steps (the forward pass sees every step).
    grads : list of LayerParams
    """
    x, y = _check_batch(net, x, y)
    T = _check_steps(num_steps)
    if k is not None:
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 1 <= k <= T:
            raise ValueError(f"k must be an int in [1, T={T}], got {k!r}")
        if rng is None:
            raise ValueError("SLTT-K needs rng to draw its time steps")
        chosen = np.zeros(T, bool)
        chosen[rng.choice(T, size=int(k), replace=False)] = True
        scale = 1.0 / int(k)
    else:
        chosen = np.ones(T, bool)
        scale = 1.0 / T
    ops = ops if ops is not None else HostOps(net)
    L = len(net.layers)
    B = len(x)
    if k is None and apply_step is None and isinstance(ops, HostOps):
        S = ops.block_steps(B, T)
        merged = [ops.merges(i, B) for i in range(L)]
        if S > 1 and any(merged[1:] if encoder == "direct" else merged):
            return _sltt_blocks(net, x, y, T, S, merged, encoder=encoder, rng=rng, ops=ops)
    direct = encoder == "direct"
    yd = ops.labels(y)
    xd = ops.upload(x) if direct else None
    # with a constant input current, layer 0's product is the same at every step: compute
    # it once and defer its weight gradient to one product with the summed error
    defer0 = direct and apply_step is None
    z0 = ops.forward(0, xd) if direct else None
    states: list[Any] = [None] * L
    grads = ops.zero_grads()
    g0_sum = ops.zeros_like(z0) if defer0 else None
    # the per-step loop runs ~10 operations per layer and step: what does not change from
    # step to step is looked up once here
    spiking = [net.spiking(i) for i in range(L)]
    out_rows = (B, net.num_classes)
    backprop = chosen.tolist()
    for t in range(T):
        a = xd if direct else ops.upload(_encode(x, encoder, rng))
        back = backprop[t]
        cache: list[tuple[Any, Any]] = []  # a fresh list: the last step's activations go
        for i in range(L):
            z = z0 if (i == 0 and direct) else ops.forward(i, a)
            mem = None
            if spiking[i]:
                if back:  # spikes, and the surrogate factor the backward of t needs
                    z, states[i], mem = ops.lif_sltt(z, states[i])
                else:
                    s, states[i] = ops.lif(z.reshape(1, *z.shape), states[i], record=False)
                    z = s.reshape(z.shape)
            cache.append((a, mem))
            a = z
        # the loss kernel scales the gradient of a step that backpropagates (by 1/T or 1/k)
        g = ops.loss(a.reshape(out_rows), yd, scale if back else 1.0)
        if not back:
            continue
        g = g.reshape(a.shape)
        step_grads = grads if apply_step is None else ops.zero_grads()
        for i in range(L - 1, -1, -1):
            a_in, mem = cache[i]
            if i == 0 and defer0:  # layer 0's error, summed over the steps
                if mem is not None:
                    ops.add_sltt_grad_(g0_sum, g, mem)
                else:
                    ops.add_(g0_sum, g)
                break
            if mem is not None:
                g = ops.sltt_grad(g, mem)
            g = ops.backward_into(i, a_in, g, step_grads[i], need_input=i > 0)
        if apply_step is not None:
            apply_step([LayerParams(ops.host(gl.weight), ops.host(gl.bias))
                        for gl in step_grads])
            ops.refresh()
            if direct:
                z0 = ops.forward(0, xd)
    ops.check()
    if defer0:
        grads[0], _ = ops.backward(0, xd, g0_sum, need_input=False)
    return ops.loss_total() / T, [LayerParams(ops.host(gl.weight), ops.host(gl.bias))
                                  for gl in grads]


def _sltt_blocks(net: SpikingNetwork, x: np.ndarray, y: np.ndarray, T: int, S: int,
                 merged: list[bool], *, encoder: str, rng: np.random.Generator | None,
                 ops: HostOps) -> tuple[float, list[LayerParams]]:
    """SLTT (every step, updated once per batch) on the CPU, ``S`` steps at a time.

    SLTT's backward of a step needs nothing of the other steps, so the steps of a block can
    go through each layer together: one LIF kernel call per layer for the block (the state
    carried step to step inside it, the same float32 operations as step by step), and, for
    the Dense layers marked in ``merged`` (:meth:`HostOps.merges`: products large enough
    that BLAS computes every row the same way whatever the number of rows), one product
    over the block's ``S * batch`` rows for the layer's current and its input gradient. The
    weight gradients still accumulate step by step, in step order, and so do the losses and
    layer 0's summed error. So the gradients and the loss are those of the step-by-step
    loop bit for bit (``tests/test_sltt.py`` checks it), with fewer calls and larger
    products. Memory holds one block's activations (:attr:`HostOps.BLOCK_ROWS` rows):
    flat in ``T``.
    """
    L = len(net.layers)
    B = len(x)
    C = net.num_classes
    direct = encoder == "direct"
    spiking = [net.spiking(i) for i in range(L)]
    yd = ops.labels(y)
    xd = ops.upload(x) if direct else None
    z0 = ops.forward(0, xd) if direct else None
    grads = ops.zero_grads()
    g0_sum = ops.zeros_like(z0) if direct else None
    scale = 1.0 / T
    states: list[Any] = [None] * L
    for t0 in range(0, T, S):
        n = min(S, T - t0)
        rows = n * B
        a = None if direct else ops.upload(np.stack([_encode(x, encoder, rng)
                                                     for _ in range(n)]))
        cache: list[tuple[Any, Any]] = []
        for i, layer in enumerate(net.layers):
            if i == 0 and direct:
                z = ops.repeat(z0, n)
            elif merged[i]:
                z = ops.forward(i, a.reshape(rows, *layer.in_shape())).reshape(
                    n, B, *layer.out_shape())
            else:
                z = np.stack([ops.forward(i, a[s]) for s in range(n)]).reshape(
                    n, B, *layer.out_shape())
            mem = None
            if spiking[i]:
                z, states[i], mem = ops.lif_sltt_block(z, states[i])
            cache.append((a, mem))
            a = z
        out = a.reshape(n, B, C)
        g = np.stack([ops.loss(out[s], yd, scale) for s in range(n)])
        g = g.reshape(n, B, *net.layers[-1].out_shape())
        for i in range(L - 1, -1, -1):
            layer = net.layers[i]
            a_in, mem = cache[i]
            if i == 0 and direct:  # layer 0's error, summed over the steps in step order
                for s in range(n):
                    if mem is not None:
                        ops.add_sltt_grad_(g0_sum, g[s], mem[s])
                    else:
                        ops.add_(g0_sum, g[s])
                break
            if mem is not None:
                g = ops.sltt_grad(g, mem)
            if merged[i]:
                for s in range(n):
                    ops.param_grads_into(i, a_in[s], g[s], grads[i])
                if i > 0:
                    g = ops.input_grad(i, g).reshape(a_in.shape)
            else:
                ga = [ops.backward_into(i, a_in[s], g[s], grads[i], need_input=i > 0)
                      for s in range(n)]
                if i > 0:
                    g = np.stack(ga)
    ops.check()
    if direct:
        grads[0], _ = ops.backward(0, xd, g0_sum, need_input=False)
    return ops.loss_total() / T, [LayerParams(ops.host(gl.weight), ops.host(gl.bias))
                                  for gl in grads]


def predict_logits(net: SpikingNetwork, x: np.ndarray, num_steps: int, *,
                   encoder: str = "direct", rng: np.random.Generator | None = None,
                   backend: str = "cpu") -> np.ndarray:
    """Summed readout over the steps, ``(batch, C)``: membranes or spike counts."""
    ops = make_ops(net, resolve_backend(backend))
    with one_blas_thread():
        return _predict_logits(net, x, num_steps, encoder=encoder, rng=rng, ops=ops)


def _predict_logits(net: SpikingNetwork, x: np.ndarray, num_steps: int, *, encoder: str,
                    rng: np.random.Generator | None, ops) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32).reshape(len(x), *net.in_shape)
    T = _check_steps(num_steps)
    B = len(x)
    states: list[Any] = [None] * len(net.layers)
    direct = encoder == "direct"
    xd = ops.upload(x) if direct else None
    acc = ops.accumulator((B, net.num_classes))
    frames = (lambda t: xd) if direct else (lambda t: ops.upload(_encode(x, encoder, rng)))
    for out in forward_steps(net, ops, T, frames, states, static=direct):
        ops.add_(acc, out.reshape(B, net.num_classes))
    ops.check()
    return np.asarray(ops.host(acc), dtype=np.float64)


def forward_steps(net: SpikingNetwork, ops, num_steps: int, frames: Callable[[int], Any],
                  states: list[Any], *, static: bool) -> Iterator[Any]:
    """The inference loop of a spiking network, written once: run ``num_steps`` steps and
    yield the readout layer's output of each.

    At step ``t`` each layer ``i`` computes its current from the previous layer's output
    (the input ``frames(t)`` for layer 0), and every spiking layer passes it through its
    LIF neurons (``ops.lif``, one step from ``states[i]``). Used by :func:`predict_logits`
    (the learners' ``predict``) and :meth:`physnn.snn.SpikingNetwork.run`.

    Parameters
    ----------
    net : SpikingNetwork
    ops : HostOps or CudaOps
        The operations of the backend (:func:`physnn.learning._snn_ops.make_ops`).
    num_steps : int
        Steps ``T``.
    frames : callable
        ``frames(t)``: the input of step ``t``, ``(batch, *in_shape)`` on the backend.
    states : list
        One LIF state (or None: at rest) per layer, replaced in place step by step.
    static : bool
        The input is the same at every step (``frames(0)``): layer 0's current is computed
        once.

    Yields
    ------
    array
        The readout of the step, ``(batch, *out_shape)`` of the last layer: its current
        (membrane readout) or its spikes (spike-count readout).
    """
    L = len(net.layers)
    spiking = [net.spiking(i) for i in range(L)]
    z0 = ops.forward(0, frames(0)) if static else None
    for t in range(num_steps):
        a = None if static else frames(t)
        for i in range(L):
            z = z0 if (i == 0 and static) else ops.forward(i, a)
            if spiking[i]:
                s, states[i] = ops.lif(z.reshape(1, *z.shape), states[i], record=False)
                z = s.reshape(z.shape)
            a = z
        yield a


def peak_memory(fn: Callable[[], Any], *, backend: str = "cpu") -> tuple[Any, int]:
    """Run ``fn()`` and return ``(result, peak bytes allocated during the call)``.

    ``backend="cpu"``: measured with :mod:`tracemalloc` (NumPy reports its buffers to it)
    above the level at the start. ``backend="cuda"``: the peak of the device buffers the
    CUDA path of this module allocated (it counts each one and its release), above the level
    at the start; the CUDA context and numba's own allocations are not included.
    """
    if backend == "cuda":
        import gc

        from ._snn_ops import DEVICE_MEMORY

        gc.collect()  # release the buffers of earlier calls first, so they are not counted
        DEVICE_MEMORY.reset_peak()
        base = DEVICE_MEMORY.live
        result = fn()
        return result, max(0, DEVICE_MEMORY.peak - base)
    if backend != "cpu":
        raise ValueError(f"backend must be 'cpu' or 'cuda', got {backend!r}")
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base, _ = tracemalloc.get_traced_memory()
        result = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        if not was_tracing:
            tracemalloc.stop()
    return result, max(0, peak - base)


# ----------------------------------------------------------------------------- learners


class _SpikingLearner(ABC):
    """Shared protocol: ``fit``, ``update`` (one batch), ``predict``, ``evaluate``."""

    name = "spiking"

    def __init__(self, *, num_steps: int, optimizer: Adam | SGD | None = None,
                 encoder: str = "direct", backend: str = "cpu") -> None:
        self.num_steps = _check_steps(num_steps)
        self.backend = resolve_backend(backend)
        self.optimizer = optimizer if optimizer is not None else Adam(1e-3)
        if not hasattr(self.optimizer, "init") or not hasattr(self.optimizer, "step"):
            raise TypeError("optimizer must be a physnn.optim optimizer (SGD or Adam)")
        if encoder not in _ENCODERS:
            raise ValueError(f"encoder must be one of {_ENCODERS}, got {encoder!r}")
        self.encoder = encoder
        self._opt_states: list | None = None

    @abstractmethod
    def _gradients(self, net, x, y, rng, opt_states) -> tuple[float, list[LayerParams] | None]:
        """Loss and gradients of one batch (``None`` when already applied to ``net.params``
        and ``opt_states`` step by step)."""

    def update(self, net: SpikingNetwork, x: np.ndarray, y: np.ndarray, *,
               rng: np.random.Generator) -> float:
        """One optimisation step on a batch; returns the batch loss.

        The update is atomic: every layer's new parameters and optimizer state are computed
        first (online SLTT steps on working copies), checked to be finite, and only then
        assigned. If anything fails or is interrupted on the way (an exception, a
        ``KeyboardInterrupt``, a non-finite loss or parameter), the network and the learner
        keep the parameters and state they had before the call.
        """
        states = self._opt_states
        if states is None or len(states) != len(net.params):
            states = [self.optimizer.init(p) for p in net.params]
        committed = net.params
        work_params, work_states = list(committed), list(states)
        net.params = work_params  # what the gradient pass (and online SLTT's steps) read
        try:
            loss, grads = self._gradients(net, x, y, rng, work_states)
            for i, g in enumerate(grads or ()):
                work_params[i], work_states[i] = self.optimizer.step(work_params[i], g,
                                                                     work_states[i])
            if not np.isfinite(loss):
                raise FloatingPointError(f"{self.name}: the batch loss is {loss}; lower the "
                                         "learning rate or check the inputs' scale")
            for i, p in enumerate(work_params):
                if not (np.all(np.isfinite(p.weight)) and np.all(np.isfinite(p.bias))):
                    raise FloatingPointError(f"{self.name}: layer {i}'s new parameters are not "
                                             "finite; nothing was updated")
        finally:
            net.params = committed
        committed[:] = work_params  # commit: one assignment each
        self._opt_states = work_states
        return loss

    def predict(self, net: SpikingNetwork, x: np.ndarray, *, batch_size: int = 512,
                rng: np.random.Generator | None = None) -> np.ndarray:
        """Predicted class per sample."""
        out = [predict_logits(net, x[i:i + batch_size], self.num_steps, encoder=self.encoder,
                              rng=rng, backend=self.backend).argmax(axis=1)
               for i in range(0, len(x), batch_size)]
        return np.concatenate(out)

    def evaluate(self, net: SpikingNetwork, x: np.ndarray, y: np.ndarray, *,
                 rng: np.random.Generator | None = None) -> dict:
        """``{"accuracy": ..., "n": ...}`` on ``(x, y)``."""
        x, y = _check_batch(net, x, y)
        pred = self.predict(net, x, rng=rng)
        return {"accuracy": float(np.mean(pred == y)), "n": int(len(y))}

    def fit(self, net: SpikingNetwork, x: np.ndarray, y: np.ndarray, *, epochs: int,
            rng: np.random.Generator, batch_size: int = 128,
            eval_data: tuple[np.ndarray, np.ndarray] | None = None,
            progress: bool | None = None,
            callback: Callable[[EpochRecord], Any] | None = None,
            checkpoint: str | os.PathLike | None = None, resume: bool = False) -> History:
        """Train for ``epochs`` passes over shuffled mini-batches; return the history.

        ``progress=None`` shows a progress bar when standard error is a terminal.

        ``checkpoint``: a physnn file (:func:`physnn.save`) rewritten atomically after every
        epoch with the network, the optimizer state, the generator and the history (its folder
        is checked for writing before any training). ``resume=True`` continues from that file
        when it exists, bit-identically to the uninterrupted run (same network, data,
        ``epochs`` and ``batch_size``, checked); without the file, training starts afresh.
        """
        check_fit_args(rng, epochs, batch_size)
        if checkpoint is not None:
            check_writable(checkpoint, "checkpoint")
        elif resume:
            raise ValueError("resume=True needs a checkpoint path")
        x, y = _check_batch(net, x, y)
        run = _checkpoint.FitRun(epochs=int(epochs), batch_size=int(batch_size),
                                 fingerprint=_checkpoint.fingerprint(x, y), rng=rng)
        if resume and checkpoint is not None and os.path.exists(checkpoint):
            run.restore(checkpoint, net, self)
        show = sys.stderr.isatty() if progress is None else progress
        bar = None
        if show:
            from tqdm.auto import tqdm

            per_epoch = (len(x) + batch_size - 1) // batch_size
            bar = tqdm(total=epochs * per_epoch, initial=run.done * per_epoch,
                       desc=f"{self.name} T={self.num_steps}", leave=False)
        records = list(run.records)
        wall = records[-1].wall_s if records else 0.0
        macs = records[-1].macs if records else 0
        rng = run.rng
        try:
            for epoch in range(run.done + 1, int(epochs) + 1):
                order = rng.permutation(len(x))
                losses = []
                t0 = time.perf_counter()
                for i in range(0, len(x), batch_size):
                    idx = order[i:i + batch_size]
                    losses.append(self.update(net, x[idx], y[idx], rng=rng))
                    macs += self._macs(net, len(idx))
                    if bar is not None:
                        bar.update(1)
                        bar.set_postfix(loss=f"{losses[-1]:.3f}")
                wall += time.perf_counter() - t0
                acc = (self.evaluate(net, *eval_data, rng=rng)["accuracy"]
                       if eval_data is not None
                       else float("nan"))
                rec = EpochRecord(epoch, float(np.mean(losses)), acc, 0, macs, wall)
                records.append(rec)
                if checkpoint is not None:
                    run.save(checkpoint, net, self, epoch, records)
                if callback is not None:
                    callback(rec)
        finally:
            if bar is not None:
                bar.close()
            run.hand_back()
        return History(tuple(records))

    def _macs(self, net: SpikingNetwork, batch: int) -> int:
        """Multiply-accumulates of one training batch (forward + both backward products)."""
        T = self.num_steps
        fwd = sum(layer.macs(batch if (i == 0 and self.encoder == "direct") else T * batch)
                  for i, layer in enumerate(net.layers))
        return 3 * fwd


class BPTT(_SpikingLearner):
    """Backpropagation through time with surrogate gradients (the reference).

    Parameters
    ----------
    num_steps : int
        Time steps ``T`` per sample.
    optimizer : physnn.optim.Adam or SGD
    encoder : {"direct", "rate"}
        ``"direct"`` feeds the input as a constant current every step; ``"rate"`` samples
        Bernoulli spikes with probability ``x`` (needs inputs in [0, 1]).
    backend : {"cpu", "cuda", "auto"}
        Where the forward and backward passes run. The parameters and the optimizer stay
        on the host; with ``"cuda"`` each batch uploads them once and downloads the
        gradients.
    """

    name = "BPTT"

    def _gradients(self, net, x, y, rng, opt_states):
        return bptt_gradients(net, x, y, self.num_steps, encoder=self.encoder, rng=rng,
                              backend=self.backend)


class SLTT(_SpikingLearner):
    """Spatial learning through time (Meng et al., ICCV 2023); ``k`` gives SLTT-K.

    Parameters
    ----------
    num_steps : int
        Time steps ``T`` per sample.
    k : int, optional
        Backpropagate at ``k`` random steps per batch (SLTT-K); ``None`` = every step.
    optimizer : physnn.optim.Adam or SGD
    encoder : {"direct", "rate"}
    online : bool
        Update the weights after every step instead of once per batch.
    backend : {"cpu", "cuda", "auto"}
        As for :class:`BPTT`.
    """

    def __init__(self, *, num_steps: int, k: int | None = None,
                 optimizer: Adam | SGD | None = None, encoder: str = "direct",
                 online: bool = False, backend: str = "cpu") -> None:
        super().__init__(num_steps=num_steps, optimizer=optimizer, encoder=encoder,
                         backend=backend)
        self.online = bool(online)
        if k is not None and (isinstance(k, bool) or not isinstance(k, int | np.integer)
                              or not 1 <= k <= self.num_steps):
            raise ValueError(f"k must be an int in [1, num_steps={self.num_steps}], got {k!r}")
        self.k = None if k is None else int(k)
        self.name = "SLTT" if k is None else f"SLTT-{k}"

    def _gradients(self, net, x, y, rng, opt_states):
        apply_step = None
        if self.online:
            def apply_step(step_grads):  # on the working copies update() hands in
                for i, g in enumerate(step_grads):
                    net.params[i], opt_states[i] = self.optimizer.step(
                        net.params[i], g, opt_states[i])
        loss, grads = sltt_gradients(net, x, y, self.num_steps, k=self.k, encoder=self.encoder,
                                     rng=rng, apply_step=apply_step, backend=self.backend)
        return loss, (None if self.online else grads)  # online: applied step by step
