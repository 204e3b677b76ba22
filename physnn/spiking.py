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

Per-call cost (stepping one time step at a time)
------------------------------------------------
Every call is checked in full, but what does not change from step to step is checked once:
the checks of the input's shape, dtype and layout and of the parameters, with the parameter
arrays, the choice of compiled kernel and the zero initial state, form a *call plan* that is
kept (at most :data:`PLAN_CACHE_SIZE` of them) under a key made of the input's shape, dtype
and layout, the values of scalar parameters (or the bytes of per-neuron parameter arrays of
at most :data:`KEY_MAX_NEURONS` values: an array changed in place no longer matches its key
and is checked again), and the mode arguments. What changes every step is checked every
step: the input and the state must be finite (checked inside the kernel, in the same pass
that uses them), and the state's type and shape. A call that errors raises the same error
with or without a plan.

So, for one step at a time on the CPU: pass NumPy arrays (a ``(1, batch, *features)`` slice
of a preallocated array is a view, not a copy), scalar or small per-neuron parameters, and
the state the previous call returned. Problems below ``lif_cpu.SERIAL_BELOW`` neuron-steps
(about a million) run the serial build of the kernel: a parallel region costs more than it
saves there, and on a busy machine far more. ``NUMBA_NUM_THREADS=1`` makes every call serial. On
``T=1, batch=1, N=100`` one :func:`lif` call then costs a few microseconds (see
``physnn bench lif``, row ``physnn-cpu-step``).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from numba import get_num_threads

from .backends import resolve_backend
from .kernels import lif_cpu as _cpu
from .kernels import lif_update as _U
from .surrogate import Surrogate, get_surrogate

__all__ = ["LIFState", "SynapticState", "ALIFState", "lif", "synaptic", "alif",
           "lif_backward", "sltt_backward", "spikingjelly_tau", "PLAN_CACHE_SIZE",
           "PLAN_CACHE_BYTES", "KEY_MAX_NEURONS"]

_RESETS = {"subtract": _U.RESET_SUBTRACT, "zero": _U.RESET_ZERO, "none": _U.RESET_NONE}
_CONVENTIONS = {"snntorch": _U.CONV_SNNTORCH, "spikingjelly": _U.CONV_SPIKINGJELLY}
_SPIKE_DTYPES = (np.dtype(np.uint8), np.dtype(np.float32))

#: How many validated call plans are kept (the cache is emptied when it fills up).
PLAN_CACHE_SIZE = 512
#: At most this many bytes of arrays (parameters, zero states) are held by kept plans.
PLAN_CACHE_BYTES = 64 << 20
#: Per-neuron parameter arrays up to this many values are recognised by their bytes.
KEY_MAX_NEURONS = 4096


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


# ----------------------------------------------------------------------------- array views


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


def _as_array(name: str, x: Any) -> Any:
    """``x`` as a NumPy array (host) or a numba device array (CUDA), without copying."""
    if type(x) is np.ndarray:
        return x
    _refuse_grad(name, x)
    if _is_device_array(x):
        return _as_device(x)
    return _host_array(name, x)


def _on_device(arr: Any) -> bool:
    return not isinstance(arr, np.ndarray)


_AUTO: list[str] = []  # what backend="auto" chose for host arrays (resolved, and logged, once)


def _backend(arr: Any, name: str, backend: Any) -> str:
    """The concrete backend of a call whose leading array is ``arr``."""
    if backend == "cpu" and type(arr) is np.ndarray:
        return "cpu"
    if _on_device(arr):
        chosen = "cuda" if backend == "auto" else resolve_backend(backend)
        if chosen != "cuda":
            raise ValueError(f"{name} lives on a CUDA device but backend={chosen!r}; use 'cuda'")
        return chosen
    if backend == "auto":
        if not _AUTO:
            _AUTO.append(resolve_backend("auto"))
        return _AUTO[0]
    return resolve_backend(backend)


