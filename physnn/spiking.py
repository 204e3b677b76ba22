"""Spiking neurons of the LIF family as fast black-box forward layers, with the backward
kernels that surrogate-gradient training (BPTT, SLTT) uses.

All functions take time-major input ``x[T, batch, *features]`` (float32 by default, float64
accepted), run the whole time loop in one compiled kernel (``numba.njit`` on the CPU,
``numba.cuda`` on the GPU) and return spikes as ``uint8`` (default) or ``float32``. State goes
in and comes out, so a long simulation can run in chunks with identical spikes.

Array arguments are NumPy arrays or anything with ``__array__`` on the host (a CPU
``torch.Tensor`` is viewed without a copy), or anything with ``__cuda_array_interface__`` on
the GPU (CuPy, numba device arrays, a CUDA ``torch.Tensor``); a tensor that requires grad must
be detached first (:mod:`physnn.torch_ops` has the differentiable PyTorch layers).

Units: time is counted in steps of the simulation; ``beta = exp(-dt / tau_mem)`` is the
per-step membrane decay (dimensionless, in [0, 1]); currents, membranes and thresholds share
one arbitrary unit.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .backends import resolve_backend
from .kernels import lif_update as _U
from .surrogate import Surrogate, get_surrogate

__all__ = ["LIFState", "SynapticState", "ALIFState", "lif", "synaptic", "alif",
           "lif_backward", "sltt_backward"]

_RESETS = {"subtract": _U.RESET_SUBTRACT, "zero": _U.RESET_ZERO, "none": _U.RESET_NONE}
_CONVENTIONS = {"snntorch": _U.CONV_SNNTORCH, "spikingjelly": _U.CONV_SPIKINGJELLY}
_SPIKE_DTYPES = (np.dtype(np.uint8), np.dtype(np.float32))


class LIFState(NamedTuple):
    """State of a LIF population: ``membrane[batch, *features]``.

    In the snntorch convention this is the membrane ``u`` (its reset is applied at the next
    step); in the SpikingJelly convention it is the post-reset voltage ``v``.
    """

    membrane: Any


class SynapticState(NamedTuple):
    """State of a synaptic (second-order) LIF population: ``syn`` and ``mem``,
    each ``[batch, *features]``."""

    syn: Any
    mem: Any


class ALIFState(NamedTuple):
    """State of an adaptive LIF population: voltage ``v`` and adaptation ``a``,
    each ``[batch, *features]``."""

    v: Any
    a: Any


# ----------------------------------------------------------------------------- validation


def _is_device_array(x: Any) -> bool:
    # numba device arrays (and the CUDA simulator's) say __cuda_ndarray__; CuPy / PyTorch
    # CUDA tensors expose __cuda_array_interface__ (a PyTorch tensor that requires grad
    # raises RuntimeError there: _refuse_grad names it first)
    try:
        return (bool(getattr(x, "__cuda_ndarray__", False))
                or hasattr(x, "__cuda_array_interface__"))
    except RuntimeError:
        return False


def _refuse_grad(name: str, x: Any) -> None:
    """A PyTorch tensor that requires grad cannot be viewed as an array (its ``__array__`` and
    ``__cuda_array_interface__`` raise): say so, and what to do, naming the argument."""
    if getattr(x, "requires_grad", False) is True and hasattr(x, "detach"):
        raise TypeError(
            f"{name} is a tensor that requires grad; pass {name}.detach() (the physnn array "
            "functions do not track gradients: physnn.torch_ops.LIF / Synaptic are the "
            "differentiable PyTorch layers)"
        )


def _host_array(name: str, x: Any) -> np.ndarray:
    """View ``x`` as a NumPy array without copying where it allows: an ndarray as it is,
    anything with ``__array__`` (PyTorch CPU tensors, xarray, ...) through ``np.asarray``.
    Anything else (a list, a scalar) is refused with the conversion to make."""
    if isinstance(x, np.ndarray):
        return x
    _refuse_grad(name, x)
    if not hasattr(type(x), "__array__"):
        raise TypeError(
            f"{name} must be array-like: a numpy.ndarray, an object with __array__ (e.g. a CPU "
            "torch.Tensor) or a CUDA array with __cuda_array_interface__ (CuPy, numba, CUDA "
            f"torch.Tensor); got {type(x).__name__}. Convert with np.asarray({name}, "
            f"dtype=np.float32) (or {name}.numpy() / .detach().cpu().numpy() for a tensor)"
        )
    return np.asarray(x)


def _as_device(x: Any) -> Any:
    """View a CUDA array as a numba device array, without copying."""
    if getattr(x, "__cuda_ndarray__", False):
        return x
    from numba import cuda

    return cuda.as_cuda_array(x)


class _Input(NamedTuple):
    x: Any  # ndarray [T, B, N] (host) or numba device array [T, B, N]
    shape: tuple
    dtype: np.dtype
    device: bool  # the caller passed a CUDA array
    backend: str


def _check_input(x: Any, name: str, backend: str) -> _Input:
    """Validate a time-major array and view it as ``[T, B, N]``.

    Host input: a NumPy array or anything with ``__array__`` (viewed with ``np.asarray``, no
    copy for a CPU torch.Tensor); device input: anything with ``__cuda_array_interface__``.
    """
    _refuse_grad(name, x)
    device = _is_device_array(x)
    if device:
        arr = _as_device(x)
        contiguous = arr.is_c_contiguous()
    else:
        arr = _host_array(name, x)
        contiguous = arr.flags.c_contiguous
    if arr.dtype not in (np.float32, np.float64):
        raise TypeError(
            f"{name} must be float32 (or float64), got dtype {arr.dtype}; "
            f"convert with {name}.astype(np.float32)"
        )
    if arr.ndim < 2:
        raise ValueError(
            f"{name} must be time-major with shape (T, batch, *features), got shape {arr.shape}"
        )
    if not contiguous:
        raise ValueError(
            f"{name} must be C-contiguous; pass np.ascontiguousarray({name}) (or .contiguous())"
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} must have T >= 1 and batch >= 1, got shape {arr.shape}")
    backend = "cuda" if (device and backend == "auto") else resolve_backend(backend)
    if device and backend != "cuda":
        raise ValueError(f"{name} lives on a CUDA device but backend={backend!r}; use 'cuda'")
    T, B = arr.shape[:2]
    N = int(np.prod(arr.shape[2:], dtype=np.int64))
    shape = tuple(arr.shape)
    if backend == "cuda" and not device:
        from numba import cuda

        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} contains NaN or infinite values")
        arr = cuda.to_device(arr)  # host in, host out: one copy each way
    return _Input(arr.reshape(T, B, N), shape, np.dtype(arr.dtype), device, backend)


def _param(name: str, value: Any, inp: _Input, *, lo: float | None = None,
           hi: float | None = None, positive: bool = False) -> np.ndarray:
    """A scalar or per-neuron parameter as a contiguous ``[N]`` host array."""
    feat = inp.shape[2:]
    N = inp.x.shape[2]
    _refuse_grad(name, value)
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number or an array of numbers, got {value!r}") from None
    if arr.ndim == 0:
        arr = np.full(N, float(arr))
    elif arr.shape == feat or arr.shape == (N,):
        arr = arr.reshape(N)
    else:
        raise ValueError(
            f"{name} must be a scalar or have the feature shape {feat} of x, got shape {arr.shape}"
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if lo is not None and np.any(arr < lo) or hi is not None and np.any(arr > hi):
        raise ValueError(f"{name} must lie in [{lo}, {hi}], got values in "
                         f"[{arr.min()}, {arr.max()}]")
    if positive and np.any(arr <= 0):
        raise ValueError(f"{name} must be > 0, got minimum {arr.min()}")
    return np.ascontiguousarray(arr, dtype=inp.dtype)


def _choice(name: str, value: Any, options: dict) -> int:
    if value not in options:
        raise ValueError(f"{name} must be one of {list(options)}, got {value!r}")
    return options[value]


def _spike_dtype(spike_dtype: Any) -> np.dtype:
    dt = np.dtype(spike_dtype)
    if dt not in _SPIKE_DTYPES:
        raise TypeError(f"spike_dtype must be uint8 or float32, got {dt}")
    return dt


def _state_array(name: str, value: Any, inp: _Input) -> Any:
    """A copy of one state field as ``[B, N]`` (zeros when ``value`` is None)."""
    B, N = inp.x.shape[1:]
    want = (inp.shape[1],) + inp.shape[2:]
    _refuse_grad(name, value)
    if inp.backend == "cuda":
        from .kernels import lif_cuda

        return lif_cuda.state_copy(name, value, want, (B, N), inp.dtype)
    if value is None:
        return np.zeros((B, N), dtype=inp.dtype)
    arr = np.asarray(value)
    if arr.shape != want:
        raise ValueError(f"{name} must have shape (batch, *features) = {want}, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return np.array(arr, dtype=inp.dtype, order="C").reshape(B, N)


def _raise_if_bad(bad: np.ndarray, name: str) -> None:
    if np.any(bad):
        rows = np.flatnonzero(bad)
        raise ValueError(
            f"{name} contains NaN or infinite values (batch rows {rows[:5].tolist()}"
            f"{' ...' if rows.size > 5 else ''}); spiking inputs must be finite"
        )


def _drivers(inp: _Input):
    """The kernel module of the input's backend (CUDA imported only when used)."""
    if inp.backend == "cuda":
        from .kernels import lif_cuda

        return lif_cuda
    from .kernels import lif_cpu

    return lif_cpu


