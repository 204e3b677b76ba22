r"""Exchange spiking networks with other simulators through NIR, the Neuromorphic
Intermediate Representation (https://neuroir.org, package ``nir``).

:func:`to_nir` writes a :class:`physnn.snn.SpikingNetwork` as a :class:`nir.NIRGraph`;
:func:`from_nir` reads one back. The graph is a chain::

    Input -> [Flatten] -> Affine | Linear | Conv2d -> LIF -> [Flatten] -> ... -> Output

with an ``LIF`` node after every layer but the last; a last layer followed by ``LIF`` is
``readout="spike_count"``, one without is ``readout="membrane"`` (the graph's output is that
layer's current).

Neuron mapping
--------------
NIR's ``LIF`` node is the continuous-time neuron

.. math::

    \tau \dot v = (v_{leak} - v) + R I, \qquad
    z = [v > v_{threshold}], \qquad v \leftarrow v_{reset} \text{ when } z = 1,

with the time constant :math:`\tau` in seconds. physnn discretises it, as snntorch's NIR
exporter and importer do, with forward Euler at a step ``dt`` in seconds (snntorch fixes
``dt = 1e-4``, the default here):

.. math::

    v_t = \Big(1 - \frac{dt}{\tau}\Big) v_{t-1} + \frac{dt\,R}{\tau}\,I_t
        + \frac{dt}{\tau} v_{leak}.

A :class:`~physnn.snn.SpikingNetwork` with ``convention="snntorch"`` and ``reset="zero"``
computes :math:`u_t = \beta (1 - r_t) u_{t-1} + I_t`, :math:`s_t = [u_t > \vartheta]`,
:math:`r_t = s_{t-1}`, so the two agree when

=========================  ===========================================================
NIR ``LIF`` field          SpikingNetwork
=========================  ===========================================================
``tau`` (s)                ``beta = 1 - dt / tau``, i.e. ``tau = dt / (1 - beta)``
``r``                      ``tau / dt`` (the input enters unscaled: ``dt r / tau = 1``)
``v_leak``                 0 (neurons leak towards zero)
``v_threshold``            ``threshold``, fires when the membrane is strictly above it
``v_reset``                0: ``reset="zero"``
=========================  ===========================================================

(the reset is applied one step later in physnn's snntorch convention, but the membrane
starts the next step from zero either way, so the spikes are identical). Units: ``tau`` and
``dt`` in seconds; ``beta`` and ``r`` (with ``R = tau / dt`` one unit of input current
raises the membrane by one unit per step) are dimensionless; currents, membranes, thresholds
and weights share the network's arbitrary unit. This is also what
snntorch's ``export_to_nir`` writes for a ``Leaky`` neuron and what its ``import_from_nir``
builds (``Leaky(reset_mechanism="zero", reset_delay=False)``). ``CubaLIF`` maps to the same
neuron only when its synaptic current does not persist: ``tau_syn = dt`` (synaptic decay
``alpha = 1 - dt / tau_syn = 0``) and ``w_in = tau_syn / dt``, under snntorch's update order
(the membrane integrates the current of the same step).

Layers: ``Affine`` / ``Linear`` -> :class:`~physnn.snn.Dense` (``Linear`` gets a zero
bias), ``weight (out, in)``; ``Conv2d`` -> :class:`~physnn.snn.Conv2d` (square kernel, same
stride and padding along both axes, ``dilation = 1``, ``groups = 1``), ``weight (out, in, k,
k)``; ``Flatten`` of a whole ``(channels, height, width)`` activation before a dense layer
(C order, what :class:`~physnn.snn.Dense` does anyway). Weights become float32, physnn's
precision.

Float32 exactness (identical spikes need the identical float32 ``beta``): :func:`from_nir`
reads ``beta = float32(1 - dt / tau)`` evaluated in float64 with ``dt`` rounded to ``tau``'s
precision (how a float32 exporter such as snntorch's computed ``tau = dt / (1 - beta)``);
this returns the exporter's float32 ``beta`` for every ``beta`` in [0.5, 1) and for 0.
:func:`to_nir` writes a float32 ``tau`` that reads back to ``beta`` exactly and, among
those, one that snntorch's importer (``1 - dt / tau`` in float32 arithmetic) also maps back
to ``beta`` exactly; the latter exists for about 98 % of the float32 values in [0.5, 1)
(0.5, 0.8, 0.9, 0.95, 0.99 among them) and for 0; otherwise snntorch's ``beta`` is off by
one float32 step (its spikes may then differ in rare near-threshold steps). Most ``beta``
below 0.5 have no float32 ``tau`` that reads back exactly (``1 - beta`` drops their low
bits); their ``tau`` and ``r`` are written in float64 (exact for :func:`from_nir`;
snntorch's importer then simulates in float64).

Everything else is refused with :class:`NIRUnsupportedError`, which names the node and the
feature: per-neuron or per-layer differences in ``beta`` or threshold (SpikingNetwork has
one of each), ``v_leak != 0``, ``v_reset != 0``, an input scale ``dt r / tau != 1``,
``CubaLIF`` with a persistent synaptic current, ``IF``, ``LI``, ``CubaLI``, ``I``,
pooling, ``Conv1d``, ``Delay``, ``Scale``, ``Threshold``, recurrent edges (nested graphs,
e.g. snntorch's ``RLeaky``), branches; and, from physnn, ``convention="spikingjelly"`` (it
decays as ``v - v / tau`` and fires at ``h >= threshold``), ``reset="subtract"`` (NIR's
``LIF`` resets to ``v_reset``) and ``beta = 1`` (``tau`` infinite).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from . import surrogate as _surrogate
from .snn import Conv2d, Dense, LayerParams, SpikingNetwork
from .surrogate import Surrogate

if TYPE_CHECKING:
    import nir

__all__ = ["to_nir", "from_nir", "NIRUnsupportedError"]

#: tolerance on the input scale ``dt r / tau`` (= 1 up to float32 rounding of ``r`` and
#: ``tau``: a few float32 units in the last place)
_SCALE_RTOL = 1e-6
#: a ``beta`` this close below 0 is float32 rounding of ``tau = dt`` (beta = 0)
_BETA_ATOL = 2.0 ** -21

_UNSUPPORTED = {
    "IF": "integrate-and-fire neurons (no leak) are not supported: NIR leaves the "
          "discretisation of their input to each tool (snntorch imports IF as a Leaky with "
          "beta = 0.9); use LIF nodes",
    "LI": "non-spiking leaky-integrator neurons have no SpikingNetwork equivalent (its "
          "membrane readout is the last layer's current, not integrated)",
    "CubaLI": "non-spiking leaky-integrator neurons have no SpikingNetwork equivalent (its "
              "membrane readout is the last layer's current, not integrated)",
    "I": "non-spiking integrator neurons have no SpikingNetwork equivalent",
    "AvgPool2d": "pooling layers are not supported by SpikingNetwork",
    "SumPool2d": "pooling layers are not supported by SpikingNetwork",
    "Conv1d": "1-D convolutions are not supported by SpikingNetwork (Conv2d only)",
    "Delay": "synaptic delays are not supported by SpikingNetwork",
    "Scale": "elementwise Scale nodes are not supported by SpikingNetwork",
    "Threshold": "a bare Threshold (spikes without a membrane) is not supported by "
                 "SpikingNetwork",
}


class NIRUnsupportedError(ValueError):
    """A NIR graph or a SpikingNetwork uses a feature that the other side cannot express
    exactly (the message names the node or attribute, and the feature)."""


def _import_nir():
    try:
        import nir
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("physnn.to_nir / from_nir need the 'nir' package "
                          "(pip install nir, or physnn's 'ref' extra)") from e
    return nir


def _check_dt(dt: Any) -> float:
    if isinstance(dt, bool) or not isinstance(dt, int | float | np.floating | np.integer) \
            or not (math.isfinite(dt) and dt > 0):
        raise ValueError(f"dt must be a finite number of seconds > 0, got {dt!r}")
    return float(dt)


def _arr(value: Any) -> np.ndarray:
    """A NIR field as a NumPy array (snntorch's exporter leaves some as torch tensors)."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def _float_dtype(a: np.ndarray) -> np.dtype:
    return a.dtype if a.dtype in (np.float32, np.float64) else np.dtype(np.float64)


def _decay_from_tau(tau: np.ndarray, dt: float) -> np.ndarray:
    """``float32(1 - dt / tau)`` per element, evaluated in float64 with ``dt`` rounded to
    ``tau``'s precision (float32 ``tau`` was computed from a float32 ``dt``); values a
    rounding step below 0 (``tau = dt``) become 0."""
    dt_eff = float(_float_dtype(tau).type(dt))
    decay = (1.0 - dt_eff / tau.astype(np.float64)).astype(np.float32)
    return np.where((decay < 0) & (decay >= -_BETA_ATOL), np.float32(0), decay)


def _input_scale(r: np.ndarray, tau: np.ndarray, dt: float) -> np.ndarray:
    """``dt r / tau``, the factor NIR's Euler step puts on the input."""
    dt_eff = float(_float_dtype(tau).type(dt))
    return r.astype(np.float64) * dt_eff / tau.astype(np.float64)


def _tau_r(beta: float, dt: float) -> tuple[np.floating, np.floating]:
    """NIR ``tau`` and ``r`` (scalars) for a per-step decay ``beta`` in [0, 1)."""
    b = np.float32(beta)
    dt32 = np.float32(dt)
    t0 = np.float32(float(dt32) / (1.0 - float(b)))

    def neighbours() -> Iterator[np.float32]:
        yield t0
        for k in range(1, 5):
            for direction in (np.inf, -np.inf):
                t = t0
                for _ in range(k):
                    t = np.nextafter(t, np.float32(direction))
                yield t

    def exact(t: np.floating) -> bool:
        return bool(_decay_from_tau(np.asarray(t), dt) == b)

    def snntorch_exact(t: np.float32) -> bool:  # snntorch's importer: 1 - dt / tau in f32
        return bool(np.float32(1) - dt32 / t == b)

    for test in (lambda t: exact(t) and snntorch_exact(t), exact):
        for t in neighbours():
            if t > 0 and math.isfinite(t) and test(t):
                return t, np.float32(t / dt32)
    t64 = np.float64(dt / (1.0 - float(b)))
    if exact(t64):
        return t64, np.float64(t64 / dt)
    raise NIRUnsupportedError(f"beta = {float(b)!r} has no NIR tau = dt / (1 - beta) that "
                              f"reads back to the same float32 beta at dt = {dt!r}")


# ----------------------------------------------------------------------------- export


def to_nir(net: SpikingNetwork, *, dt: float = 1e-4) -> nir.NIRGraph:
    r"""Write a spiking network as a NIR graph.

    Parameters
    ----------
    net : SpikingNetwork
        With ``convention="snntorch"`` and ``reset="zero"`` (the neuron NIR's ``LIF``
        describes; see the module docstring) and ``beta < 1``. A network without LIF
        neurons (one layer, ``readout="membrane"``) needs neither.
    dt : float
        Simulation step in seconds; ``tau = dt / (1 - beta)`` and ``r = tau / dt``.
        snntorch's importer assumes ``1e-4``.

    Returns
    -------
    nir.NIRGraph
        Nodes ``input``, per layer ``i`` an optional ``flatten{i}``, ``dense{i}``
        (``Affine``) or ``conv{i}`` (``Conv2d``) and, for spiking layers, ``lif{i}``
        (``LIF`` with per-neuron arrays of the layer's output shape: ``tau`` and ``r`` in
        float32 (float64 where float32 cannot hold ``beta`` exactly), ``v_leak = 0``,
        ``v_threshold = threshold``, ``v_reset = 0``), then ``output``. Weights are float32
        copies. ``metadata`` records the surrogate gradient (``physnn_surrogate``,
        ``physnn_surrogate_param``), which NIR has no field for; :func:`from_nir` restores
        it.

    Raises
    ------
    NIRUnsupportedError
        For ``convention="spikingjelly"``, ``reset="subtract"`` or ``beta = 1``.
    """
    nir = _import_nir()
    dt = _check_dt(dt)
    if not isinstance(net, SpikingNetwork):
        raise TypeError(f"net must be a physnn.snn.SpikingNetwork, got {type(net).__name__}")
    L = len(net.layers)
    lif = None
    if any(net.spiking(i) for i in range(L)):
        if net.convention != "snntorch":
            raise NIRUnsupportedError(
                f"convention={net.convention!r} has no NIR equivalent: it decays as "
                "v - v / tau and fires when h >= threshold, NIR's LIF as (1 - dt/tau) v and "
                "when v > v_threshold, so spikes could differ; use convention='snntorch'")
        if net.reset != "zero":
            raise NIRUnsupportedError(
                f"reset={net.reset!r} has no NIR equivalent: NIR's LIF node resets the "
                "membrane to v_reset after a spike (reset to zero), and NIR 1.0 has no field "
                "for a subtractive reset; use reset='zero' (snntorch's import_from_nir builds "
                "reset-to-zero neurons too)")
        if np.float32(net.beta) >= 1:  # physnn computes with float32(beta)
            raise NIRUnsupportedError(
                "beta = 1 (no leak) has no NIR LIF equivalent (tau = dt / (1 - beta) is "
                "infinite), and NIR's IF node is not discretised alike across tools")
        lif = _tau_r(net.beta, dt)
    nodes: dict[str, Any] = {"input": nir.Input(input_type=np.array(net.in_shape))}
    edges: list[tuple[str, str]] = []
    prev = "input"

    def add(name: str, node: Any) -> None:
        nonlocal prev
        nodes[name] = node
        edges.append((prev, name))
        prev = name

    shape = tuple(net.in_shape)
    for i, (layer, p) in enumerate(zip(net.layers, net.params, strict=True)):
        w = np.array(p.weight, dtype=np.float32)
        b = np.array(p.bias, dtype=np.float32)
        if isinstance(layer, Dense):
            if len(shape) > 1:
                add(f"flatten{i}", nir.Flatten(input_type={"input": np.array(shape)},
                                               start_dim=0, end_dim=-1))
            add(f"dense{i}", nir.Affine(weight=w, bias=b))
        else:
            s, pad = int(layer.stride), int(layer.padding)
            add(f"conv{i}", nir.Conv2d(input_shape=tuple(int(v) for v in layer.in_hw),
                                       weight=w, stride=(s, s), padding=(pad, pad),
                                       dilation=(1, 1), groups=1, bias=b))
        shape = tuple(layer.out_shape())
        if net.spiking(i):
            assert lif is not None
            tau, r = lif
            add(f"lif{i}", nir.LIF(tau=np.full(shape, tau, dtype=tau.dtype),
                                   r=np.full(shape, r, dtype=r.dtype),
                                   v_leak=np.zeros(shape, np.float32),
                                   v_threshold=np.full(shape, net.threshold, np.float32),
                                   v_reset=np.zeros(shape, np.float32)))
    add("output", nir.Output(output_type=np.array(shape)))
    metadata = {"physnn_surrogate": net.surrogate.name,
                "physnn_surrogate_param": float(net.surrogate.param)}
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata)