def _contiguous(arr: Any) -> bool:
    return arr.flags.c_contiguous if isinstance(arr, np.ndarray) else arr.is_c_contiguous()


def _layout(arr: Any) -> tuple:
    """What a plan depends on in an array: where it lives, shape, dtype, C-contiguity."""
    if type(arr) is np.ndarray:
        return arr.shape, arr.dtype, arr.flags.c_contiguous
    return type(arr), tuple(arr.shape), np.dtype(arr.dtype), _contiguous(arr)


def _check_layout(name: str, arr: Any) -> None:
    """The checks of a time-major ``(T, batch, *features)`` float array."""
    if arr.dtype not in (np.float32, np.float64):
        raise TypeError(
            f"{name} must be float32 (or float64), got dtype {arr.dtype}; "
            f"convert with {name}.astype(np.float32)"
        )
    if arr.ndim < 2:
        raise ValueError(
            f"{name} must be time-major with shape (T, batch, *features), got shape {arr.shape}"
        )
    if not _contiguous(arr):
        raise ValueError(
            f"{name} must be C-contiguous; pass np.ascontiguousarray({name}) (or .contiguous())"
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} must have T >= 1 and batch >= 1, got shape {arr.shape}")


# ----------------------------------------------------------------------------- parameters


def _param(name: str, value: Any, feat: tuple, N: int, *, lo: float | None = None,
           hi: float | None = None, positive: bool = False) -> np.ndarray:
    """A scalar or per-neuron parameter, checked, as a float64 ``[N]`` array (the values as
    the caller gave them: a Python float keeps its double precision)."""
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
    return np.ascontiguousarray(arr)


def spikingjelly_tau(beta: Any, dtype: Any) -> Any:
    r"""SpikingJelly's time constant :math:`\tau = 1 / (1 - \beta)` for ``beta`` as given,
    computed in float64 and rounded once to ``dtype``.

    This is what ``LIFNode(tau=1 / (1 - beta))`` runs with when ``tau`` is computed in Python
    from a Python float ``beta``: PyTorch rounds the Python scalar ``tau`` to the tensor's
    dtype in ``v / tau``. With ``beta = 0.9`` that is ``tau = 10.0`` exactly in float32,
    where rounding ``beta`` to float32 first would give 9.999998. ``beta = 1`` gives
    ``tau = inf`` (no leak). Every ``convention="spikingjelly"`` path derives its ``tau``
    here: :func:`lif` and :class:`physnn.snn.SpikingNetwork` from the float64 parameters, and
    :mod:`physnn.torch_ops` from the ``beta`` tensor before it is cast to the input's dtype.

    Parameters
    ----------
    beta : array_like or torch.Tensor
        Membrane decay; a float64 array (a Python float keeps its double precision), or a
        PyTorch tensor, widened to float64 on its device.
    dtype : numpy dtype or torch.dtype
        The precision ``tau`` is rounded to (a ``torch.dtype`` for a tensor ``beta``).

    Returns
    -------
    ndarray or torch.Tensor
        ``tau``, of ``beta``'s shape, in ``dtype``.
    """
    if type(beta).__module__.startswith("torch"):  # a tensor: the same rule, on its device
        return (1.0 / (1.0 - beta.double())).to(dtype)
    with np.errstate(divide="ignore"):
        return (1.0 / (1.0 - np.asarray(beta, dtype=np.float64))).astype(dtype)


def _choice(name: str, value: Any, options: dict) -> int:
    try:
        return options[value]
    except (KeyError, TypeError):
        raise ValueError(f"{name} must be one of {list(options)}, got {value!r}") from None


def _spike_dtype(spike_dtype: Any) -> np.dtype:
    dt = np.dtype(spike_dtype)
    if dt not in _SPIKE_DTYPES:
        raise TypeError(f"spike_dtype must be uint8 or float32, got {dt}")
    return dt


_SCALAR_TYPES = frozenset({float, int, np.float64, np.float32, np.float16, np.int64, np.int32})


