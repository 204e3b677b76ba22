r"""PyTorch interop: LIF and synaptic neurons as ``torch.nn.Module`` layers over the physnn kernels
(needs the ``ref`` extra; PyTorch >= 2.4 for :func:`torch.library.custom_op`).

:class:`LIF` and :class:`Synaptic` run the whole time loop of a time-major input
``x[T, batch, *features]`` in one compiled kernel, forward and backward (full BPTT with
surrogate gradients, matching autograd through snntorch ``Leaky`` / ``Synaptic`` unrolled
over time), with gradients for the input, the initial state and learnable per-neuron
``beta``, ``threshold`` (and ``alpha``). They are ``torch.library`` custom ops in the
``physnn`` namespace (``torch.ops.physnn.lif``, ``lif_grad``, ``synaptic``,
``synaptic_grad``) with fake (meta) implementations and registered autograd, so
``torch.compile(fullgraph=True)`` traces them without a graph break.

Tensors are handed to the kernels without copies: CPU tensors through ``Tensor.numpy()``, CUDA
tensors through ``__cuda_array_interface__``, the kernels launched on PyTorch's current CUDA
stream. float32 and float64 are computed in their own precision (outputs and gradients have
the dtype of ``x``); other dtypes are refused. A non-contiguous ``x`` costs one copy
(``x.contiguous()``); so does an incoming gradient that is not contiguous.

Units: time in steps of the simulation, ``beta = exp(-dt / tau_mem)`` (and ``alpha =
exp(-dt / tau_syn)``) dimensionless per-step decays in [0, 1]; currents, membranes and
thresholds in one arbitrary unit.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

try:
    import torch
    from torch import Tensor, nn
except ImportError as exc:  # pragma: no cover - depends on the install
    raise ImportError(
        "physnn.torch_ops needs PyTorch: install the reference extra, e.g. "
        "`pip install torch==2.13.0 'physnn[ref]'`"
    ) from exc

from .kernels import grad_cpu, lif_cpu
from .spiking import _CONVENTIONS, _RESETS, LIFState, SynapticState, _raise_if_bad, spikingjelly_tau
from .surrogate import Surrogate, get_surrogate

__all__ = ["LIF", "Synaptic", "SynapticState", "lif_spikes"]

if not hasattr(torch, "library") or not hasattr(torch.library, "custom_op"):  # pragma: no cover
    raise ImportError(f"physnn.torch_ops needs PyTorch >= 2.4, found {torch.__version__}")

_FLOATS = (torch.float32, torch.float64)


# ----------------------------------------------------------------------------- kernel glue


def _np(t: Tensor) -> np.ndarray:
    """A NumPy view of a contiguous CPU tensor (no copy)."""
    return t.detach().numpy()


def _cuda_launch(like: Tensor):
    """``(gpu context, stream)``: numba launches on PyTorch's current stream of ``like``'s
    device, so kernel and PyTorch work stay ordered."""
    from numba import cuda

    ptr = torch.cuda.current_stream(like.device).cuda_stream
    stream = cuda.default_stream() if ptr == 0 else cuda.external_stream(ptr)
    return cuda.gpus[like.device.index or 0], stream


def _dev(t: Tensor):
    """A numba device-array view of a contiguous CUDA tensor (no copy, no sync)."""
    from numba import cuda

    return cuda.as_cuda_array(t.detach(), sync=False)


def _check_finite_flags(bad: Any, stream: Any = None) -> None:
    """Raise when the kernel flagged a non-finite input (waits for a CUDA kernel's flags)."""
    if hasattr(bad, "copy_to_host"):
        bad = bad.copy_to_host(stream=stream)
        stream.synchronize()
    _raise_if_bad(np.asarray(bad, dtype=bool), "x")


# ----------------------------------------------------------------------------- custom ops
#
# Shapes inside the ops: x, spikes, records [T, B, N]; states [B, N]; parameters [N]; all
# contiguous, one float dtype, one device. The wrappers below (LIF, Synaptic, lif_spikes)
# flatten and validate; a parameter's broadcast to [N] happens in PyTorch, so its gradient
# is reduced back to the parameter's shape by autograd.


@torch.library.custom_op(
    "physnn::lif", mutates_args=(),
    schema="(Tensor x, Tensor beta, Tensor tau, Tensor threshold, Tensor state, int reset, "
           "int convention, int surrogate_kind, float surrogate_param, bool detach_reset, "
           "bool record) -> (Tensor, Tensor, Tensor)")
def _lif_op(x, beta, tau, threshold, state, reset, convention, surrogate_kind, surrogate_param,
            detach_reset, record):
    """LIF forward: ``(spikes, membrane record or a [1, 1, 1] placeholder, final state)``.

    ``tau`` is the spikingjelly convention's time constant, derived from ``beta`` as the
    caller gave it (:func:`_lif_apply`); it carries no gradient (``beta``'s goes through the
    backward kernel)."""
    x, beta, tau, threshold = (x.contiguous(), beta.contiguous(), tau.contiguous(),
                               threshold.contiguous())
    spikes = torch.empty_like(x)
    membrane = torch.empty_like(x) if record else x.new_empty((1, 1, 1))
    st = state.detach().clone(memory_format=torch.contiguous_format)
    if x.is_cuda:
        from .kernels import grad_cuda

        gpu, stream = _cuda_launch(x)
        with gpu:
            bad = grad_cuda.lif_forward(_dev(x), _dev(beta), _dev(tau), _dev(threshold),
                                        _dev(st), reset, convention, _dev(spikes),
                                        _dev(membrane), record, stream)
            _check_finite_flags(bad, stream)
    else:
        bad = lif_cpu.lif_forward(_np(x), _np(beta), _np(tau), _np(threshold), _np(st), reset,
                                  convention, _np(spikes), _np(membrane), record)
        _check_finite_flags(bad)
    return spikes, membrane, st


@_lif_op.register_fake
def _(x, beta, tau, threshold, state, reset, convention, surrogate_kind, surrogate_param,
      detach_reset, record):
    membrane = torch.empty_like(x) if record else x.new_empty((1, 1, 1))
    return torch.empty_like(x), membrane, torch.empty_like(state)


@torch.library.custom_op(
    "physnn::lif_grad", mutates_args=(),
    schema="(Tensor grad_spikes, Tensor grad_state, Tensor membrane, Tensor spikes, "
           "Tensor state, Tensor beta, Tensor threshold, int reset, int convention, "
           "int surrogate_kind, float surrogate_param, bool detach_reset) -> "
           "(Tensor, Tensor, Tensor, Tensor)")
def _lif_grad_op(grad_spikes, grad_state, membrane, spikes, state, beta, threshold, reset,
                 convention, surrogate_kind, surrogate_param, detach_reset):
    """LIF BPTT: ``(dL/dx, dL/dstate, dL/dbeta [N], dL/dthreshold [N])``."""
    g, gf, membrane, spikes, state, beta, threshold = (
        t.contiguous() for t in (grad_spikes, grad_state, membrane, spikes, state, beta,
                                 threshold))
    gx = torch.empty_like(g)
    g0 = torch.empty_like(state)
    gb = torch.empty_like(state)
    gt = torch.empty_like(state)
    if g.is_cuda:
        from .kernels import grad_cuda

        gpu, stream = _cuda_launch(g)
        with gpu:
            grad_cuda.lif_grad(_dev(g), _dev(gf), _dev(membrane), _dev(spikes), _dev(state),
                               _dev(beta), _dev(threshold), surrogate_kind, surrogate_param,
                               reset, convention, detach_reset, _dev(gx), _dev(g0), _dev(gb),
                               _dev(gt), stream)
    else:
        grad_cpu.lif_grad(_np(g), _np(gf), _np(membrane), _np(spikes), _np(state), _np(beta),
                          _np(threshold), surrogate_kind, surrogate_param, reset, convention,
                          detach_reset, _np(gx), _np(g0), _np(gb), _np(gt))
    return gx, g0, gb.sum(0), gt.sum(0)


@_lif_grad_op.register_fake
def _(grad_spikes, grad_state, membrane, spikes, state, beta, threshold, reset, convention,
      surrogate_kind, surrogate_param, detach_reset):
    return (torch.empty_like(grad_spikes), torch.empty_like(state), torch.empty_like(beta),
            torch.empty_like(threshold))


def _lif_setup_context(ctx, inputs, output):
    x, beta, _, threshold, state, *cfg, record = inputs
    spikes, membrane, _ = output
    ctx.save_for_backward(membrane, spikes, state, beta, threshold)
    ctx.cfg = tuple(cfg)
    # no zero-filled [T, B, N] gradient for the records nobody uses (None reaches backward)
    ctx.set_materialize_grads(False)
    ctx.record = record


def _lif_backward(ctx, grad_spikes, grad_membrane, grad_state):
    if not ctx.record:
        raise RuntimeError("physnn::lif ran with record=False; its backward needs the membrane")
    membrane, spikes, state, beta, threshold = ctx.saved_tensors
    if grad_spikes is None:
        grad_spikes = torch.zeros_like(spikes)
    if grad_state is None:
        grad_state = torch.zeros_like(state)
    gx, g0, gb, gt = _lif_grad_op(grad_spikes, grad_state, membrane, spikes, state, beta,
                                  threshold, *ctx.cfg)
    return gx, gb, None, gt, g0, None, None, None, None, None, None


_lif_op.register_autograd(_lif_backward, setup_context=_lif_setup_context)


@torch.library.custom_op(
    "physnn::synaptic", mutates_args=(),
    schema="(Tensor x, Tensor alpha, Tensor beta, Tensor threshold, Tensor syn, Tensor mem, "
           "int reset, int surrogate_kind, float surrogate_param, bool record) -> "
           "(Tensor, Tensor, Tensor, Tensor, Tensor)")
def _synaptic_op(x, alpha, beta, threshold, syn, mem, reset, surrogate_kind, surrogate_param,
                 record):
    """Synaptic forward: ``(spikes, mem record, syn record, final syn, final mem)`` (the
    records are [1, 1, 1] placeholders without ``record``)."""
    x, alpha, beta, threshold = (t.contiguous() for t in (x, alpha, beta, threshold))
    spikes = torch.empty_like(x)
    mem_rec = torch.empty_like(x) if record else x.new_empty((1, 1, 1))
    syn_rec = torch.empty_like(x) if record else x.new_empty((1, 1, 1))
    sy = syn.detach().clone(memory_format=torch.contiguous_format)
    me = mem.detach().clone(memory_format=torch.contiguous_format)
    if x.is_cuda:
        from .kernels import grad_cuda

        gpu, stream = _cuda_launch(x)
        with gpu:
            bad = grad_cuda.synaptic_forward(_dev(x), _dev(alpha), _dev(beta), _dev(threshold),
                                             _dev(sy), _dev(me), reset, _dev(spikes),
                                             _dev(mem_rec), _dev(syn_rec), record, stream)
            _check_finite_flags(bad, stream)
    else:
        bad = grad_cpu.synaptic_forward(_np(x), _np(alpha), _np(beta), _np(threshold), _np(sy),
                                        _np(me), reset, _np(spikes), _np(mem_rec),
                                        _np(syn_rec), record)
        _check_finite_flags(bad)
    return spikes, mem_rec, syn_rec, sy, me


@_synaptic_op.register_fake
def _(x, alpha, beta, threshold, syn, mem, reset, surrogate_kind, surrogate_param, record):
    shape = x.shape if record else (1, 1, 1)
    return (torch.empty_like(x), x.new_empty(shape), x.new_empty(shape), torch.empty_like(syn),
            torch.empty_like(mem))


@torch.library.custom_op(
    "physnn::synaptic_grad", mutates_args=(),
    schema="(Tensor grad_spikes, Tensor grad_syn, Tensor grad_mem, Tensor mem_rec, "
           "Tensor syn_rec, Tensor spikes, Tensor syn, Tensor mem, Tensor alpha, Tensor beta, "
           "Tensor threshold, int reset, int surrogate_kind, float surrogate_param) -> "
           "(Tensor, Tensor, Tensor, Tensor, Tensor, Tensor)")
def _synaptic_grad_op(grad_spikes, grad_syn, grad_mem, mem_rec, syn_rec, spikes, syn, mem,
                      alpha, beta, threshold, reset, surrogate_kind, surrogate_param):
    """Synaptic BPTT: ``(dL/dx, dL/dsyn, dL/dmem, dL/dalpha, dL/dbeta, dL/dthreshold)``."""
    g, gfs, gfm, mem_rec, syn_rec, spikes, syn, mem, alpha, beta, threshold = (
        t.contiguous() for t in (grad_spikes, grad_syn, grad_mem, mem_rec, syn_rec, spikes,
                                 syn, mem, alpha, beta, threshold))
    gx = torch.empty_like(g)
    gs0, gm0, ga, gb, gt = (torch.empty_like(mem) for _ in range(5))
    if g.is_cuda:
        from .kernels import grad_cuda

        gpu, stream = _cuda_launch(g)
        with gpu:
            grad_cuda.synaptic_grad(
                _dev(g), _dev(gfs), _dev(gfm), _dev(mem_rec), _dev(syn_rec), _dev(spikes),
                _dev(syn), _dev(mem), _dev(alpha), _dev(beta), _dev(threshold), surrogate_kind,
                surrogate_param, reset, _dev(gx), _dev(gs0), _dev(gm0), _dev(ga), _dev(gb),
                _dev(gt), stream)
    else:
        grad_cpu.synaptic_grad(
            _np(g), _np(gfs), _np(gfm), _np(mem_rec), _np(syn_rec), _np(spikes), _np(syn),
            _np(mem), _np(alpha), _np(beta), _np(threshold), surrogate_kind, surrogate_param,
            reset, _np(gx), _np(gs0), _np(gm0), _np(ga), _np(gb), _np(gt))
    return gx, gs0, gm0, ga.sum(0), gb.sum(0), gt.sum(0)


@_synaptic_grad_op.register_fake
def _(grad_spikes, grad_syn, grad_mem, mem_rec, syn_rec, spikes, syn, mem, alpha, beta,
      threshold, reset, surrogate_kind, surrogate_param):
    return (torch.empty_like(grad_spikes), torch.empty_like(syn), torch.empty_like(mem),
            torch.empty_like(alpha), torch.empty_like(beta), torch.empty_like(threshold))


def _synaptic_setup_context(ctx, inputs, output):
    x, alpha, beta, threshold, syn, mem, *cfg, record = inputs
    spikes, mem_rec, syn_rec, _, _ = output
    ctx.save_for_backward(mem_rec, syn_rec, spikes, syn, mem, alpha, beta, threshold)
    ctx.cfg = tuple(cfg)
    # no zero-filled [T, B, N] gradient for the records nobody uses (None reaches backward)
    ctx.set_materialize_grads(False)
    ctx.record = record


def _synaptic_backward(ctx, grad_spikes, grad_mem_rec, grad_syn_rec, grad_syn, grad_mem):
    if not ctx.record:
        raise RuntimeError("physnn::synaptic ran with record=False; its backward needs the "
                           "recorded states")
    mem_rec, syn_rec, spikes, syn, mem, alpha, beta, threshold = ctx.saved_tensors
    if grad_spikes is None:
        grad_spikes = torch.zeros_like(spikes)
    if grad_syn is None:
        grad_syn = torch.zeros_like(syn)
    if grad_mem is None:
        grad_mem = torch.zeros_like(mem)
    gx, gs0, gm0, ga, gb, gt = _synaptic_grad_op(grad_spikes, grad_syn, grad_mem, mem_rec,
                                                 syn_rec, spikes, syn, mem, alpha, beta,
                                                 threshold, *ctx.cfg)
    return gx, ga, gb, gt, gs0, gm0, None, None, None, None


_synaptic_op.register_autograd(_synaptic_backward, setup_context=_synaptic_setup_context)


# ----------------------------------------------------------------------------- validation


def _check_x(x: Any) -> Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if x.dtype not in _FLOATS:
        raise TypeError(f"x must be float32 or float64, got {x.dtype}; convert with x.float() "
                        "(float16 / bfloat16 / integer inputs are not computed)")
    if x.dim() < 2:
        raise ValueError(f"x must be time-major with shape (T, batch, *features), got shape "
                         f"{tuple(x.shape)}")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"x must have T >= 1 and batch >= 1, got shape {tuple(x.shape)}")
    return x.contiguous()  # one copy when x is not contiguous