# ----------------------------------------------------------------------------- import


def _where(name: str, node: Any) -> str:
    return f"node {name!r} ({type(node).__name__})"


def _chain(nir: Any, graph: Any) -> tuple[Any, list[tuple[str, Any]]]:
    """The Input node of ``graph`` and the ``(name, node)`` pairs after it up to its Output,
    refusing anything but a chain."""
    nodes = graph.nodes
    for name, node in nodes.items():
        if isinstance(node, nir.NIRGraph):
            raise NIRUnsupportedError(
                f"{_where(name, node)}: nested graphs (e.g. the recurrent subgraph of "
                "snntorch's RLeaky / RSynaptic) are not supported: SpikingNetwork is "
                "feed-forward")
    succ: dict[str, list[str]] = {k: [] for k in nodes}
    pred: dict[str, list[str]] = {k: [] for k in nodes}
    for a, b in graph.edges:
        if a not in nodes or b not in nodes:
            raise ValueError(f"edge ({a!r}, {b!r}) names a node the graph does not have")
        succ[a].append(b)
        pred[b].append(a)
    # cycles (recurrence): Kahn's algorithm leaves the nodes on or behind a cycle
    indeg = {k: len(v) for k, v in pred.items()}
    ready = [k for k, d in indeg.items() if d == 0]
    while ready:
        k = ready.pop()
        for m in succ[k]:
            indeg[m] -= 1
            if indeg[m] == 0:
                ready.append(m)
    cyclic = [(a, b) for a, b in graph.edges if indeg[a] > 0 and indeg[b] > 0]
    if cyclic:
        raise NIRUnsupportedError(
            f"recurrent edges {cyclic}: SpikingNetwork is feed-forward (no recurrent "
            "connections)")
    for name, node in nodes.items():
        if len(succ[name]) > 1 or len(pred[name]) > 1:
            n_out, n_in = len(succ[name]), len(pred[name])
            raise NIRUnsupportedError(
                f"{_where(name, node)} has {n_in} incoming and {n_out} outgoing edges: "
                "SpikingNetwork is a chain (no branches, merges or skip connections)")
    inputs = [k for k, v in nodes.items() if isinstance(v, nir.Input)]
    outputs = [k for k, v in nodes.items() if isinstance(v, nir.Output)]
    if len(inputs) != 1 or len(outputs) != 1:
        raise NIRUnsupportedError(f"the graph has inputs {inputs} and outputs {outputs}: "
                                  "SpikingNetwork has one of each")
    chain = [inputs[0]]
    while succ[chain[-1]]:
        chain.append(succ[chain[-1]][0])
    if chain[-1] != outputs[0] or len(chain) != len(nodes):
        loose = sorted(set(nodes) - set(chain))
        raise NIRUnsupportedError(f"the graph is not one chain from {inputs[0]!r} to "
                                  f"{outputs[0]!r} (nodes off the chain: {loose})")
    return nodes[inputs[0]], [(k, nodes[k]) for k in chain[1:-1]]