def _outputs(inp: _Input, spike_dtype: np.dtype, record: bool) -> tuple[Any, Any]:
    T, B, N = inp.x.shape
    if inp.backend == "cuda":
        from .kernels import lif_cuda

        return lif_cuda.alloc_outputs((T, B, N), spike_dtype, inp.dtype, record)
    spikes = np.empty((T, B, N), dtype=spike_dtype)
    membrane = np.empty((T, B, N) if record else (0, 0, 0), dtype=inp.dtype)
    return spikes, membrane


def _shape_back(inp: _Input, arr: Any, time_major: bool = True) -> Any:
    """Give an output the caller's shape, back on the host when the caller passed host data."""
    shape = inp.shape if time_major else inp.shape[1:]
    if inp.backend == "cuda" and not inp.device:
        arr = arr.copy_to_host()
    return arr.reshape(shape)


def _finish(inp: _Input, spikes, membrane, record, state_fields, state_cls, bad):
    if inp.backend == "cuda":
        bad = bad.copy_to_host()
    _raise_if_bad(bad, "x")
    state = state_cls(*(_shape_back(inp, s, time_major=False) for s in state_fields))
    spikes = _shape_back(inp, spikes)
    if record:
        return spikes, state, _shape_back(inp, membrane)
    return spikes, state