def _flat_param(name: str, p: Tensor, x: Tensor) -> Tensor:
    """``p`` (any shape that broadcasts to x's feature shape) as ``[N]`` in x's dtype/device."""
    feat = x.shape[2:]
    try:
        full = p.to(device=x.device, dtype=x.dtype).expand(feat)
    except RuntimeError:
        raise ValueError(f"{name} must be a scalar or broadcast to the feature shape "
                         f"{tuple(feat)} of x, got shape {tuple(p.shape)}") from None
    return full.reshape(math.prod(feat))


def _as_tensor_param(name: str, value: Any, *, lo: float | None = None,
                     hi: float | None = None, dtype: torch.dtype = torch.float32) -> Tensor:
    """A parameter's initial value as a float tensor (``dtype`` unless given a float tensor)."""
    if isinstance(value, torch.Tensor):
        t = value.detach().clone()
        if t.dtype not in _FLOATS:
            t = t.to(torch.get_default_dtype())
    else:
        try:
            t = torch.as_tensor(np.asarray(value, dtype=np.float64), dtype=dtype)
        except (TypeError, ValueError):
            raise TypeError(f"{name} must be a number or a tensor of numbers, got "
                            f"{value!r}") from None
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if (lo is not None and bool((t < lo).any())) or (hi is not None and bool((t > hi).any())):
        raise ValueError(f"{name} must lie in [{lo}, {hi}], got {value!r}")
    return t