def _field(name: str, node: Any, field: str, n: int) -> np.ndarray:
    """A neuron parameter as a flat float array of ``n`` values (or one, broadcast)."""
    a = _arr(getattr(node, field))
    if a.size not in (1, n):
        raise NIRUnsupportedError(f"{_where(name, node)}: {field} has {a.size} values but "
                                  f"the layer before it has {n} neurons")
    if not np.issubdtype(a.dtype, np.floating):
        a = a.astype(np.float64)
    return np.broadcast_to(a.reshape(-1), (n,))


def _one(name: str, node: Any, what: str, values: np.ndarray) -> float:
    """The single value of a per-neuron parameter, or raise."""
    uniq = np.unique(values)
    if uniq.size != 1:
        raise NIRUnsupportedError(
            f"{_where(name, node)}: {what} differs between neurons ({float(uniq.min())!r} "
            f".. {float(uniq.max())!r}); SpikingNetwork has one {what} for all neurons")
    return uniq[0]


def _neuron(name: str, node: Any, nir: Any, n: int, dt: float) -> tuple[np.float32, np.float32]:
    """``(beta, threshold)`` of a LIF (or current-less CubaLIF) node of ``n`` neurons."""
    cuba = isinstance(node, nir.CubaLIF)
    tau_field = "tau_mem" if cuba else "tau"
    tau = _field(name, node, tau_field, n)
    r = _field(name, node, "r", n)
    if not np.all(np.isfinite(tau) & (tau > 0)):
        raise NIRUnsupportedError(f"{_where(name, node)}: {tau_field} must be finite and > 0")
    if np.any(_field(name, node, "v_leak", n) != 0):
        raise NIRUnsupportedError(f"{_where(name, node)}: v_leak != 0 is not supported "
                                  "(SpikingNetwork neurons leak towards 0)")
    v_reset = getattr(node, "v_reset", None)
    if v_reset is not None and np.any(_field(name, node, "v_reset", n) != 0):
        raise NIRUnsupportedError(f"{_where(name, node)}: v_reset != 0 is not supported "
                                  "(SpikingNetwork neurons reset to 0 or by subtraction)")
    if cuba:
        tau_syn = _field(name, node, "tau_syn", n)
        alpha = _decay_from_tau(tau_syn, dt) if np.all(tau_syn > 0) else np.array([-1.0])
        w_in = _field(name, node, "w_in", n)
        if np.any(alpha != 0) or np.any(np.abs(_input_scale(w_in, tau_syn, dt) - 1)
                                        > _SCALE_RTOL):
            raise NIRUnsupportedError(
                f"{_where(name, node)}: a synaptic current that persists between steps "
                f"(tau_syn = {_arr(node.tau_syn).reshape(-1)[0]!r} s, alpha = 1 - dt/tau_syn "
                "!= 0) is not supported: SpikingNetwork has no synaptic state; only "
                f"tau_syn = dt = {dt!r} s with w_in = tau_syn / dt maps to its LIF neuron")
    scale = _input_scale(r, tau, dt)
    if np.any(np.abs(scale - 1) > _SCALE_RTOL):
        raise NIRUnsupportedError(
            f"{_where(name, node)}: input scale dt * r / tau = {float(scale.max())!r} != 1: "
            "SpikingNetwork adds the synaptic current unscaled, which needs r = tau / dt "
            f"(as snntorch's exporter writes); is dt = {dt!r} s the step the graph was "
            "made with?")
    beta_all = _decay_from_tau(tau, dt)
    if np.any(beta_all < 0):
        raise NIRUnsupportedError(f"{_where(name, node)}: {tau_field} < dt = {dt!r} s gives "
                                  "a negative decay 1 - dt / tau (unstable Euler step)")
    beta = _one(name, node, f"beta = 1 - dt/{tau_field}", beta_all)
    thr = _one(name, node, "v_threshold",
               _field(name, node, "v_threshold", n).astype(np.float32))
    if not thr > 0:
        raise NIRUnsupportedError(f"{_where(name, node)}: v_threshold must be > 0, "
                                  f"got {thr!r}")
    return np.float32(beta), np.float32(thr)