def _pkey(value: Any) -> Any:
    """The cache key of a parameter value, or None when it must be checked on every call.

    An immutable scalar is its own key. A small ndarray is keyed by its dtype, shape and
    bytes, so an array changed in place is checked again. Anything else (a large or
    non-NumPy array, which may change without notice) is never cached.
    """
    t = type(value)
    if t in _SCALAR_TYPES:
        return value
    if t is np.ndarray and value.size <= KEY_MAX_NEURONS:
        return value.dtype.str, value.shape, value.tobytes()
    return None


_PLANS: dict = {}
_PLAN_BYTES = [0]  # bytes of the arrays the kept plans hold


def _plan(key: tuple | None, build, *args: Any) -> _Plan:
    """The plan stored under ``key``, else ``build(*args)`` (which validates and raises on
    bad input), stored when ``key`` can be (None: never) and the plan is small.

    The kept plans hold at most :data:`PLAN_CACHE_SIZE` plans and
    :data:`PLAN_CACHE_BYTES` of arrays; the cache is emptied when either would be exceeded.
    A plan whose arrays exceed an eighth of that is not kept (its checks cost little next to
    the run).
    """
    if key is not None:
        try:
            plan = _PLANS.get(key)
        except TypeError:  # an unhashable argument: validate it (and say what is wrong)
            key = None
        else:
            if plan is not None:
                return plan
    plan = build(*args)
    size = plan.nbytes()
    if key is not None and size <= PLAN_CACHE_BYTES // 8:
        if len(_PLANS) >= PLAN_CACHE_SIZE or _PLAN_BYTES[0] + size > PLAN_CACHE_BYTES:
            _PLANS.clear()
            _PLAN_BYTES[0] = 0
        _PLANS[key] = plan
        _PLAN_BYTES[0] += size
    return plan


class _Plan:
    """Everything about a call that its arguments' layout and parameters fix: checked once,
    reused by every call with the same key (see "Per-call cost" in the module docstring)."""

    __slots__ = ("backend", "dtype", "shape", "shape3", "flat", "state_shape", "state2",
                 "names", "zeros", "args", "modes", "cuda_modes", "kernel", "sdt", "record",
                 "dummy", "dev", "surrogate", "p", "reset", "conv", "detach", "uni",
                 "beta", "thr")

    def __init__(self, backend: str, dtype: np.dtype, shape: tuple) -> None:
        self.backend = backend
        self.dtype = dtype
        self.shape = shape
        T, B = shape[:2]
        N = int(np.prod(shape[2:], dtype=np.int64))
        self.shape3 = (T, B, N)
        self.flat = len(shape) != 3  # the caller's shape is not (T, B, N) itself
        self.state_shape = (B,) + shape[2:]
        self.state2 = (B, N)
        self.dev: dict = {}

    @property
    def neurons(self) -> int:
        return self.shape3[2]

    def nbytes(self) -> int:
        """Bytes of the host arrays the plan holds (parameters, zero state)."""
        held = list(getattr(self, "args", ())) + list(getattr(self, "zeros", None) or ())
        return sum(a.nbytes for a in held if isinstance(a, np.ndarray))

    def device_args(self) -> tuple:
        """The per-neuron parameters on the current CUDA device, uploaded once."""
        from numba import cuda

        where = getattr(cuda.get_current_device(), "id", 0)
        args = self.dev.get(where)
        if args is None:
            args = self.dev[where] = tuple(cuda.to_device(a) for a in self.args)
        return args