def _state_tensor(name: str, value: Any, x: Tensor) -> Tensor:
    """An initial state as ``[B, N]`` (zeros when None); checked against x."""
    T, B = x.shape[:2]
    want = (B, *x.shape[2:])
    if value is None:
        return x.new_zeros((B, math.prod(x.shape[2:])))
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (batch, *features) or None, "
                        f"got {type(value).__name__}")
    if tuple(value.shape) != want:
        raise ValueError(f"{name} must have shape (batch, *features) = {want}, got "
                         f"{tuple(value.shape)}")
    if value.dtype != x.dtype or value.device != x.device:
        raise TypeError(f"{name} must have x's dtype and device ({x.dtype}, {x.device}), got "
                        f"({value.dtype}, {value.device}); convert with "
                        f"{name.split('.')[0]}.to(x)")
    return value.reshape(B, math.prod(x.shape[2:]))


def _choice(name: str, value: Any, options: dict) -> int:
    if value not in options:
        raise ValueError(f"{name} must be one of {list(options)}, got {value!r}")
    return options[value]


def _needs_record(*tensors: Tensor) -> bool:
    return torch.is_grad_enabled() and any(t.requires_grad for t in tensors)


def _lif_apply(x: Tensor, state: Tensor | None, beta: Tensor, threshold: Tensor,
               sg: Surrogate, reset: int, conv: int, detach_reset: bool) -> tuple[Tensor, Tensor]:
    x = _check_x(x)
    T, B = x.shape[:2]
    N = math.prod(x.shape[2:])
    st = _state_tensor("state", state, x)
    beta = beta.clamp(0, 1)
    beta_n = _flat_param("beta", beta, x)
    # tau from beta as given (a Python float: float64), rounded once to x's dtype, as
    # physnn.lif and SpikingJelly derive it (not from beta_n, already rounded to x's dtype)
    tau_n = _flat_param("tau", spikingjelly_tau(beta.detach(), x.dtype), x)
    thr_n = _flat_param("threshold", threshold, x)
    record = _needs_record(x, st, beta_n, thr_n)
    spikes, _, st_out = _lif_op(x.reshape(T, B, N), beta_n, tau_n, thr_n, st, reset, conv,
                                sg.kind, sg.param, detach_reset, record)
    return spikes.reshape(x.shape), st_out.reshape(x.shape[1:])