# ----------------------------------------------------------------------------- forward


def lif(
    x: Any,
    *,
    beta: float | np.ndarray,
    threshold: float | np.ndarray = 1.0,
    reset: str = "subtract",
    convention: str = "snntorch",
    state: LIFState | None = None,
    backend: str = "auto",
    spike_dtype: Any = np.uint8,
    record_membrane: bool = False,
) -> tuple:
    r"""Simulate a leaky integrate-and-fire population over ``T`` steps.

    ``convention="snntorch"`` reproduces snntorch ``Leaky`` (default ``reset_delay=True``):

    .. math::

        u_t = \beta u_{t-1} + x_t - r_t\,\vartheta,\quad r_t = H(u_{t-1} - \vartheta),\quad
        s_t = H(u_t - \vartheta)\ \ (\text{fires when } u_t > \vartheta)

    (``reset="zero"``: :math:`u_t = \beta (1 - r_t) u_{t-1} + x_t`; ``"none"``: no reset).

    ``convention="spikingjelly"`` reproduces SpikingJelly
    ``LIFNode(tau, decay_input=False, v_reset=None)`` with :math:`\tau = 1 / (1 - \beta)`,
    which is also the LIF of SLTT (Meng et al., ICCV 2023):

    .. math::

        h_t = v_{t-1} - v_{t-1}/\tau + x_t,\quad s_t = H(h_t - \vartheta)\ (h_t \ge
        \vartheta),\quad v_t = h_t - s_t \vartheta

    (``reset="zero"``: :math:`v_t = h_t (1 - s_t)`).

    Parameters
    ----------
    x : array, shape (T, batch, *features), float32 or float64, C-contiguous
        Input current per step. A NumPy array or anything with ``__array__`` (a CPU
        ``torch.Tensor``, viewed without a copy; outputs are then NumPy arrays), or a CUDA
        array (numba, CuPy, PyTorch: anything with ``__cuda_array_interface__``; outputs are
        numba device arrays) for ``backend="cuda"``. A tensor that requires grad is refused
        (pass ``x.detach()``; :mod:`physnn.torch_ops` has the differentiable layers); so is
        anything else, such as a list (convert with ``np.asarray``).
    beta : float or array of shape ``features``
        Membrane decay per step, in [0, 1].
    threshold : float or array of shape ``features``
        Firing threshold :math:`\vartheta > 0`.
    reset : {"subtract", "zero", "none"}
    convention : {"snntorch", "spikingjelly"}
    state : LIFState, optional
        Initial state (``membrane`` of shape ``(batch, *features)``); zeros when omitted.
    backend : {"auto", "cpu", "cuda"}
        ``"auto"`` runs CUDA arrays on the GPU and host arrays on CUDA when a device is
        usable, else on the CPU.
    spike_dtype : {numpy.uint8, numpy.float32}
    record_membrane : bool
        Also return the membrane of every step (snntorch: :math:`u_t`; SpikingJelly: the
        pre-reset :math:`h_t`, the value compared with the threshold).

    Returns
    -------
    spikes : array, shape (T, batch, *features), ``spike_dtype``
    state : LIFState
        The state after the last step; pass it back in to continue the simulation.
    membrane : array, shape (T, batch, *features), only when ``record_membrane``

    Examples
    --------
    >>> import numpy as np, physnn as pn
    >>> x = np.full((100, 1, 1), 0.3, dtype=np.float32)
    >>> spikes, state = pn.lif(x, beta=0.9, threshold=1.0, backend="cpu")
    >>> int(spikes.sum())
    23
    """
    inp = _check_input(x, "x", backend)
    beta_a = _param("beta", beta, inp, lo=0.0, hi=1.0)
    thr_a = _param("threshold", threshold, inp, positive=True)
    reset_c = _choice("reset", reset, _RESETS)
    conv_c = _choice("convention", convention, _CONVENTIONS)
    sdt = _spike_dtype(spike_dtype)
    if state is not None and not isinstance(state, LIFState):
        raise TypeError(f"state must be a physnn.LIFState or None, got {type(state).__name__}")
    st = _state_array("state.membrane", None if state is None else state.membrane, inp)
    with np.errstate(divide="ignore"):
        tau_a = (1.0 / (1.0 - beta_a.astype(np.float64))).astype(inp.dtype)
    spikes, membrane = _outputs(inp, sdt, record_membrane)
    bad = _drivers(inp).lif_forward(inp.x, beta_a, tau_a, thr_a, st, reset_c, conv_c, spikes,
                                    membrane, record_membrane)
    return _finish(inp, spikes, membrane, record_membrane, (st,), LIFState, bad)