def _forward_plan(model: str, x: Any, backend: str, params: tuple, reset: Any,
                  convention: Any, spike_dtype: Any, record: bool) -> _Plan:
    """Check a forward call (input layout, parameters, modes) and build its plan.

    ``params``: ``(name, value, bounds)`` in the order the parameters are checked.
    """
    _check_layout("x", x)
    plan = _Plan(backend, np.dtype(x.dtype), tuple(x.shape))
    feat, N, dtype = plan.shape[2:], plan.neurons, plan.dtype
    values = {name: _param(name, value, feat, N, **bounds) for name, value, bounds in params}
    reset_c = _choice("reset", reset, _RESETS)
    conv_c = None if model != "lif" else _choice("convention", convention, _CONVENTIONS)
    plan.sdt = _spike_dtype(spike_dtype)
    plan.record = bool(record)
    work = int(np.prod(plan.shape3, dtype=np.int64))
    cast = {name: np.ascontiguousarray(v, dtype=dtype) for name, v in values.items()}
    if model == "lif":
        plan.args = (cast["beta"], spikingjelly_tau(values["beta"], dtype), cast["threshold"])
        plan.names = ("state.membrane",)
        plan.modes, plan.cuda_modes = (), (reset_c, conv_c)
        uni = _cpu.uniform(*plan.args)
        plan.kernel = _cpu.lif_kernel(reset_c, conv_c, uni, work)
    else:
        plan.args = tuple(cast.values())
        plan.names = (("state.syn", "state.mem") if model == "synaptic"
                      else ("state.v", "state.a"))
        plan.modes = plan.cuda_modes = (reset_c,)
        plan.kernel = (_cpu.synaptic_kernel if model == "synaptic" else _cpu.alif_kernel)(work)
    if N == 0:
        plan.kernel = None  # nothing to run (the kernels read parameter 0 up front)
    plan.zeros = tuple(np.zeros(plan.state2, dtype) for _ in plan.names)
    plan.dummy = np.empty((0, 0, 0), dtype)
    return plan


# ----------------------------------------------------------------------------- running


def _raise_if_bad(bad: np.ndarray, name: str) -> None:
    if np.any(bad):
        rows = np.flatnonzero(bad)
        raise ValueError(
            f"{name} contains NaN or infinite values (batch rows {rows[:5].tolist()}"
            f"{' ...' if rows.size > 5 else ''}); spiking inputs must be finite"
        )


def _host_state(plan: _Plan, name: str, value: Any) -> np.ndarray:
    """One state field as a ``(B, N)`` array of the plan's dtype (the caller's array itself
    where it already is one: the kernels read the initial state and write a new one)."""
    if (type(value) is np.ndarray and value.dtype is plan.dtype
            and value.shape == plan.state_shape and value.flags.c_contiguous):
        return value.reshape(plan.state2) if plan.flat else value
    _refuse_grad(name, value)
    arr = np.asarray(value)
    if arr.shape != plan.state_shape:
        raise ValueError(f"{name} must have shape (batch, *features) = {plan.state_shape}, "
                         f"got {arr.shape}")
    return np.ascontiguousarray(arr, dtype=plan.dtype).reshape(plan.state2)


def _raise_flags(flags: int, plan: _Plan, x: np.ndarray, states: tuple) -> None:
    """Say which input was not finite (the kernel only flags that one was)."""
    if flags & _cpu.BAD_STATE:
        for name, arr in zip(plan.names, states, strict=True):
            if not np.all(np.isfinite(arr)):
                raise ValueError(f"{name} contains NaN or infinite values")
    _raise_if_bad(~np.isfinite(x.reshape(plan.shape3)).all(axis=(0, 2)), "x")