# ----------------------------------------------------------------------------- modules


class LIF(nn.Module):
    r"""Leaky integrate-and-fire population over a whole time-major sequence, forward and
    backward in one kernel each (CPU: ``numba.njit``; CUDA: ``numba.cuda``).

    ``convention="snntorch"`` (default) is snntorch ``Leaky`` (``reset_delay=True``), whose
    reset :math:`r_t` is detached from the graph:

    .. math::

        r_t = H(u_{t-1} - \vartheta),\quad
        u_t = \beta u_{t-1} + x_t - r_t\,\vartheta,\quad
        s_t = H(u_t - \vartheta)

    (``reset="zero"``: :math:`u_t = \beta (1 - r_t) u_{t-1} + x_t`; ``"none"``: no reset
    term). The returned state is :math:`u_{T-1}`.

    ``convention="spikingjelly"`` is SpikingJelly ``LIFNode(tau, decay_input=False,
    v_reset=None)`` with :math:`\tau = 1/(1-\beta)` (the LIF of SLTT):

    .. math::

        h_t = v_{t-1} - v_{t-1}/\tau + x_t,\quad s_t = H(h_t - \vartheta)\ (h_t \ge
        \vartheta),\quad v_t = h_t - s_t\,\vartheta

    (``reset="zero"``: :math:`v_t = h_t (1 - s_t)`), the reset kept in the graph unless
    ``detach_reset``. The returned state is :math:`v_{T-1}`.

    The backward pass replaces :math:`H'` by the surrogate :math:`\sigma'`
    (:mod:`physnn.surrogate`) and gives the exact gradient of this graph with respect to
    ``x``, the initial state, ``beta`` and ``threshold``; for the snntorch convention, e.g.,
    with :math:`\delta_t = \partial L/\partial u_t = \partial L/\partial x_t`,

    .. math::

        \delta_t = g_t\,\sigma'(u_t - \vartheta) + \beta (1 - r_{t+1}[\text{zero}])\,
        \delta_{t+1},\quad
        \frac{\partial L}{\partial \beta} = \sum_t \delta_t (1 - r_t[\text{zero}])\,u_{t-1},
        \quad
        \frac{\partial L}{\partial \vartheta} = -\sum_t \left(g_t\,\sigma'(u_t - \vartheta)
        + r_t\,\delta_t\,[\text{subtract}]\right)

    with :math:`g_t = \partial L/\partial s_t` (summed over the batch for the parameters).

    Parameters
    ----------
    beta : float or tensor
        Membrane decay per step :math:`\beta = e^{-\Delta t/\tau_{mem}}`, in [0, 1]
        (dimensionless); a scalar or a tensor broadcastable to the feature shape (per
        neuron). Clamped to [0, 1] in every forward pass, as snntorch does, so that a learned
        value stays a decay.
    threshold : float or tensor
        Firing threshold :math:`\vartheta` (the unit of ``x``), scalar or per neuron.
    learn_beta, learn_threshold : bool
        Make the parameter an ``nn.Parameter`` (else a buffer). Either way it follows
        ``module.to(...)``; in the forward pass it is cast to ``x``'s dtype and device.
    surrogate : str or Surrogate
        Surrogate derivative of the spike (:func:`physnn.surrogate.get_surrogate`); the
        default ``"atan"`` (alpha = 2) is snntorch's default.
    reset : {"subtract", "zero", "none"}
    convention : {"snntorch", "spikingjelly"}
    detach_reset : bool
        SpikingJelly convention only: drop the gradient through the reset (the snntorch
        convention always detaches it, as snntorch does).

    Notes
    -----
    ``forward(x, state=None) -> (spikes, state)``: ``x`` float32 or float64, shape
    ``(T, batch, *features)``, on the CPU or a CUDA device (a non-contiguous ``x`` is copied
    once); ``state`` the membrane ``(batch, *features)`` in ``x``'s dtype (a
    :class:`physnn.LIFState` is accepted too), zeros when None; ``spikes`` has ``x``'s shape
    and dtype (0. or 1.), the returned ``state`` shape ``(batch, *features)``. Pass the state
    back in to continue (gradients flow through it too).

    Parameters given as numbers are stored as float32 (as snntorch does); ``module.double()``
    (or float64 tensors) keeps them in float64. One exception: with
    ``convention="spikingjelly"`` a fixed ``beta`` given as a number is kept in float64, as
    SpikingJelly keeps its Python float ``tau``: ``tau = 1 / (1 - beta)`` is derived from it
    in float64 and rounded once to ``x``'s dtype (:func:`physnn.spiking.spikingjelly_tau`,
    the rule of :func:`physnn.lif`), so ``LIF(0.9, convention="spikingjelly")`` runs with
    ``tau = 10.0`` exactly, where float32 ``beta`` would give 9.999998. ``tau`` always comes
    from ``beta`` as stored, before the cast to ``x``'s dtype. The surrogate constants are
    those of ``x``'s precision (the atan surrogate's :math:`\pi/2` is exact in float64).
    Without grad mode (or nothing requiring grad) the
    membrane is not recorded. An input with NaN or inf raises ``ValueError`` (on CUDA that
    check waits for the forward kernel).

    Examples
    --------
    >>> import torch
    >>> from physnn.torch_ops import LIF
    >>> lif = LIF(beta=0.9, learn_beta=True)
    >>> x = torch.full((100, 1, 1), 0.3, requires_grad=True)
    >>> spikes, state = lif(x)
    >>> int(spikes.sum())
    23
    >>> spikes.sum().backward()
    >>> lif.beta.grad is not None
    True
    """

    def __init__(
        self,
        beta: float | Tensor,
        threshold: float | Tensor = 1.0,
        *,
        learn_beta: bool = False,
        learn_threshold: bool = False,
        surrogate: str | Surrogate = "atan",
        reset: str = "subtract",
        convention: str = "snntorch",
        detach_reset: bool = False,
    ) -> None:
        super().__init__()
        self.surrogate = get_surrogate(surrogate)
        self.reset = reset
        self.convention = convention
        self._reset = _choice("reset", reset, _RESETS)
        self._conv = _choice("convention", convention, _CONVENTIONS)
        self.detach_reset = bool(detach_reset)
        # a fixed spikingjelly beta keeps a number's double precision (tau derives from it)
        exact = convention == "spikingjelly" and not learn_beta
        b = _as_tensor_param("beta", beta, lo=0.0, hi=1.0,
                             dtype=torch.float64 if exact else torch.float32)
        t = _as_tensor_param("threshold", threshold)
        if learn_beta:
            self.beta = nn.Parameter(b)
        else:
            self.register_buffer("beta", b)
        if learn_threshold:
            self.threshold = nn.Parameter(t)
        else:
            self.register_buffer("threshold", t)

    def forward(self, x: Tensor, state: Tensor | LIFState | None = None
                ) -> tuple[Tensor, Tensor]:
        """Run ``x[T, batch, *features]`` from ``state``; returns ``(spikes, state)``."""
        if isinstance(state, LIFState):
            state = state.membrane
        return _lif_apply(x, state, self.beta, self.threshold, self.surrogate, self._reset,
                          self._conv, self.detach_reset)

    def extra_repr(self) -> str:
        return (f"surrogate={self.surrogate.name}({self.surrogate.param:g}), "
                f"reset={self.reset!r}, convention={self.convention!r}"
                + (", detach_reset=True" if self.detach_reset else ""))


