"""The array operations BPTT, SLTT and inference need, once per backend.

:mod:`physnn.learning.sltt` writes each algorithm once against this small interface;
:class:`HostOps` runs it with NumPy and the numba CPU kernels, :class:`CudaOps` with numba
device arrays and the kernels of :mod:`physnn.kernels.snn_cuda` and
:mod:`physnn.kernels.lif_cuda`. Parameters stay on the host (the optimizers are NumPy); the
CUDA path uploads them once per batch and returns host gradients.

Activation arrays are time-major ``(T, batch, *features)``; ``layer`` is a
:class:`physnn.snn.Dense` or :class:`physnn.snn.Conv2d`.
"""

from __future__ import annotations

import functools
import math
import weakref
from typing import Any

import numpy as np

from ..kernels import lif_cpu, snn_cpu
from ..snn import Conv2d, Dense, LayerParams, SpikingNetwork
from ..spiking import _CONVENTIONS, _RESETS, LIFState, lif_backward

__all__ = ["HostOps", "CudaOps", "make_ops", "DEVICE_MEMORY"]


class HostOps:
    r"""NumPy arrays, numba CPU kernels (the reference path).

    Per-step work is kept to the kernels: the LIF step of SLTT records the surrogate
    derivative :math:`\sigma'(u - \vartheta)` in the same pass (:meth:`lif_sltt`), so its
    spatial gradient is one multiply (:meth:`sltt_grad`); the readout loss and its gradient
    are one compiled pass (:mod:`physnn.kernels.snn_cpu`, which also applies SLTT's ``1/T``);
    gradients accumulate in place. With large Dense layers SLTT runs a block of steps per
    call (:meth:`block_steps`, :meth:`merges`, :meth:`lif_sltt_block`), with the same bits.
    """

    name = "cpu"

    def __init__(self, net: SpikingNetwork) -> None:
        self.net = net
        self.params = net.params
        self._loss_total = 0.0
        self._sltt_plans: dict = {}
        self._wt: dict[int, tuple] = {}  # layer -> (weight, its transpose), this pass only

    def upload(self, x: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(x, dtype=np.float32)

    def labels(self, y: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(y, dtype=np.int64)

    def forward(self, i: int, a):
        r"""Layer ``i`` on ``a``. A Dense layer multiplies by a C-contiguous copy of
        :math:`W^\top` made once per gradient pass (BLAS ran ``a @ W.T`` through the
        transposed view 13 % slower on SLTT's 128 x 256 x 256 steps, 40 % on the readout)."""
        layer, p = self.net.layers[i], self.params[i]
        if isinstance(layer, Dense):
            z = a.reshape(a.shape[0], layer.in_features) @ self._transposed(i)
            z += p.bias
            return z
        return layer.forward(p, a)

    def _transposed(self, i: int) -> np.ndarray:
        weight = self.params[i].weight
        kept = self._wt.get(i)
        if kept is None or kept[0] is not weight:
            kept = self._wt[i] = (weight, np.ascontiguousarray(weight.T))
        return kept[1]

    def backward(self, i: int, a, g, need_input: bool):
        return self.net.layers[i].backward(self.params[i], a, g, need_input)

    def backward_into(self, i: int, a, g, acc: LayerParams, need_input: bool):
        """Layer ``i``'s parameter gradients added into ``acc`` (an accumulator from
        :meth:`zero_grads`); returns the input gradient (None unless ``need_input``).

        A Dense layer's ``acc.weight += g^T a`` is one BLAS call that accumulates in place
        (``sgemm`` with ``beta = 1``) and its bias gradient one ``sgemv``: no temporary, no
        separate addition, once per layer and step of SLTT.
        """
        g2 = self._accumulate_dense(i, a, g, acc)
        if g2 is None:
            gl, ga = self.backward(i, a, g, need_input)
            self.add_grads(acc, gl)
            return ga
        return (g2 @ self.params[i].weight).reshape(a.shape) if need_input else None

    def _accumulate_dense(self, i: int, a, g, acc: LayerParams):
        """``acc += `` a float32 Dense layer's parameter gradients in place (BLAS); returns
        ``g`` as ``(rows, out)`` float32, or None (nothing added) for any other layer."""
        layer = self.net.layers[i]
        if not (isinstance(layer, Dense) and acc.weight.dtype == np.float32
                and acc.weight.flags.c_contiguous and acc.bias.flags.c_contiguous):
            return None
        blas = _blas()
        rows = a.shape[0]
        a2 = np.ascontiguousarray(a.reshape(rows, layer.in_features), dtype=np.float32)
        g2 = np.ascontiguousarray(g.reshape(rows, layer.out_features), dtype=np.float32)
        # Fortran view: acc.weight.T (in, out) += a2.T (in, rows) @ g2 (rows, out)
        blas.sgemm(1.0, a2.T, g2.T, beta=1.0, c=acc.weight.T, trans_b=True, overwrite_c=True)
        blas.sgemv(1.0, g2.T, self._ones(rows), beta=1.0, y=acc.bias, overwrite_y=True)
        return g2

    def _ones(self, n: int) -> np.ndarray:
        ones = self.__dict__.get("_ones_cache")
        if ones is None or len(ones) != n:
            ones = self._ones_cache = np.ones(n, np.float32)
        return ones

    def lif(self, z, state, record: bool = True):
        return self.net.lif_step(z, state, record)

    #: Rows (steps x batch) of the layer products SLTT groups per block of steps
    #: (:func:`physnn.learning.sltt._sltt_blocks`): from 128 to 256 rows the products ran 10 %
    #: faster per row on one core; beyond that the gain stops and the activations kept per
    #: block grow.
    BLOCK_ROWS = 256

    #: Multiply-accumulates of one step's product of a Dense layer from which SLTT's block
    #: schedule computes the layer over a block's rows at once. Below, BLAS libraries take
    #: special small-matrix paths (OpenBLAS: up to 1e6 and, without transposes, up to
    #: 28 x 512 x 512 multiply-accumulates) whose sums may round differently from those of
    #: the general path a block's larger product takes.
    MERGE_MIN_MACS = 1 << 23

    def block_steps(self, batch: int, num_steps: int) -> int:
        """Steps per block for SLTT's block schedule (1: step by step)."""
        return max(1, min(num_steps, self.BLOCK_ROWS // max(1, batch)))

    def merges(self, i: int, batch: int) -> bool:
        """Whether SLTT's block schedule computes layer ``i`` over a block's rows at once:
        a Dense layer whose one-step product has at least :attr:`MERGE_MIN_MACS`
        multiply-accumulates (a row's values then do not depend on the number of rows)."""
        layer = self.net.layers[i]
        return isinstance(layer, Dense) and layer.macs(batch) >= self.MERGE_MIN_MACS

    def param_grads_into(self, i: int, a, g, acc: LayerParams) -> None:
        """Layer ``i``'s parameter gradients of one step added into ``acc`` (what
        :meth:`backward_into` adds, without the input gradient)."""
        self.backward_into(i, a, g, acc, need_input=False)

    def input_grad(self, i: int, g):
        """The input gradient of Dense layer ``i`` for ``g (rows, out)``: ``g W``, the
        product :meth:`backward_into` computes, over any number of rows (a row's values do
        not depend on the other rows)."""
        layer = self.net.layers[i]
        return np.ascontiguousarray(g.reshape(-1, layer.out_features),
                                    dtype=np.float32) @ self.params[i].weight

    def lif_sltt(self, z, state):
        r"""One LIF step of ``z (batch, *features)`` for SLTT: ``(spikes, state, factor)``
        with ``factor`` = :math:`\sigma'(u - \vartheta)`, what :meth:`sltt_grad` needs."""
        spikes, state, factor = self.lif_sltt_block(z.reshape(1, *z.shape), state)
        return spikes.reshape(z.shape), state, factor.reshape(z.shape)

    def lif_sltt_block(self, z, state):
        r""":meth:`lif_sltt` over a block of steps, ``z (S, batch, *features)``, in one kernel
        call (the same sequence of float32 operations as ``S`` single steps):
        ``(spikes, state, factor)`` with the block's shape, the state after the last step."""
        S, B = z.shape[:2]
        n = z.size // (S * B) if z.size else 0
        if z.dtype != np.float32 or not z.flags.c_contiguous:
            z = np.ascontiguousarray(z, dtype=np.float32)
        plan = self._sltt_plans.get((B, n))
        if plan is None:
            plan = self._sltt_plans[(B, n)] = self._sltt_plan(B, n)
        kernel, beta, tau, thr, rest, p = plan
        st_in = rest if state is None else _rows(state.membrane, B, n)
        st = np.empty((B, n), np.float32)
        spikes = np.empty(z.shape, np.float32)
        factor = np.empty(z.shape, np.float32)
        if n and kernel(z.reshape(S, B, n), beta, tau, thr, st_in, st, spikes.reshape(S, B, n),
                        factor.reshape(S, B, n), True, p):
            raise FloatingPointError("non-finite input current reached a LIF layer "
                                     "(diverging weights? lower the learning rate)")
        return spikes, LIFState(st.reshape(B, *z.shape[2:])), factor

    def _sltt_plan(self, B: int, n: int) -> tuple:
        """What :meth:`lif_sltt` needs for a ``(B, n)`` layer, fixed by the network."""
        net = self.net
        kernel = lif_cpu.lif_sg_kernel(_RESETS[net.reset], _CONVENTIONS[net.convention],
                                       net.surrogate.kind, B * n)
        return (kernel, *net._lif_arrays(n), net._rest(B, n),
                np.float32(net.surrogate.param))

    def lif_bptt(self, g, mem, s):
        net = self.net
        gx, _ = lif_backward(np.ascontiguousarray(g, dtype=np.float32), mem, s, beta=net.beta,
                             threshold=net.threshold, surrogate=net.surrogate,
                             reset=net.reset, convention=net.convention,
                             detach_reset=net.detach_reset, backend="cpu")
        return gx

    def add_sltt_grad_(self, acc, g, factor) -> None:
        r"""``acc +=`` :meth:`sltt_grad` ``(g, factor)`` in one pass (the same bits): the
        spatial gradient of a layer whose weight gradient is deferred, summed over steps."""
        if (g.dtype != np.float32 or not g.flags.c_contiguous or acc.dtype != np.float32
                or not acc.flags.c_contiguous or factor.size != g.size):
            self.add_(acc, self.sltt_grad(g, factor))
            return
        snn_cpu.add_product(acc.reshape(acc.size), g.reshape(g.size),
                            factor.reshape(factor.size))

    def sltt_grad(self, g, factor):
        r""":math:`g\,\sigma'(u - \vartheta)`, with the factor of :meth:`lif_sltt` (``g``,
        a temporary of the backward pass, is scaled in place)."""
        if g.dtype != np.float32 or not g.flags.writeable:
            g = np.array(g, dtype=np.float32)
        np.multiply(g, factor.reshape(g.shape), out=g)
        return g

    def loss(self, out, y, scale: float = 1.0):
        """Gradient of the mean per-row loss of ``out (rows, C)`` times ``scale`` (in
        float32, as :meth:`scaled` would), whose value (not scaled) is added to
        :meth:`loss_total`; row ``r`` has label ``y[r % len(y)]``. The scaling happens in
        the loss kernel's pass."""
        if out.dtype != np.float32 or not out.flags.c_contiguous:
            out = np.ascontiguousarray(out, dtype=np.float32)
        grad = np.empty(out.shape, np.float32)
        kernel = (snn_cpu.softmax_cross_entropy if self.net.readout == "membrane"
                  else snn_cpu.spike_count_mse)
        self._loss_total += kernel(out, y, grad, np.float32(scale))
        return grad

    def loss_total(self) -> float:
        """The sum of the losses of every :meth:`loss` call so far."""
        return self._loss_total

    def repeat(self, z, T: int):
        return np.broadcast_to(z, (T, *z.shape))

    def sum_time(self, g):
        return g.sum(axis=0)

    def scaled(self, g, s: float):
        """``g * s`` in float32 (``g``, a fresh loss gradient, is scaled in place)."""
        if g.dtype != np.float32 or not g.flags.writeable:
            return (g * s).astype(np.float32)
        g *= np.float32(s)
        return g

    def zeros_like(self, a):
        return np.zeros_like(a)

    def zero_grads(self) -> list[LayerParams]:
        return [LayerParams(np.zeros_like(p.weight), np.zeros_like(p.bias)) for p in self.params]

    def add_(self, acc, g) -> None:
        acc += g

    def accumulator(self, shape) -> np.ndarray:
        return np.zeros(shape, np.float64)

    def add_grads(self, acc: LayerParams, g: LayerParams) -> LayerParams:
        """``acc + g``, added into ``acc`` (an accumulator from :meth:`zero_grads`)."""
        np.add(acc.weight, g.weight, out=acc.weight)
        np.add(acc.bias, g.bias, out=acc.bias)
        return acc

    def host(self, a) -> np.ndarray:
        return a

    def refresh(self) -> None:
        """Re-read the parameters after an optimizer step (online SLTT)."""
        self.params = self.net.params
        self._wt.clear()

    def check(self) -> None:
        """Raise if a non-finite current reached a LIF layer (the CPU path raises at once)."""


@functools.cache
def _blas():
    """:mod:`scipy.linalg.blas`, imported on first use (not on every layer and step)."""
    from scipy.linalg import blas

    return blas


def _rows(membrane, batch: int, n: int) -> np.ndarray:
    if membrane.dtype != np.float32 or not membrane.flags.c_contiguous:
        membrane = np.ascontiguousarray(membrane, dtype=np.float32)
    return membrane.reshape(batch, n)


# ----------------------------------------------------------------------------- CUDA


class _DeviceMemory:
    """Live and peak bytes of the device arrays :class:`CudaOps` allocated."""

    def __init__(self) -> None:
        self.live = 0
        self.peak = 0

    def reset_peak(self) -> None:
        self.peak = self.live

    def _alloc(self, nbytes: int) -> None:
        self.live += nbytes
        self.peak = max(self.peak, self.live)

    def _free(self, nbytes: int) -> None:
        self.live -= nbytes


DEVICE_MEMORY = _DeviceMemory()


class CudaOps:
    """numba device arrays; every buffer is counted in :data:`DEVICE_MEMORY`."""

    name = "cuda"

    def __init__(self, net: SpikingNetwork) -> None:
        from numba import cuda

        from ..kernels import lif_cuda, snn_cuda

        self.cuda, self.k, self.lif_k = cuda, snn_cuda, lif_cuda
        self.net = net
        self.params = self._upload_params()
        self._lif_params: dict[int, tuple] = {}
        self._bad: dict[int, Any] = {}
        self._loss_sum = self.cuda.to_device(np.zeros(1, np.float64))

    # -- memory
    def empty(self, shape) -> Any:
        shape = tuple(int(s) for s in shape)
        arr = self.cuda.device_array(shape, dtype=np.float32)
        nbytes = 4 * math.prod(shape)
        DEVICE_MEMORY._alloc(nbytes)
        weakref.finalize(arr, DEVICE_MEMORY._free, nbytes)
        return arr

    def zeros(self, shape) -> Any:
        arr = self.empty(shape)
        if arr.size:
            _configured(self.k.fill, arr.size)(arr.reshape(arr.size), 0.0)
        return arr

    def zeros_like(self, a):
        return self.zeros(a.shape)

    def upload(self, x: np.ndarray):
        x = np.ascontiguousarray(x, dtype=np.float32)
        arr = self.empty(x.shape)
        arr.copy_to_device(x)
        return arr

    def labels(self, y: np.ndarray):
        return self.cuda.to_device(np.ascontiguousarray(y, dtype=np.int64))

    def _upload_params(self) -> list[LayerParams]:
        return [LayerParams(self.upload(p.weight), self.upload(p.bias)) for p in self.net.params]

    def refresh(self) -> None:
        self.params = self._upload_params()

    def host(self, a) -> np.ndarray:
        return a.copy_to_host()

    # -- layers
    def _gemm(self, a, b, shape, **kw):
        c = self.empty(shape)
        self.k.gemm(a, b, c, **kw)
        return c

    def forward(self, i: int, a):
        layer, p = self.net.layers[i], self.params[i]
        rows = a.shape[0]
        if isinstance(layer, Conv2d):
            cols = self._cols(layer, a)
            z = self._gemm(cols, p.weight.reshape(layer.out_channels, cols.shape[1]),
                           (cols.shape[0], layer.out_channels), tb=True)
            out = self.empty((rows, *layer.out_shape()))
            _configured(self.k.rows_to_nchw, out.size)(z, p.bias, out)
            return out
        z = self._gemm(a.reshape(rows, layer.in_features), p.weight,
                       (rows, layer.out_features), tb=True)
        _configured(self.k.add_row_vector, z.size)(z, p.bias)
        return z

    def _cols(self, layer: Conv2d, a):
        ho, wo = layer.out_hw()
        rows = a.shape[0]
        cols = self.empty((rows * ho * wo, layer.in_channels * layer.kernel_size ** 2))
        self.k.im2col(a.reshape(rows, *layer.in_shape()), layer.kernel_size, layer.stride,
                      layer.padding, ho, wo, cols)
        return cols

    def backward(self, i: int, a, g, need_input: bool):
        layer, p = self.net.layers[i], self.params[i]
        rows = a.shape[0]
        if isinstance(layer, Conv2d):
            ho, wo = layer.out_hw()
            o = layer.out_channels
            g2 = self.empty((rows * ho * wo, o))
            _configured(self.k.nchw_to_rows, g.size)(g.reshape(rows, o, ho, wo), g2)
            w2 = p.weight.reshape(o, p.weight.size // o)
            gw = self._gemm(g2, self._cols(layer, a), w2.shape, ta=True)
            gb = self.empty((o,))
            _configured(self.k.column_sums, o)(g2, gb, False)
            ga = None
            if need_input:
                gcols = self._gemm(g2, w2, (g2.shape[0], w2.shape[1]))
                ga = self.empty((rows, *layer.in_shape()))
                self.k.col2im(gcols, layer.kernel_size, layer.stride, layer.padding, ho, wo,
                              ga)
                ga = ga.reshape(a.shape)
            return LayerParams(gw.reshape(p.weight.shape), gb), ga
        a2 = a.reshape(rows, layer.in_features)
        g2 = g.reshape(rows, layer.out_features)
        gw = self._gemm(g2, a2, p.weight.shape, ta=True)
        gb = self.empty((layer.out_features,))
        _configured(self.k.column_sums, layer.out_features)(g2, gb, False)
        ga = self._gemm(g2, p.weight, (rows, layer.in_features)).reshape(a.shape) \
            if need_input else None
        return LayerParams(gw, gb), ga

    # -- LIF
    def _lif_arrays(self, n: int):
        if n not in self._lif_params:
            beta, tau, thr = self.net._lif_arrays(n)
            self._lif_params[n] = tuple(self.cuda.to_device(v) for v in (beta, tau, thr))
        return self._lif_params[n]

    def lif(self, z, state, record: bool = True):
        net = self.net
        S, B = z.shape[:2]
        n = math.prod(z.shape[2:])
        beta, tau, thr = self._lif_arrays(n)
        st = self.zeros((B, n)) if state is None else state
        spikes = self.empty((S, B, n))
        mem = self.empty((S, B, n) if record else (1, 1, 1))
        if B not in self._bad:  # one flag array per batch size, read once in check()
            self._bad[B] = self.cuda.device_array(B, dtype=np.uint8)
            _configured(self.lif_k._fill_zero, B)(self._bad[B])
        _configured(self.lif_k._lif_forward_kernel, B * n)(
            z.reshape(S, B, n), beta, tau, thr, st, _RESETS[net.reset],
            _CONVENTIONS[net.convention], spikes, mem, record, self._bad[B])
        spikes = spikes.reshape(z.shape)
        return (spikes, st, mem.reshape(z.shape)) if record else (spikes, st)

    def backward_into(self, i: int, a, g, acc: LayerParams, need_input: bool):
        """Layer ``i``'s parameter gradients added into ``acc``; returns the input gradient."""
        gl, ga = self.backward(i, a, g, need_input)
        self.add_grads(acc, gl)
        return ga

    def lif_sltt(self, z, state):
        """One LIF step of ``z (batch, *features)``: ``(spikes, state, membrane)``, the
        membrane being what :meth:`sltt_grad` takes here."""
        s, st, m = self.lif(z.reshape(1, *z.shape), state)
        return s.reshape(z.shape), st, m.reshape(z.shape)

    def check(self) -> None:
        for bad in self._bad.values():
            if bad.copy_to_host().any():
                raise FloatingPointError("non-finite input current reached a LIF layer "
                                         "(diverging weights? lower the learning rate)")

    def lif_bptt(self, g, mem, s):
        net = self.net
        T, B = g.shape[:2]
        n = math.prod(g.shape[2:])
        beta, _, thr = self._lif_arrays(n)
        gx = self.empty(g.shape)
        carry = self.zeros((B, n))
        sg = net.surrogate
        _configured(self.lif_k._lif_bptt_kernel, B * n)(
            g.reshape(T, B, n), mem.reshape(T, B, n), s.reshape(T, B, n), beta, thr, sg.kind,
            np.float32(sg.param), _RESETS[net.reset], _CONVENTIONS[net.convention],
            net.detach_reset, gx.reshape(T, B, n), carry)
        return gx

    def sltt_grad(self, g, mem):
        B = g.shape[0]
        n = math.prod(g.shape[1:])
        _, _, thr = self._lif_arrays(n)
        out = self.empty(g.shape)
        sg = self.net.surrogate
        _configured(self.lif_k._sltt_backward_kernel, B * n)(
            g.reshape(1, B, n), mem.reshape(1, B, n), thr, sg.kind, np.float32(sg.param),
            out.reshape(1, B, n))
        return out

    # -- losses and bookkeeping
    def add_sltt_grad_(self, acc, g, mem) -> None:
        """``acc +=`` :meth:`sltt_grad` ``(g, mem)``."""
        self.add_(acc, self.sltt_grad(g, mem))

    def loss(self, out, y, scale: float = 1.0):
        """As :meth:`HostOps.loss`: the gradient times ``scale`` (a separate pass here)."""
        grad = self._loss(out, y)
        return grad if scale == 1.0 else self.scaled(grad, scale)

    def _loss(self, out, y):
        R, C = out.shape
        per_row = self.empty((R,))
        grad = self.empty((R, C))
        kernel = (self.k.softmax_cross_entropy if self.net.readout == "membrane"
                  else self.k.spike_count_mse)
        _configured(kernel, R)(out, y, np.float32(1.0 / R), per_row, grad)
        # summed on the device and read once in loss_total(): the steps never wait for the host
        self.k.add_mean[1, 1](per_row, self._loss_sum)
        return grad

    def loss_total(self) -> float:
        return float(self._loss_sum.copy_to_host()[0])

    def repeat(self, z, T: int):
        out = self.empty((T, *z.shape))
        _configured(self.k.repeat_leading, out.size)(z.reshape(z.size),
                                                    out.reshape(T, z.size))
        return out

    def sum_time(self, g):
        T = g.shape[0]
        m = g.size // T
        out = self.empty(g.shape[1:])
        _configured(self.k.column_sums, m)(g.reshape(T, m), out.reshape(m), False)
        return out

    def scaled(self, g, s: float):
        out = self.zeros(g.shape)
        self.add_(out, g, s)
        return out

    def zero_grads(self) -> list[LayerParams]:
        return [LayerParams(self.zeros(p.weight.shape), self.zeros(p.bias.shape))
                for p in self.params]

    def add_(self, acc, g, s: float = 1.0) -> None:
        if acc.size:
            _configured(self.k.axpy, acc.size)(acc.reshape(acc.size), g.reshape(g.size),
                                               np.float32(s))

    def accumulator(self, shape):
        return self.zeros(shape)

    def add_grads(self, acc: LayerParams, g: LayerParams) -> LayerParams:
        self.add_(acc.weight, g.weight)
        self.add_(acc.bias, g.bias)
        return acc


@functools.lru_cache(maxsize=1024)
def _configured(kernel: Any, n: int) -> Any:
    """``kernel`` configured for ``n`` threads (256 per block), built once per size and kept:
    the per-step launches of SLTT reuse their launch configurations."""
    from ..kernels import snn_cuda

    return kernel[snn_cuda.grid(n)]


def make_ops(net: SpikingNetwork, backend: str) -> HostOps | CudaOps:
    """The operations of ``backend`` (``"cpu"`` or ``"cuda"``, already resolved)."""
    return CudaOps(net) if backend == "cuda" else HostOps(net)