def _run_forward(plan: _Plan, x: Any, fields: tuple | None, state_cls: type) -> tuple:
    """Run a forward plan on ``x`` from the state ``fields`` (None: at rest)."""
    if plan.backend != "cpu":
        return _run_forward_cuda(plan, x, fields, state_cls)
    dtype = plan.dtype
    if fields is None:
        st_in = plan.zeros
    elif len(fields) == 1:
        st_in = (_host_state(plan, plan.names[0], fields[0]),)
    else:
        st_in = tuple([_host_state(plan, name, value)
                       for name, value in zip(plan.names, fields, strict=True)])
    if len(st_in) == 1:
        st = (np.empty(plan.state2, dtype),)
    else:
        st = (np.empty(plan.state2, dtype), np.empty(plan.state2, dtype))
    spikes = np.empty(plan.shape, plan.sdt)
    record = plan.record
    membrane = np.empty(plan.shape, dtype) if record else plan.dummy
    kernel = plan.kernel
    if kernel is not None:
        if plan.flat:
            shape3 = plan.shape3
            flags = kernel(x.reshape(shape3), *plan.args, *st_in, *st, *plan.modes,
                           spikes.reshape(shape3),
                           membrane.reshape(shape3) if record else membrane, record)
        else:
            flags = kernel(x, *plan.args, *st_in, *st, *plan.modes, spikes, membrane, record)
        if flags:
            _raise_flags(flags, plan, x, st_in)
    if plan.flat:
        st = [a.reshape(plan.state_shape) for a in st]
    state = state_cls(*st)
    return (spikes, state, membrane) if record else (spikes, state)


def _run_forward_cuda(plan: _Plan, x: Any, fields: tuple | None, state_cls: type) -> tuple:
    from numba import cuda

    from .kernels import lif_cuda

    device = _on_device(x)
    if not device:
        if not np.all(np.isfinite(x)):
            raise ValueError("x contains NaN or infinite values")
        x = cuda.to_device(x)  # host in, host out: one copy each way
    fields = (None,) * len(plan.names) if fields is None else fields
    st = tuple(lif_cuda.state_copy(name, value, plan.state_shape, plan.state2, plan.dtype)
               for name, value in zip(plan.names, fields, strict=True))
    spikes, membrane = lif_cuda.alloc_outputs(plan.shape3, plan.sdt, plan.dtype, plan.record)
    run = {"lif": lif_cuda.lif_forward, "state.syn": lif_cuda.synaptic_forward,
           "state.v": lif_cuda.alif_forward}
    fn = run["lif" if len(plan.names) == 1 else plan.names[0]]
    bad = fn(x.reshape(plan.shape3), *plan.device_args(), *st, *plan.cuda_modes, spikes,
             membrane, plan.record)
    _raise_if_bad(bad.copy_to_host(), "x")

    def back(arr, shape):
        return (arr if device else arr.copy_to_host()).reshape(shape)

    state = state_cls(*[back(a, plan.state_shape) for a in st])
    out = back(spikes, plan.shape)
    return (out, state, back(membrane, plan.shape)) if plan.record else (out, state)


def _fields(state: Any, state_cls: type) -> tuple | None:
    if state is None:
        return None
    if not isinstance(state, state_cls):
        raise TypeError(f"state must be a physnn.{state_cls.__name__} or None, "
                        f"got {type(state).__name__}")
    return tuple(state)


# ----------------------------------------------------------------------------- forward