class Synaptic(nn.Module):
    r"""Second-order (synaptic-current) LIF population, snntorch ``Synaptic``
    (``reset_delay=True``, reset detached), forward and backward in one kernel each.

    .. math::

        r_t = H(u_{t-1} - \vartheta),\quad I_t = \alpha I_{t-1} + x_t,\quad
        u_t = \beta u_{t-1} + I_t - r_t\,\vartheta,\quad s_t = H(u_t - \vartheta)

    (``reset="zero"``: :math:`u_t = (1 - r_t)(\beta u_{t-1} + I_t)`; ``"none"``: no reset).
    The backward pass (surrogate :math:`\sigma'` for :math:`H'`) gives the exact gradient of
    this graph with respect to ``x``, the initial ``(syn, mem)``, ``alpha``, ``beta`` and
    ``threshold``: with :math:`\mu_t = \partial L/\partial u_t` and :math:`\iota_t =
    \partial L/\partial I_t = \partial L/\partial x_t`,

    .. math::

        \mu_t = g_t\,\sigma'(u_t - \vartheta) + \beta (1 - r_{t+1}[\text{zero}])\,\mu_{t+1},
        \quad \iota_t = (1 - r_t[\text{zero}])\,\mu_t + \alpha\,\iota_{t+1},\quad
        \frac{\partial L}{\partial \alpha} = \sum_t \iota_t I_{t-1}

    Parameters
    ----------
    alpha : float or tensor
        Synaptic-current decay per step :math:`e^{-\Delta t/\tau_{syn}}`, in [0, 1];
        scalar or broadcastable to the feature shape; clamped to [0, 1] in the forward pass.
    beta : float or tensor
        Membrane decay per step, in [0, 1]; as ``alpha``.
    threshold : float or tensor
        Firing threshold (the unit of ``x``).
    learn_alpha, learn_beta, learn_threshold : bool
        ``nn.Parameter`` when True, else a buffer.
    surrogate : str or Surrogate
    reset : {"subtract", "zero", "none"}

    Notes
    -----
    ``forward(x, state=None) -> (spikes, SynapticState(syn, mem))``: as :class:`LIF`, with
    ``state`` a ``(syn, mem)`` pair (a tuple or :class:`physnn.SynapticState`) of tensors
    ``(batch, *features)``.
    """

    def __init__(
        self,
        alpha: float | Tensor,
        beta: float | Tensor,
        threshold: float | Tensor = 1.0,
        *,
        learn_alpha: bool = False,
        learn_beta: bool = False,
        learn_threshold: bool = False,
        surrogate: str | Surrogate = "atan",
        reset: str = "subtract",
    ) -> None:
        super().__init__()
        self.surrogate = get_surrogate(surrogate)
        self.reset = reset
        self._reset = _choice("reset", reset, _RESETS)
        for name, value, learn, bounds in (("alpha", alpha, learn_alpha, (0.0, 1.0)),
                                           ("beta", beta, learn_beta, (0.0, 1.0)),
                                           ("threshold", threshold, learn_threshold,
                                            (None, None))):
            t = _as_tensor_param(name, value, lo=bounds[0], hi=bounds[1])
            if learn:
                setattr(self, name, nn.Parameter(t))
            else:
                self.register_buffer(name, t)

    def forward(self, x: Tensor, state: tuple[Tensor, Tensor] | SynapticState | None = None
                ) -> tuple[Tensor, SynapticState]:
        """Run ``x[T, batch, *features]`` from ``state = (syn, mem)``; returns
        ``(spikes, SynapticState(syn, mem))``."""
        x = _check_x(x)
        if state is None:
            syn = mem = None
        elif isinstance(state, tuple) and len(state) == 2:
            syn, mem = state
        else:
            raise TypeError(f"state must be a (syn, mem) pair or None, got "
                            f"{type(state).__name__}")
        T, B = x.shape[:2]
        N = math.prod(x.shape[2:])
        sy = _state_tensor("state.syn", syn, x)
        me = _state_tensor("state.mem", mem, x)
        a_n = _flat_param("alpha", self.alpha.clamp(0, 1), x)
        b_n = _flat_param("beta", self.beta.clamp(0, 1), x)
        t_n = _flat_param("threshold", self.threshold, x)
        record = _needs_record(x, sy, me, a_n, b_n, t_n)
        spikes, _, _, sy_out, me_out = _synaptic_op(
            x.reshape(T, B, N), a_n, b_n, t_n, sy, me, self._reset, self.surrogate.kind,
            self.surrogate.param, record)
        feat = x.shape[1:]
        return spikes.reshape(x.shape), SynapticState(sy_out.reshape(feat), me_out.reshape(feat))

    def extra_repr(self) -> str:
        return f"surrogate={self.surrogate.name}({self.surrogate.param:g}), reset={self.reset!r}"


