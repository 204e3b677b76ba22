"""Feed-forward spiking networks of Dense and Conv2d layers with LIF neurons, in NumPy with
hand-written layer gradients, on the LIF kernels of :mod:`physnn.spiking`.

Every layer but the last is followed by a LIF population; the last layer is the readout:

- ``readout="membrane"``: its output :math:`o_t = W a_t + b` is read at every step;
  the per-step loss is :math:`\\mathrm{CE}(o_t, y)` and the prediction
  :math:`\\arg\\max \\sum_t o_t`;
- ``readout="spike_count"``: it is followed by LIF neurons too; the per-step loss is the
  squared error :math:`\\lVert s_t - e_y \\rVert^2 / C` and the prediction the class with most
  spikes.

The training loss is the mean of the per-step losses, :math:`L = \\frac1T \\sum_t L_t`, which
both BPTT and SLTT (see :mod:`physnn.learning.sltt`) minimise.

Layout: activations are time-major ``(T, batch, *features)``; Dense weights ``(out, in)``,
Conv2d weights ``(out_channels, in_channels, k, k)``, images ``(channels, height, width)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ._threads import one_blas_thread
from .kernels import conv_cpu
from .spiking import _CONVENTIONS, _RESETS, LIFState, spikingjelly_tau
from .surrogate import Surrogate, get_surrogate

__all__ = ["Dense", "Conv2d", "LayerParams", "SpikingNetwork"]


class LayerParams(NamedTuple):
    """Trainable parameters of one layer: ``weight`` and ``bias``."""

    weight: np.ndarray
    bias: np.ndarray


@dataclass(frozen=True)
class Dense:
    """Fully connected layer :math:`z = W a + b` on flattened input."""

    in_features: int
    out_features: int

    def __post_init__(self) -> None:
        for name in ("in_features", "out_features"):
            v = getattr(self, name)
            if not isinstance(v, int | np.integer) or v < 1:
                raise ValueError(f"Dense: {name} must be a positive int, got {v!r}")

    def in_shape(self) -> tuple[int, ...]:
        return (self.in_features,)

    def out_shape(self) -> tuple[int, ...]:
        return (self.out_features,)

    def init(self, rng: np.random.Generator) -> LayerParams:
        """Kaiming-uniform weights (``bound = sqrt(6 / fan_in)``), zero bias."""
        bound = math.sqrt(6.0 / self.in_features)
        w = rng.uniform(-bound, bound, size=(self.out_features, self.in_features))
        return LayerParams(w.astype(np.float32), np.zeros(self.out_features, np.float32))

    def forward(self, p: LayerParams, a: np.ndarray) -> np.ndarray:
        """``a`` of shape ``(rows, *in)`` -> ``(rows, out)``."""
        a2 = a.reshape(a.shape[0], -1)
        return a2 @ p.weight.T + p.bias

    def backward(self, p: LayerParams, a: np.ndarray, g: np.ndarray, need_input: bool
                 ) -> tuple[LayerParams, np.ndarray | None]:
        """Gradients of the weights (summed over rows) and, if asked, of the input."""
        a2 = a.reshape(a.shape[0], -1)
        grads = LayerParams(g.T @ a2, g.sum(axis=0))
        ga = (g @ p.weight).reshape(a.shape) if need_input else None
        return grads, ga

    def macs(self, rows: int) -> int:
        return rows * self.in_features * self.out_features


@dataclass(frozen=True)
class Conv2d:
    """2-D convolution (cross-correlation) with square kernel, stride and zero padding.

    .. math:: z_{o,i,j} = b_o + \\sum_{c,u,v} W_{o,c,u,v}\\, a_{c,\\,s i + u - p,\\, s j + v - p}
    """

    in_channels: int
    out_channels: int
    kernel_size: int
    in_hw: tuple[int, int]
    stride: int = 1
    padding: int = 0

    def __post_init__(self) -> None:
        for name in ("in_channels", "out_channels", "kernel_size", "stride"):
            v = getattr(self, name)
            if not isinstance(v, int | np.integer) or v < 1:
                raise ValueError(f"Conv2d: {name} must be a positive int, got {v!r}")
        if not isinstance(self.padding, int | np.integer) or self.padding < 0:
            raise ValueError(f"Conv2d: padding must be an int >= 0, got {self.padding!r}")
        h, w = self.out_hw()
        if h < 1 or w < 1:
            raise ValueError(f"Conv2d: kernel {self.kernel_size} does not fit input {self.in_hw}")

    def out_hw(self) -> tuple[int, int]:
        k, s, p = self.kernel_size, self.stride, self.padding
        return tuple((n + 2 * p - k) // s + 1 for n in self.in_hw)  # type: ignore[return-value]

    def in_shape(self) -> tuple[int, ...]:
        return (self.in_channels, *self.in_hw)

    def out_shape(self) -> tuple[int, ...]:
        return (self.out_channels, *self.out_hw())

    def init(self, rng: np.random.Generator) -> LayerParams:
        fan_in = self.in_channels * self.kernel_size ** 2
        bound = math.sqrt(6.0 / fan_in)
        w = rng.uniform(-bound, bound, size=(self.out_channels, self.in_channels,
                                              self.kernel_size, self.kernel_size))
        return LayerParams(w.astype(np.float32), np.zeros(self.out_channels, np.float32))

    def _cols(self, a: np.ndarray) -> np.ndarray:
        """im2col: ``(rows * Ho * Wo, C * k * k)``, one row per output pixel."""
        ho, wo = self.out_hw()
        a = np.ascontiguousarray(a)
        cols = np.empty((a.shape[0] * ho * wo, self.in_channels * self.kernel_size ** 2),
                        np.result_type(a.dtype, np.float32))
        conv_cpu.im2col(a, self.kernel_size, self.stride, self.padding, ho, wo, cols)
        return cols

    def _chunks(self, rows: int) -> range:
        """Row chunks whose im2col matrix stays near 2**20 entries (cache-resident), so a
        layer over ``T * batch`` rows never builds one huge column matrix."""
        ho, wo = self.out_hw()
        per_row = ho * wo * self.in_channels * self.kernel_size ** 2
        return range(0, rows, max(1, (1 << 20) // per_row))

    def forward(self, p: LayerParams, a: np.ndarray) -> np.ndarray:
        """``a`` of shape ``(rows, C, H, W)`` -> ``(rows, O, Ho, Wo)`` (im2col + GEMM, in
        row chunks)."""
        a = a.reshape(a.shape[0], *self.in_shape())
        w2t = p.weight.reshape(self.out_channels, -1).T
        dtype = np.result_type(a.dtype, np.float32, p.weight.dtype)
        out = np.empty((a.shape[0], *self.out_shape()), dtype)
        bias = p.bias.astype(dtype, copy=False)
        rows = self._chunks(a.shape[0])
        for s in rows:
            chunk = slice(s, s + rows.step)
            conv_cpu.rows_to_nchw(self._cols(a[chunk]) @ w2t, bias, out[chunk])
        return out

    def backward(self, p: LayerParams, a: np.ndarray, g: np.ndarray, need_input: bool
                 ) -> tuple[LayerParams, np.ndarray | None]:
        a4 = a.reshape(a.shape[0], *self.in_shape())
        g = np.ascontiguousarray(g.reshape(g.shape[0], *self.out_shape()))
        n, o, ho, wo = g.shape
        w2 = p.weight.reshape(o, -1)
        gw = np.zeros(w2.shape, np.result_type(g.dtype, a4.dtype, np.float32))
        ga = None
        if need_input:
            ga = np.empty((n, *self.in_shape()), np.result_type(g.dtype, w2.dtype))
        rows = self._chunks(n)
        for s in rows:
            chunk = slice(s, s + rows.step)
            gc = g[chunk]
            g2 = np.empty((gc.shape[0] * ho * wo, o), g.dtype)
            conv_cpu.nchw_to_rows(gc, g2)
            gw += g2.T @ self._cols(a4[chunk])
            if need_input:
                conv_cpu.col2im(g2 @ w2, self.kernel_size, self.stride, self.padding, ho, wo,
                                ga[chunk])
        grads = LayerParams(gw.reshape(p.weight.shape).astype(p.weight.dtype, copy=False),
                            g.sum(axis=(0, 2, 3)))
        return grads, (None if ga is None else ga.reshape(a.shape))

    def macs(self, rows: int) -> int:
        ho, wo = self.out_hw()
        return rows * self.out_channels * ho * wo * self.in_channels * self.kernel_size ** 2


Layer = Dense | Conv2d


def _state_rows(membrane: np.ndarray, batch: int, n: int) -> np.ndarray:
    """A LIF state as a C-contiguous float32 ``(batch, n)`` array (a view where it can be:
    the kernels only read the initial state)."""
    if (not isinstance(membrane, np.ndarray) or membrane.dtype != np.float32
            or not membrane.flags.c_contiguous):
        membrane = np.ascontiguousarray(membrane, dtype=np.float32)
    return membrane.reshape(batch, n)


class SpikingNetwork:
    """A feed-forward spiking network: layers, LIF parameters and trainable parameters.

    Parameters
    ----------
    layers : list of Dense / Conv2d
        Consecutive layers; each layer's input size must equal the previous one's output
        size (Conv2d -> Dense flattens).
    beta : float
        LIF membrane decay per step, in [0, 1]; the SLTT paper uses ``1 - 1/tau`` with
        ``tau = 1.1``... ``2``.
    threshold : float
        Firing threshold, > 0.
    surrogate : str or Surrogate
        Surrogate gradient of the spike (``"triangle"`` is SLTT's).
    readout : {"membrane", "spike_count"}
    convention : {"spikingjelly", "snntorch"}
        LIF convention (see :func:`physnn.lif`); ``"spikingjelly"`` is SLTT's neuron.
    reset : {"subtract", "zero"}
        Reset after a spike: subtract the threshold (default) or set the membrane to zero
        (see :func:`physnn.lif`). ``"zero"`` with ``convention="snntorch"`` is the neuron of
        NIR's ``LIF`` node and of snntorch's NIR importer (:func:`physnn.from_nir`).
        Every path honours it: :meth:`run`, the learners' forward pass, BPTT's backward
        pass and SLTT's gradient, on both backends.
    detach_reset : bool
        Drop the gradient through the reset in BPTT (SpikingJelly convention).
    seed : int
        Seed of the weight initialisation.
    """

    def __init__(self, layers: list[Layer], *, beta: float = 0.5, threshold: float = 1.0,
                 surrogate: str | Surrogate = "triangle", readout: str = "membrane",
                 convention: str = "spikingjelly", reset: str = "subtract",
                 detach_reset: bool = False, seed: int = 0) -> None:
        if not layers or not all(isinstance(layer, Dense | Conv2d) for layer in layers):
            raise TypeError("layers must be a non-empty list of physnn.snn.Dense / Conv2d")
        for i in range(1, len(layers)):
            prev, cur = layers[i - 1], layers[i]
            if math.prod(prev.out_shape()) != math.prod(cur.in_shape()) or (
                    isinstance(cur, Conv2d) and prev.out_shape() != cur.in_shape()):
                raise ValueError(f"layer {i} expects input {cur.in_shape()} but layer {i - 1} "
                                 f"gives {prev.out_shape()}")
        if not 0.0 <= beta <= 1.0:
            raise ValueError(f"beta must lie in [0, 1], got {beta}")
        if not threshold > 0:
            raise ValueError(f"threshold must be > 0, got {threshold}")
        if readout not in ("membrane", "spike_count"):
            raise ValueError(f"readout must be 'membrane' or 'spike_count', got {readout!r}")
        if convention not in ("spikingjelly", "snntorch"):
            raise ValueError(f"convention must be 'spikingjelly' or 'snntorch', got {convention!r}")
        if reset not in ("subtract", "zero"):
            raise ValueError(f"reset must be 'subtract' or 'zero', got {reset!r}")
        self.layers = list(layers)
        self.beta = float(beta)
        self.threshold = float(threshold)
        self.surrogate = get_surrogate(surrogate)
        self.readout = readout
        self.convention = convention
        self.reset = reset
        self.detach_reset = bool(detach_reset)
        rng = np.random.default_rng(seed)
        self.params: list[LayerParams] = [layer.init(rng) for layer in self.layers]

    @property
    def num_classes(self) -> int:
        return math.prod(self.layers[-1].out_shape())

    @property
    def in_shape(self) -> tuple[int, ...]:
        return self.layers[0].in_shape()

    def spiking(self, i: int) -> bool:
        """Whether layer ``i`` is followed by LIF neurons."""
        return i < len(self.layers) - 1 or self.readout == "spike_count"

    def run(self, x: np.ndarray, *, num_steps: int | None = None,
            state: list[LIFState | None] | None = None, return_state: bool = False
            ) -> np.ndarray | tuple[np.ndarray, list[LIFState | None]]:
        r"""Simulate the network and return the readout layer's output at every step.

        The same computation as the learners' inference (:meth:`physnn.learning.SLTT.predict`
        and :meth:`~physnn.learning.BPTT.predict`), by the same loop
        (:func:`physnn.learning.sltt.forward_steps`), on the CPU: at step
        :math:`t` each layer ``i`` computes :math:`z^i_t = W_i a^{i-1}_t + b_i` from the
        previous layer's spikes :math:`a^{i-1}_t` (:math:`a^0_t = x_t`), and every layer but
        the readout feeds LIF neurons (:attr:`beta`, :attr:`threshold`, :attr:`convention`,
        :attr:`reset`) whose spikes are :math:`a^i_t`. Their prediction is
        ``run(x, num_steps=T).sum(axis=0).argmax(axis=1)``.

        Parameters
        ----------
        x : ndarray
            Time-major input ``(T, batch, *in_shape)`` (one current, or one frame of
            encoded spikes, per step) when ``num_steps`` is None; with ``num_steps``, a
            static input ``(batch, *in_shape)`` applied as the same current at each of the
            ``num_steps`` steps (the learners' ``encoder="direct"``). ``*in_shape`` may be
            given flattened. Converted to float32.
        num_steps : int, optional
            Number of steps ``T`` for a static input; None for a time-major one.
        state : list of LIFState or None, optional
            One entry per layer, the LIF state to start from (``None`` entries, and the
            readout layer's entry under ``readout="membrane"``, start at rest); the state
            returned by an earlier call with ``return_state=True``, so that a long input can
            run in chunks with identical output. None: every neuron at rest (zero).
        return_state : bool
            Also return the state after the last step.

        Returns
        -------
        out : ndarray, float32, shape ``(T, batch, num_classes)``
            ``readout="membrane"``: the readout currents
            :math:`o_t = W_L a^{L-1}_t + b_L` of the last layer (its input of the step, not
            integrated: the last layer has no neurons), flattened per sample.
            ``readout="spike_count"``: the spikes :math:`s_t \in \{0, 1\}` of the last
            layer's LIF neurons. Summed over time these are the learners' logits (spike
            counts).
        state : list of LIFState or None
            Only with ``return_state``: per layer, the LIF state after the last step
            (``membrane`` of shape ``(batch, *out_shape)``), None for a non-spiking readout.
        """
        x = np.asarray(x, dtype=np.float32)
        static = num_steps is not None
        if static:
            if isinstance(num_steps, bool) or not isinstance(num_steps, int | np.integer) \
                    or num_steps < 1:
                raise ValueError(f"num_steps must be an int >= 1 or None, got {num_steps!r}")
            T, lead = int(num_steps), 1
        else:
            T, lead = (x.shape[0] if x.ndim else 0), 2
        what = "(batch, *in_shape)" if static else "(T, batch, *in_shape)"
        feat = x.shape[lead:]
        if x.ndim < lead + 1 or (feat != self.in_shape
                                 and math.prod(feat) != math.prod(self.in_shape)):
            raise ValueError(f"x must have shape {what} with in_shape={self.in_shape}, "
                             f"got {x.shape}" + ("" if static else
                                                  " (pass num_steps for a static input)"))
        B = x.shape[lead - 1]
        if T == 0 or B == 0:
            raise ValueError(f"x must hold at least one step and one sample, got {x.shape}")
        if not np.all(np.isfinite(x)):
            raise ValueError("x contains NaN or infinite values")
        from .learning._snn_ops import HostOps
        from .learning.sltt import forward_steps

        states = self._check_state(state, B)
        C = self.num_classes
        out = np.empty((T, B, C), np.float32)
        xs = x.reshape(B, *self.in_shape) if static else x.reshape(T, B, *self.in_shape)
        with one_blas_thread():
            # the learners' inference loop (physnn.learning.sltt.forward_steps), on the CPU
            steps = forward_steps(self, HostOps(self), T, (lambda t: xs) if static
                                  else (lambda t: xs[t]), states, static=static)
            for t, a in enumerate(steps):
                out[t] = a.reshape(B, C)
        return (out, states) if return_state else out

    def _check_state(self, state, batch: int) -> list[LIFState | None]:
        """A copy of ``state`` for :meth:`run`, checked against the layers and ``batch``."""
        L = len(self.layers)
        if state is None:
            return [None] * L
        if not isinstance(state, list | tuple) or len(state) != L:
            raise ValueError(f"state must be a list of {L} LIFState / None entries (one per "
                             f"layer, as run(..., return_state=True) returns)")
        states: list[LIFState | None] = []
        for i, st in enumerate(state):
            if st is None or not self.spiking(i):
                states.append(None)
                continue
            shape = (batch, *self.layers[i].out_shape())
            if not isinstance(st, LIFState) or np.shape(st.membrane) != shape:
                raise ValueError(f"state[{i}] must be a LIFState with membrane of shape "
                                 f"{shape}, got {st!r:.80}")
            states.append(st)
        return states

    def lif_step(self, z: np.ndarray, state, record: bool = True):
        """LIF over a time-major block ``z`` of shape ``(S, batch, *features)``.

        Training calls this once per layer and step, so it skips :func:`physnn.lif`'s
        argument checks (the parameters were checked at construction, ``z`` is made here)
        and calls the CPU kernel directly, with the parameter arrays, the kernel choice and
        the zero initial state kept between calls (:meth:`_lif_arrays`); non-finite
        currents (and states) are still refused, inside the kernel.
        Returns ``(spikes, state, membrane)`` (``membrane`` only when ``record``).
        """
        from .kernels import lif_cpu

        if z.dtype != np.float32 or not z.flags.c_contiguous:
            z = np.ascontiguousarray(z, dtype=np.float32)
        S, B = z.shape[:2]
        n = z.size // (S * B) if z.size else math.prod(z.shape[2:])
        beta, tau, thr = self._lif_arrays(n)
        kernel = lif_cpu.lif_kernel(_RESETS[self.reset], _CONVENTIONS[self.convention], 1,
                                    z.size)
        st_in = self._rest(B, n) if state is None else _state_rows(state.membrane, B, n)
        st = np.empty((B, n), np.float32)
        spikes = np.empty((S, B, n), np.float32)
        mem = np.empty((S, B, n) if record else (0, 0, 0), np.float32)
        if n:
            flags = kernel(z.reshape(S, B, n), beta, tau, thr, st_in, st, spikes, mem, record)
            if flags & lif_cpu.BAD_STATE:
                raise ValueError("the LIF state holds NaN or infinite values")
            if flags:
                raise FloatingPointError("non-finite input current reached a LIF layer "
                                         "(diverging weights? lower the learning rate)")
        out = (spikes.reshape(z.shape), LIFState(st.reshape(B, *z.shape[2:])))
        return (*out, mem.reshape(z.shape)) if record else out

    def sltt_grad(self, g: np.ndarray, mem: np.ndarray) -> np.ndarray:
        r"""Spatial surrogate gradient :math:`g\,\sigma'(u - \vartheta)` of one step
        (:func:`physnn.sltt_backward` without its argument checks)."""
        from .kernels import lif_cpu

        g = np.ascontiguousarray(g, dtype=np.float32)
        n = g[0].size
        _, _, thr = self._lif_arrays(n)
        out = np.empty((1, len(g), n), np.float32)
        lif_cpu.sltt_backward(g.reshape(1, len(g), n), np.ascontiguousarray(
            mem, dtype=np.float32).reshape(1, len(g), n), thr, self.surrogate.kind,
            np.float32(self.surrogate.param), out, uni=1)
        return out.reshape(g.shape)

    def _lif_arrays(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per-neuron ``(beta, tau, threshold)`` float32 arrays of length ``n`` (cached).

        ``tau = 1 / (1 - beta)`` is computed from the float64 :attr:`beta` and rounded once
        (SpikingJelly's ``LIFNode(tau=1 / (1 - beta))``, see
        :func:`physnn.spiking.spikingjelly_tau`). The cache is keyed by the parameters too,
        so changing :attr:`beta` or :attr:`threshold` takes effect.
        """
        cache = self.__dict__.setdefault("_lif_cache", {})
        key = (n, self.beta, self.threshold)
        got = cache.get(key)
        if got is None:
            if len(cache) > 64:
                cache.clear()
            tau = spikingjelly_tau(np.array([self.beta]), np.float32)[0]
            got = cache[key] = tuple(np.full(n, v, np.float32) for v in (self.beta, tau,
                                                                          self.threshold))
        return got

    def _rest(self, batch: int, n: int) -> np.ndarray:
        """A ``(batch, n)`` zero state (cached: the kernels read an initial state, never
        write it)."""
        cache = self.__dict__.setdefault("_rest_cache", {})
        got = cache.get((batch, n))
        if got is None:
            if len(cache) > 64:
                cache.clear()
            got = cache[(batch, n)] = np.zeros((batch, n), np.float32)
        return got

    def step_loss(self, out: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        """Loss of one step's readout ``out (batch, C)`` and its gradient."""
        if self.readout == "membrane":
            from .learning.losses import softmax_cross_entropy

            return softmax_cross_entropy(out, y)
        target = np.zeros_like(out)
        target[np.arange(len(y)), y] = 1.0
        diff = out - target
        c = out.shape[1]
        return float(np.mean(np.sum(diff * diff, axis=1) / c)), 2 * diff / (c * len(y))

    def __repr__(self) -> str:
        return (f"SpikingNetwork({self.layers}, beta={self.beta}, threshold={self.threshold}, "
                f"surrogate={self.surrogate.name}, readout={self.readout!r}, "
                f"convention={self.convention!r}, reset={self.reset!r})")