def synaptic(
    x: Any,
    *,
    alpha: float | np.ndarray,
    beta: float | np.ndarray,
    threshold: float | np.ndarray = 1.0,
    reset: str = "subtract",
    state: SynapticState | None = None,
    backend: str = "auto",
    spike_dtype: Any = np.uint8,
    record_membrane: bool = False,
) -> tuple:
    r"""Simulate a second-order (synaptic-current) LIF population, as snntorch ``Synaptic``.

    .. math::

        I_t = \alpha I_{t-1} + x_t,\quad u_t = \beta u_{t-1} + I_t - r_t \vartheta,\quad
        r_t = H(u_{t-1} - \vartheta),\quad s_t = H(u_t - \vartheta)

    (``reset="zero"``: :math:`u_t = (1 - r_t)(\beta u_{t-1} + I_t)`).

    Parameters
    ----------
    x : array, shape (T, batch, *features)
        Input current per step (see :func:`lif`).
    alpha, beta : float or array of shape ``features``
        Synaptic-current and membrane decay per step, each in [0, 1].
    threshold, reset, backend, spike_dtype, record_membrane
        As in :func:`lif`.
    state : SynapticState, optional

    Returns
    -------
    spikes, state (SynapticState)[, membrane]
    """
    inp = _check_input(x, "x", backend)
    alpha_a = _param("alpha", alpha, inp, lo=0.0, hi=1.0)
    beta_a = _param("beta", beta, inp, lo=0.0, hi=1.0)
    thr_a = _param("threshold", threshold, inp, positive=True)
    reset_c = _choice("reset", reset, _RESETS)
    sdt = _spike_dtype(spike_dtype)
    if state is not None and not isinstance(state, SynapticState):
        raise TypeError(f"state must be a physnn.SynapticState or None, got {type(state).__name__}")
    syn = _state_array("state.syn", None if state is None else state.syn, inp)
    mem = _state_array("state.mem", None if state is None else state.mem, inp)
    spikes, membrane = _outputs(inp, sdt, record_membrane)
    bad = _drivers(inp).synaptic_forward(inp.x, alpha_a, beta_a, thr_a, syn, mem, reset_c, spikes,
                               membrane, record_membrane)
    return _finish(inp, spikes, membrane, record_membrane, (syn, mem), SynapticState, bad)