def _pair(name: str, node: Any, field: str, value: Any) -> int:
    """A Conv2d stride / padding / dilation given as an int or a pair of equal ints."""
    v = np.array(_arr(value)).reshape(-1)
    if v.size not in (1, 2) or v[0] != v[-1] or not float(v[0]).is_integer():
        raise NIRUnsupportedError(f"{_where(name, node)}: {field} {value!r} is not supported "
                                  "(physnn's Conv2d takes one int for both axes)")
    return int(v[0])


def _conv(name: str, node: Any, shape: tuple[int, ...]) -> tuple[Conv2d, LayerParams]:
    w = _arr(node.weight)
    if w.ndim != 4 or len(shape) != 3 or w.shape[1] != shape[0]:
        raise NIRUnsupportedError(f"{_where(name, node)}: weight {w.shape} does not fit its "
                                  f"input {shape} (channels, height, width)")
    o, c, kh, kw = (int(v) for v in w.shape)
    if kh != kw:
        raise NIRUnsupportedError(f"{_where(name, node)}: kernel {kh}x{kw} is not square "
                                  "(physnn's Conv2d has square kernels)")
    if int(_arr(node.groups)) != 1:
        raise NIRUnsupportedError(f"{_where(name, node)}: groups = {node.groups} is not "
                                  "supported (groups = 1 only)")
    if _pair(name, node, "dilation", node.dilation) != 1:
        raise NIRUnsupportedError(f"{_where(name, node)}: dilation {node.dilation!r} is not "
                                  "supported (dilation = 1 only)")
    stride = _pair(name, node, "stride", node.stride)
    padding = node.padding
    if isinstance(padding, bytes):  # a string read back by nir.read
        padding = padding.decode()
    if isinstance(padding, str):
        if padding == "valid":
            padding = 0
        elif stride == 1 and kh % 2 == 1:  # 'same'
            padding = (kh - 1) // 2
        else:
            raise NIRUnsupportedError(f"{_where(name, node)}: padding 'same' needs stride 1 "
                                      "and an odd kernel (symmetric padding)")
    pad = _pair(name, node, "padding", padding)
    in_hw = (int(shape[1]), int(shape[2]))
    if node.input_shape is not None and tuple(int(v) for v in _arr(node.input_shape)) != in_hw:
        raise NIRUnsupportedError(f"{_where(name, node)}: input_shape {node.input_shape} "
                                  f"does not match its input {shape}")
    layer = Conv2d(c, o, kh, in_hw=in_hw, stride=stride, padding=pad)
    bias = np.zeros(o, np.float32) if node.bias is None else _arr(node.bias)
    return layer, LayerParams(np.array(w, np.float32),
                              np.array(np.broadcast_to(bias, (o,)), np.float32))