_UNIT = {"lo": 0.0, "hi": 1.0}
_POSITIVE = {"positive": True}


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

    What is matched, bit for bit: ``tau`` is computed from ``beta`` *as given* (a Python
    float keeps its double precision; an array its own values) as ``1 / (1 - beta)`` in
    float64 and rounded once to the dtype of ``x`` (:func:`spikingjelly_tau`), which is what
    ``LIFNode(tau=1 / (1 - beta))`` runs with when ``tau`` is computed in Python (PyTorch
    rounds the scalar ``tau`` to the tensor's dtype in ``v / tau``). So ``beta=0.9`` runs
    with ``tau = 10.0`` exactly, as SpikingJelly does, and spikes, the recorded ``h`` and the
    final ``v`` equal SpikingJelly's to the last bit, including voltages that land exactly
    on the threshold. ``beta=np.float32(0.9)`` is another decay (0.89999998...) with its own
    ``tau``. The snntorch convention multiplies by ``beta`` rounded to the dtype of ``x``
    (in float32, the value snntorch's ``Leaky`` holds).

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

    Notes
    -----
    One step at a time (``T=1``) is the fast path: the checks of the input's layout and of
    the parameters are kept between calls, the input and state are checked inside the
    kernel, and small problems run the serial kernel (see "Per-call cost" in
    :mod:`physnn.spiking`)::

        state = None
        for t in range(num_steps):
            spikes_t, state = pn.lif(x[t:t + 1], beta=0.9, state=state, backend="cpu")

    Examples
    --------
    >>> import numpy as np, physnn as pn
    >>> x = np.full((100, 1, 1), 0.3, dtype=np.float32)
    >>> spikes, state = pn.lif(x, beta=0.9, threshold=1.0, backend="cpu")
    >>> int(spikes.sum())
    23
    """
    x = _as_array("x", x)
    be = _backend(x, "x", backend)
    key = None
    kb, kt = _pkey(beta), _pkey(threshold)
    if kb is not None and kt is not None:
        key = ("lif", be, _layout(x), kb, kt, reset, convention, spike_dtype,
               record_membrane)
    plan = _plan(key, _forward_plan, "lif", x, be,
                 (("beta", beta, _UNIT), ("threshold", threshold, _POSITIVE)), reset,
                 convention, spike_dtype, record_membrane)
    return _run_forward(plan, x, _fields(state, LIFState), LIFState)


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
    x = _as_array("x", x)
    be = _backend(x, "x", backend)
    key = None
    ka, kb, kt = _pkey(alpha), _pkey(beta), _pkey(threshold)
    if ka is not None and kb is not None and kt is not None:
        key = ("synaptic", be, _layout(x), ka, kb, kt, reset, spike_dtype, record_membrane)
    plan = _plan(key, _forward_plan, "synaptic", x, be,
                 (("alpha", alpha, _UNIT), ("beta", beta, _UNIT),
                  ("threshold", threshold, _POSITIVE)), reset, None, spike_dtype,
                 record_membrane)
    return _run_forward(plan, x, _fields(state, SynapticState), SynapticState)


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
    x = _as_array("x", x)
    be = _backend(x, "x", backend)
    key = None
    keys = (_pkey(beta), _pkey(threshold), _pkey(gamma), _pkey(rho))
    if None not in keys:
        key = ("alif", be, _layout(x), *keys, reset, spike_dtype, record_membrane)
    plan = _plan(key, _forward_plan, "alif", x, be,
                 (("beta", beta, _UNIT), ("threshold", threshold, _POSITIVE),
                  ("gamma", gamma, {"lo": 0.0}), ("rho", rho, _UNIT)), reset, None,
                 spike_dtype, record_membrane)
    return _run_forward(plan, x, _fields(state, ALIFState), ALIFState)




# ----------------------------------------------------------------------------- backward


def _backward_plan(kind: str, g: Any, m: Any, s: Any, backend: str, beta: Any, threshold: Any,
                   surrogate: Any, reset: Any, convention: Any, detach_reset: Any) -> _Plan:
    """Check a backward call (``kind``: "lif" or "sltt") and build its plan."""
    _check_layout("grad_spikes", g)
    _backend(m, "membrane", backend)
    _check_layout("membrane", m)
    if tuple(m.shape) != tuple(g.shape) or m.dtype != g.dtype:
        raise ValueError(
            f"membrane must match grad_spikes in shape and dtype: {tuple(m.shape)}/{m.dtype}"
            f" vs {tuple(g.shape)}/{g.dtype}"
        )
    plan = _Plan(backend, np.dtype(g.dtype), tuple(g.shape))
    if kind == "lif":
        if tuple(s.shape) != plan.shape:
            raise ValueError(f"spikes must have shape {plan.shape}, got {tuple(s.shape)}")
        if s.dtype not in (np.uint8, np.float32, np.float64, np.bool_):
            raise TypeError(f"spikes must be uint8, bool or float, got {s.dtype}")
    feat, N, dtype = plan.shape[2:], plan.neurons, plan.dtype
    beta64 = None if kind != "lif" else _param("beta", beta, feat, N, **_UNIT)
    thr64 = _param("threshold", threshold, feat, N, **_POSITIVE)
    sg = get_surrogate(surrogate)
    plan.surrogate = sg
    plan.p = dtype.type(sg.param)
    plan.thr = np.ascontiguousarray(thr64, dtype=dtype)
    plan.names = ("state.membrane",)
    work = int(np.prod(plan.shape3, dtype=np.int64))
    parallel = _cpu.parallel_pays(work)
    plan.modes = (parallel,)
    if kind == "lif":
        plan.reset = _choice("reset", reset, _RESETS)
        plan.conv = _choice("convention", convention, _CONVENTIONS)
        plan.detach = bool(detach_reset)
        plan.beta = np.ascontiguousarray(beta64, dtype=dtype)
        plan.args = (plan.beta, plan.thr)
        plan.uni = _cpu.uniform(plan.beta, plan.thr)
        plan.kernel = None if N == 0 else _cpu._bptt_variant(
            sg.kind, plan.reset, plan.conv, int(plan.detach), plan.uni, parallel)
    else:
        plan.args = (plan.thr,)
        plan.uni = _cpu.uniform(plan.thr)
        plan.kernel = None if N == 0 else _cpu._sltt_variant(sg.kind, plan.uni, parallel)
    return plan


def _initial_state(plan: _Plan, state: Any) -> Any:
    """The forward pass's initial state for a backward call, checked (None: at rest)."""
    if state is None:
        return None
    value = state.membrane
    _refuse_grad("state.membrane", value)
    if plan.backend == "cuda":
        from .kernels import lif_cuda

        return lif_cuda.state_copy("state.membrane", value, plan.state_shape, plan.state2,
                                   plan.dtype)
    arr = np.asarray(value)
    if arr.shape != plan.state_shape:
        raise ValueError(f"state.membrane must have shape (batch, *features) = "
                         f"{plan.state_shape}, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError("state.membrane contains NaN or infinite values")
    return np.ascontiguousarray(arr, dtype=plan.dtype).reshape(plan.state2)


def _device_input(name: str, arr: Any, check: bool = True) -> Any:
    """A host input of a CUDA call, checked to be finite (unless not ``check``) and uploaded
    (a device array as it is)."""
    if _on_device(arr):
        return arr
    from numba import cuda

    if check and not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return cuda.to_device(np.ascontiguousarray(arr))


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
        See :mod:`physnn.surrogate`. In float64 the surrogate derivatives are exact to the
        last bit of SpikingJelly's and snntorch's (the atan surrogate's :math:`\pi/2` is the
        float64 ``math.pi / 2``).
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

    Notes
    -----
    The checks of the arguments' layout and of the parameters are kept between calls, as
    for :func:`lif` (see "Per-call cost" in :mod:`physnn.spiking`).
    """
    g = _as_array("grad_spikes", grad_spikes)
    be = _backend(g, "grad_spikes", backend)
    m = _as_array("membrane", membrane)
    s = _as_array("spikes", spikes)
    key = None
    kb, kt = _pkey(beta), _pkey(threshold)
    if kb is not None and kt is not None:
        key = ("lif_backward", be, _layout(g), _layout(m), _layout(s), kb, kt, surrogate,
               reset, convention, detach_reset)
    plan = _plan(key, _backward_plan, "lif", g, m, s, be, beta, threshold, surrogate, reset,
                 convention, detach_reset)
    st0 = _initial_state(plan, state)
    if plan.backend != "cpu":
        return _lif_backward_cuda(plan, g, m, s, st0)
    if s.dtype == np.bool_:
        s = s.view(np.uint8)
    if not s.flags.c_contiguous:
        s = np.ascontiguousarray(s)
    grad_x = np.empty(plan.shape, plan.dtype)
    carry = np.zeros(plan.state2, plan.dtype)
    if plan.kernel is not None:
        T, B, N = plan.shape3
        chunks = min(B, get_num_threads()) if plan.modes[0] else 1
        if plan.flat:
            plan.kernel(g.reshape(plan.shape3), m.reshape(plan.shape3), s.reshape(plan.shape3),
                        plan.beta, plan.thr, plan.p, grad_x.reshape(plan.shape3), carry,
                        max(1, chunks))
        else:
            plan.kernel(g, m, s, plan.beta, plan.thr, plan.p, grad_x, carry, max(1, chunks))
    if plan.conv == _U.CONV_SNNTORCH:
        # carry is delta[0]; u[0] depends on u[-1] through beta (1 - r[0] [zero reset])
        carry *= plan.beta
        if plan.reset == _U.RESET_ZERO and st0 is not None:
            carry *= st0 <= plan.thr
    return grad_x, LIFState(carry.reshape(plan.state_shape) if plan.flat else carry)


def _lif_backward_cuda(plan: _Plan, g: Any, m: Any, s: Any, st0: Any) -> tuple[Any, Any]:
    from numba import cuda

    from .kernels import lif_cuda

    device = _on_device(g)
    shape3 = plan.shape3
    gd = _device_input("grad_spikes", g).reshape(shape3)
    md = _device_input("membrane", m).reshape(shape3)
    if not _on_device(s) and s.dtype == np.bool_:
        s = s.view(np.uint8)
    sd = _device_input("spikes", s, check=False)
    if sd.dtype == np.bool_:
        sd = sd.view(np.uint8)
    sd = sd.reshape(shape3)
    carry = lif_cuda.state_copy("carry", None, plan.state_shape, plan.state2, plan.dtype)
    grad_x = lif_cuda.empty_like(gd)
    beta_d, thr_d = plan.device_args()
    lif_cuda.lif_bptt(gd, md, sd, beta_d, thr_d, plan.surrogate.kind, plan.p, plan.reset,
                      plan.conv, plan.detach, grad_x, carry)
    if plan.conv == _U.CONV_SNNTORCH:
        delta0 = carry.copy_to_host()
        grad = delta0 * plan.beta
        if plan.reset == _U.RESET_ZERO and st0 is not None:
            grad = grad * (st0.copy_to_host() <= plan.thr)
        carry = cuda.to_device(np.ascontiguousarray(grad, dtype=plan.dtype))
    if not device:
        grad_x, carry = grad_x.copy_to_host(), carry.copy_to_host()
    return grad_x.reshape(plan.shape), LIFState(carry.reshape(plan.state_shape))


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

    Notes
    -----
    The checks of the arguments' layout and of the parameters are kept between calls, as
    for :func:`lif` (see "Per-call cost" in :mod:`physnn.spiking`).
    """
    g = _as_array("grad_spikes", grad_spikes)
    be = _backend(g, "grad_spikes", backend)
    m = _as_array("membrane", membrane)
    key = None
    kt = _pkey(threshold)
    if kt is not None:
        key = ("sltt_backward", be, _layout(g), _layout(m), kt, surrogate)
    plan = _plan(key, _backward_plan, "sltt", g, m, None, be, None, threshold, surrogate,
                 None, None, None)
    if plan.backend != "cpu":
        from .kernels import lif_cuda

        device = _on_device(g)
        gd = _device_input("grad_spikes", g).reshape(plan.shape3)
        md = _device_input("membrane", m).reshape(plan.shape3)
        grad_x = lif_cuda.empty_like(gd)
        lif_cuda.sltt_backward(gd, md, plan.device_args()[0], plan.surrogate.kind, plan.p,
                               grad_x)
        return (grad_x if device else grad_x.copy_to_host()).reshape(plan.shape)
    grad_x = np.empty(plan.shape, plan.dtype)
    if plan.kernel is not None:
        if plan.flat:
            plan.kernel(g.reshape(plan.shape3), m.reshape(plan.shape3), plan.thr, plan.p,
                        grad_x.reshape(plan.shape3))
        else:
            plan.kernel(g, m, plan.thr, plan.p, grad_x)
    return grad_x