def alif(
    x: Any,
    *,
    beta: float | np.ndarray,
    threshold: float | np.ndarray = 1.0,
    gamma: float | np.ndarray = 0.2,
    rho: float | np.ndarray = 0.95,
    reset: str = "subtract",
    state: ALIFState | None = None,
    backend: str = "auto",
    spike_dtype: Any = np.uint8,
    record_membrane: bool = False,
) -> tuple:
    r"""Simulate an adaptive LIF population (spike-triggered threshold adaptation, as in the
    LSNN of Bellec et al., NeurIPS 2018).

    .. math::

        h_t = \beta v_{t-1} + x_t,\quad \theta_t = \vartheta + \gamma a_{t-1},\quad
        s_t = H(h_t - \theta_t),\quad v_t = h_t - s_t \theta_t,\quad a_t = \rho a_{t-1} + s_t

    With ``gamma = 0`` this is :func:`lif` in the SpikingJelly convention (up to rounding of
    the decay).

    Parameters
    ----------
    beta : float or array
        Membrane decay per step, in [0, 1].
    threshold : float or array
        Baseline threshold :math:`\vartheta > 0`.
    gamma : float or array
        Threshold increase per unit of adaptation, >= 0.
    rho : float or array
        Decay per step of the adaptation variable, in [0, 1].
    x, reset, backend, spike_dtype, record_membrane
        As in :func:`lif`; the recorded membrane is :math:`h_t`.
    state : ALIFState, optional

    Returns
    -------
    spikes, state (ALIFState)[, membrane]
    """
    inp = _check_input(x, "x", backend)
    beta_a = _param("beta", beta, inp, lo=0.0, hi=1.0)
    thr_a = _param("threshold", threshold, inp, positive=True)
    gamma_a = _param("gamma", gamma, inp, lo=0.0)
    rho_a = _param("rho", rho, inp, lo=0.0, hi=1.0)
    reset_c = _choice("reset", reset, _RESETS)
    sdt = _spike_dtype(spike_dtype)
    if state is not None and not isinstance(state, ALIFState):
        raise TypeError(f"state must be a physnn.ALIFState or None, got {type(state).__name__}")
    v = _state_array("state.v", None if state is None else state.v, inp)
    a = _state_array("state.a", None if state is None else state.a, inp)
    spikes, membrane = _outputs(inp, sdt, record_membrane)
    bad = _drivers(inp).alif_forward(inp.x, beta_a, thr_a, gamma_a, rho_a, v, a, reset_c, spikes,
                           membrane, record_membrane)
    return _finish(inp, spikes, membrane, record_membrane, (v, a), ALIFState, bad)