# ----------------------------------------------------------------------------- function


def lif_spikes(
    x: Tensor,
    *,
    beta: float | Tensor,
    threshold: float | Tensor = 1.0,
    surrogate: str | Surrogate = "atan",
    reset: str = "subtract",
    convention: str = "snntorch",
    detach_reset: bool = False,
    state: Tensor | None = None,
) -> Tensor:
    r"""Differentiable LIF spikes, the functional form of :class:`LIF` (same equations,
    kernels and gradients); returns the spikes only.

    Parameters
    ----------
    x : torch.Tensor, float32 or float64, shape (T, batch, *features), CPU or CUDA
        Input current per step.
    beta, threshold : float or tensor
        As in :class:`LIF`. A Python number is checked (``beta`` in [0, 1], ``threshold`` >
        0); a tensor is used as it is (``beta`` clamped to [0, 1]) and receives a gradient
        when it requires one.
    surrogate, reset, convention, detach_reset
        As in :class:`LIF`.
    state : torch.Tensor, optional
        Initial membrane ``(batch, *features)``; zeros when omitted.

    Returns
    -------
    torch.Tensor, same shape, dtype and device as ``x`` (0. or 1.)
    """
    if not isinstance(beta, torch.Tensor):
        beta = _as_tensor_param("beta", beta, lo=0.0, hi=1.0, dtype=torch.float64)
    if not isinstance(threshold, torch.Tensor):
        threshold = _as_tensor_param("threshold", threshold, dtype=torch.float64)
        if not bool((threshold > 0).all()):
            raise ValueError(f"threshold must be > 0, got {threshold.tolist()}")
    sg = get_surrogate(surrogate)
    spikes, _ = _lif_apply(x, state, beta, threshold, sg, _choice("reset", reset, _RESETS),
                           _choice("convention", convention, _CONVENTIONS), bool(detach_reset))
    return spikes