def _restore_surrogate(graph: Any) -> Surrogate | str:
    meta = getattr(graph, "metadata", None)
    name = meta.get("physnn_surrogate") if isinstance(meta, dict) else None
    if isinstance(name, bytes):
        name = name.decode()
    if name in _surrogate._BY_NAME and "physnn_surrogate_param" in meta:
        return _surrogate._BY_NAME[name](float(meta["physnn_surrogate_param"]))
    return "triangle"


def from_nir(graph: nir.NIRGraph, *, dt: float = 1e-4, reset: str = "zero",
             surrogate: str | Surrogate | None = None) -> SpikingNetwork:
    r"""Build a spiking network from a NIR graph (see the module docstring for the mapping).

    Parameters
    ----------
    graph : nir.NIRGraph
        A chain ``Input -> ... -> Output`` of ``Affine`` / ``Linear`` / ``Conv2d`` layers,
        each but the last followed by ``LIF`` (or ``CubaLIF`` with ``tau_syn = dt``),
        ``Flatten`` before dense layers; all neurons with the same ``beta`` and
        threshold.
    dt : float
        Simulation step in seconds: ``beta = 1 - dt / tau``. The graph's ``r`` must equal
        ``tau / dt`` (checked, so a wrong ``dt`` is caught). snntorch uses ``1e-4``.
    reset : {"zero", "subtract"}
        ``"zero"`` follows NIR (the membrane resets to ``v_reset = 0``). ``"subtract"``
        reads the neurons as snntorch's default ``Leaky(reset_mechanism="subtract")``,
        whose reset snntorch's ``export_to_nir`` cannot record (it writes ``v_reset = 0``):
        a deliberate reinterpretation for graphs known to come from such networks.
    surrogate : str or Surrogate, optional
        Surrogate gradient for training (NIR has none); default: the one :func:`to_nir`
        recorded in the graph's metadata, else ``"triangle"``.

    Returns
    -------
    SpikingNetwork
        ``convention="snntorch"``, the given ``reset``, ``beta = 1 - dt / tau`` and
        ``threshold = v_threshold`` as float32 values (see the module docstring),
        ``readout="spike_count"``
        if the last layer feeds LIF neurons else ``"membrane"``, and the graph's weights
        as float32 (``Linear`` nodes get a zero bias).

    Raises
    ------
    NIRUnsupportedError
        Naming the node and the feature SpikingNetwork cannot represent.
    """
    nir = _import_nir()
    dt = _check_dt(dt)
    if reset not in ("zero", "subtract"):
        raise ValueError(f"reset must be 'zero' or 'subtract', got {reset!r}")
    if not isinstance(graph, nir.NIRGraph):
        raise TypeError(f"graph must be a nir.NIRGraph, got {type(graph).__name__}")
    in_node, chain = _chain(nir, graph)
    by_name = dict(chain)
    shape = tuple(int(v) for v in _arr(in_node.input_type["input"]).reshape(-1))
    layers: list[Dense | Conv2d] = []
    params: list[LayerParams] = []
    names: list[str] = []
    neurons: list[tuple[str, Any, np.float32, np.float32] | None] = []
    for name, node in chain:
        kind = type(node).__name__
        if isinstance(node, nir.Flatten):
            nd = len(shape)
            start = node.start_dim + nd if node.start_dim < 0 else node.start_dim
            end = node.end_dim + nd if node.end_dim < 0 else node.end_dim
            if nd > 1 and (start != 0 or end != nd - 1):
                raise NIRUnsupportedError(
                    f"{_where(name, node)}: flattens dims {node.start_dim}..{node.end_dim} "
                    f"of {shape}; only flattening the whole activation is supported")
            shape = (math.prod(shape),)
        elif isinstance(node, nir.Affine | nir.Linear | nir.Conv2d):
            if layers and neurons[-1] is None:
                raise NIRUnsupportedError(
                    f"{_where(name, node)} follows {_where(names[-1], by_name[names[-1]])} "
                    "without LIF neurons between them: SpikingNetwork has LIF neurons after "
                    "every layer but the last")
            if isinstance(node, nir.Conv2d):
                layer, p = _conv(name, node, shape)
            else:
                w = _arr(node.weight)
                if w.ndim != 2:
                    raise NIRUnsupportedError(f"{_where(name, node)}: weight of shape "
                                              f"{w.shape} is not a matrix")
                if math.prod(shape[:-1]) != 1 or w.shape[1] != shape[-1]:
                    raise NIRUnsupportedError(
                        f"{_where(name, node)}: weight {w.shape} does not fit its input "
                        f"{shape} (a Flatten node must come first)")
                out = int(w.shape[0])
                bias = _arr(node.bias) if isinstance(node, nir.Affine) else np.zeros(out)
                layer = Dense(int(w.shape[1]), out)
                p = LayerParams(np.array(w, np.float32),
                                np.array(np.broadcast_to(bias, (out,)), np.float32))
            layers.append(layer)
            params.append(p)
            names.append(name)
            neurons.append(None)
            shape = tuple(layer.out_shape())
        elif isinstance(node, nir.LIF | nir.CubaLIF):
            if not layers or neurons[-1] is not None:
                raise NIRUnsupportedError(f"{_where(name, node)} must follow an Affine, "
                                          "Linear or Conv2d layer")
            beta, thr = _neuron(name, node, nir, math.prod(shape), dt)
            neurons[-1] = (name, node, beta, thr)
        else:
            reason = _UNSUPPORTED.get(kind, "this node type is not supported by "
                                            "SpikingNetwork")
            raise NIRUnsupportedError(f"{_where(name, node)}: {reason}")
    if not layers:
        raise NIRUnsupportedError("the graph has no Affine, Linear or Conv2d layer")
    for i in range(len(layers) - 1):
        if neurons[i] is None:
            raise NIRUnsupportedError(
                f"{_where(names[i], by_name[names[i]])} is not followed by LIF "
                "neurons: SpikingNetwork has LIF neurons after every layer but the last")
    spiking = [nrn for nrn in neurons if nrn is not None]
    beta, thr = np.float32(0.5), np.float32(1.0)  # SpikingNetwork's defaults (unused)
    if spiking:
        first_name, first_node, beta, thr = spiking[0]
        for name, node, b, t in spiking[1:]:
            if b != beta or t != thr:
                raise NIRUnsupportedError(
                    f"{_where(name, node)}: beta = {float(b)!r}, threshold = {float(t)!r} "
                    f"differ from {_where(first_name, first_node)} (beta = {float(beta)!r}, "
                    f"threshold = {float(thr)!r}): SpikingNetwork has one beta and one "
                    "threshold for all layers")
    net = SpikingNetwork(layers, beta=float(beta), threshold=float(thr),
                         surrogate=surrogate if surrogate is not None
                         else _restore_surrogate(graph),
                         readout="spike_count" if neurons[-1] is not None else "membrane",
                         convention="snntorch", reset=reset)
    net.params = params
    return net