# ----------------------------------------------------------------------------- backward


def lif_backward(
    grad_spikes: Any,
    membrane: Any,
    spikes: Any,
    *,
    beta: float | np.ndarray,
    threshold: float | np.ndarray = 1.0,
    surrogate: str | Surrogate = "atan",
    reset: str = "subtract",
    convention: str = "snntorch",
    detach_reset: bool = False,
    state: LIFState | None = None,
    backend: str = "auto",
) -> tuple[Any, Any]:
    r"""Backpropagation through time of :func:`lif`: gradients of a loss with respect to the
    input currents and the initial state, given dL/ds for every step.

    snntorch convention (its reset is detached, as in snntorch):

    .. math::

        \delta_t = g_t\,\sigma'(u_t - \vartheta) + \beta\,\delta_{t+1}\,(1 - s_t\,[\text{zero}])

    SpikingJelly convention (the reset path is kept unless ``detach_reset``):

    .. math::

        \delta_t = g_t\,\sigma'(h_t - \vartheta) + \beta\,\delta_{t+1}\,\partial v_t/\partial
        h_t,\quad \partial v_t/\partial h_t = 1 - \vartheta\,\sigma'(h_t - \vartheta)
        \ \text{(subtract)},\ (1 - s_t) - h_t\,\sigma'\ \text{(zero)},\ 1\ \text{(none)}

    and :math:`\partial L/\partial x_t = \delta_t`.

    Parameters
    ----------
    grad_spikes : array, shape (T, batch, *features)
        dL/ds for every step, same float dtype as ``membrane``.
    membrane : array, shape (T, batch, *features)
        The membrane recorded by :func:`lif` (``record_membrane=True``).
    spikes : array, shape (T, batch, *features)
        The spikes returned by :func:`lif` (uint8 or float).
    beta, threshold, reset, convention
        As used in the forward pass.
    surrogate : str or Surrogate
        See :mod:`physnn.surrogate`.
    detach_reset : bool
        SpikingJelly convention only: drop the gradient through the reset.
    state : LIFState, optional
        The initial state the forward pass started from (zeros when omitted); needed for the
        gradient with respect to it.
    backend : {"auto", "cpu", "cuda"}

    Returns
    -------
    grad_x : array, shape (T, batch, *features)
    grad_state : LIFState
        Gradient with respect to the initial state.
    """
    inp = _check_input(grad_spikes, "grad_spikes", backend)
    mem_inp = _check_input(membrane, "membrane", inp.backend)
    if mem_inp.shape != inp.shape or mem_inp.dtype != inp.dtype:
        raise ValueError(
            f"membrane must match grad_spikes in shape and dtype: {mem_inp.shape}/{mem_inp.dtype}"
            f" vs {inp.shape}/{inp.dtype}"
        )
    spk = _spikes_view(spikes, inp)
    beta_a = _param("beta", beta, inp, lo=0.0, hi=1.0)
    thr_a = _param("threshold", threshold, inp, positive=True)
    sg = get_surrogate(surrogate)
    reset_c = _choice("reset", reset, _RESETS)
    conv_c = _choice("convention", convention, _CONVENTIONS)
    st0 = _state_array("state.membrane", None if state is None else state.membrane, inp)
    carry = _state_array("carry", None, inp)
    p = inp.dtype.type(sg.param)
    drv = _drivers(inp)
    grad_x = drv.empty_like(inp.x) if inp.backend == "cuda" else np.empty_like(inp.x)
    drv.lif_bptt(inp.x, mem_inp.x, spk, beta_a, thr_a, sg.kind, p, reset_c, conv_c,
                 bool(detach_reset), grad_x, carry)
    if conv_c == _U.CONV_SNNTORCH:
        # carry is delta[0]; u[0] depends on u[-1] through beta (1 - r[0] [zero reset])
        carry = _snntorch_state_grad(carry, st0, beta_a, thr_a, reset_c, inp)
    return _shape_back(inp, grad_x), LIFState(_shape_back(inp, carry, time_major=False))


def _snntorch_state_grad(delta0, u0, beta, thr, reset_c, inp):
    if inp.backend == "cuda":
        delta0, u0 = delta0.copy_to_host(), u0.copy_to_host()
    g = delta0 * beta
    if reset_c == _U.RESET_ZERO:
        g = g * (u0 <= thr)
    g = np.ascontiguousarray(g, dtype=inp.dtype)
    if inp.backend == "cuda":
        from numba import cuda

        return cuda.to_device(g)
    return g


def _spikes_view(spikes: Any, inp: _Input) -> Any:
    _refuse_grad("spikes", spikes)
    if _is_device_array(spikes):
        arr = _as_device(spikes)
    else:
        arr = _host_array("spikes", spikes)
        if inp.backend == "cuda":
            from numba import cuda

            arr = cuda.to_device(np.ascontiguousarray(arr))
    if tuple(arr.shape) != inp.shape:
        raise ValueError(f"spikes must have shape {inp.shape}, got {tuple(arr.shape)}")
    if arr.dtype not in (np.uint8, np.float32, np.float64, np.bool_):
        raise TypeError(f"spikes must be uint8, bool or float, got {arr.dtype}")
    if arr.dtype == np.bool_:
        arr = arr.view(np.uint8)
    T, B, N = inp.x.shape
    if not _is_device_array(arr) and not arr.flags.c_contiguous:
        arr = np.ascontiguousarray(arr)
    return arr.reshape(T, B, N)


def sltt_backward(
    grad_spikes: Any,
    membrane: Any,
    *,
    threshold: float | np.ndarray = 1.0,
    surrogate: str | Surrogate = "triangle",
    backend: str = "auto",
) -> Any:
    r"""Spatial-only backward of SLTT (Meng et al., ICCV 2023) for one or more steps.

    SLTT drops the temporal route through the membrane, so each step's input gradient needs
    only that step's membrane:

    .. math:: \partial L/\partial x_t = g_t\,\sigma'(u_t - \vartheta)

    Parameters
    ----------
    grad_spikes : array, shape (S, batch, *features)
        dL/ds at ``S`` steps (``S = 1`` for the online, one-step-at-a-time use).
    membrane : array, same shape
        The membrane at those steps (the value compared with the threshold).
    threshold : float or array of shape ``features``
    surrogate : str or Surrogate
        ``"triangle"`` (alpha = 1) is the paper's choice.
    backend : {"auto", "cpu", "cuda"}

    Returns
    -------
    grad_x : array, same shape and dtype as ``grad_spikes``
    """
    inp = _check_input(grad_spikes, "grad_spikes", backend)
    mem_inp = _check_input(membrane, "membrane", inp.backend)
    if mem_inp.shape != inp.shape or mem_inp.dtype != inp.dtype:
        raise ValueError(
            f"membrane must match grad_spikes in shape and dtype: {mem_inp.shape}/{mem_inp.dtype}"
            f" vs {inp.shape}/{inp.dtype}"
        )
    thr_a = _param("threshold", threshold, inp, positive=True)
    sg = get_surrogate(surrogate)
    p = inp.dtype.type(sg.param)
    drv = _drivers(inp)
    grad_x = drv.empty_like(inp.x) if inp.backend == "cuda" else np.empty_like(inp.x)
    drv.sltt_backward(inp.x, mem_inp.x, thr_a, sg.kind, p, grad_x)
    return _shape_back(inp, grad_x)

