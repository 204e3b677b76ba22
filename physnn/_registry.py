"""What physnn's own classes save: the explicit registry behind :func:`physnn.save` /
:func:`physnn.load` (see :mod:`physnn.persist`)."""

from __future__ import annotations

import builtins
from typing import Any

import numpy as np

from . import perturb
from .layers import Linear, LinearParams
from .learning import BPTT, SLTT, ForwardForward, LocalReadout, PhyLL
from .learning.phyll import GoodnessState
from .learning.readout import ReadoutState
from .nets import Block, PhysicalNetwork, abs_max_scale, identity
from .optim import SGD, Adam, AdamState, SGDState
from .persist import (
    PersistError,
    _same,
    build_from_init_args,
    init_args_config,
    register,
    register_function,
)
from .physical import CallableLayer, PhysicalLayer
from .readouts import GoodnessReadout, HeadReadout
from .snn import Conv2d, Dense, LayerParams, SpikingNetwork
from .spiking import ALIFState, LIFState, SynapticState
from .surrogate import Surrogate

# -- records and dataclasses: saved field by field -------------------------------------------
for _cls in (LinearParams, LayerParams, AdamState, SGDState, GoodnessState, ReadoutState,
             Surrogate, LIFState, SynapticState, ALIFState, GoodnessReadout, HeadReadout,
             Dense, Conv2d, perturb.AdditiveNoise, perturb.MultiplicativeNoise, perturb.Drift,
             perturb.Shift, perturb.DeadChannels, perturb.Quantize, perturb.ParameterDrift,
             perturb.Constant, perturb.Ramp, perturb.Step, perturb.RandomWalk, perturb.Cyclic,
             perturb.Sum, perturb.Scaled):
    register(_cls, name=f"physnn.{_cls.__name__}")
for _fn in (identity, abs_max_scale):
    register_function(_fn, name=f"physnn.{_fn.__name__}")


# -- physical layers: constructor arguments + counter, generator, physical parameters --------
def _layer_state(o: PhysicalLayer) -> dict:
    st: dict[str, Any] = {"queries": int(o._queries), "params": o.params}
    rng = o.__dict__.get("_rng")
    if isinstance(rng, np.random.Generator):
        st["rng"] = rng
    return st


def _layer_set_state(o: PhysicalLayer, st: dict) -> None:
    o._queries = int(st["queries"])
    if st.get("params") is not None and not _same(st["params"], o.params):
        o.params = st["params"]
        o._params_changed()
    if "rng" in st:
        o._rng = st["rng"]


register(PhysicalLayer, name="physnn.PhysicalLayer", config=init_args_config,
         build=build_from_init_args, get_state=_layer_state, set_state=_layer_set_state)


def _perturbed_state(o: perturb.Perturbed) -> dict:
    return {**_layer_state(o), "states": list(o._states), "base_params": o._base_params,
            "clock": int(o._clock), "probe_queries": int(o._probe_queries),
            "hold_queries": int(o._hold_queries)}


def _perturbed_set_state(o: perturb.Perturbed, st: dict) -> None:
    _layer_set_state(o, st)
    if len(st["states"]) != len(o.perturbations):
        raise ValueError(f"{len(st['states'])} perturbation states for "
                         f"{len(o.perturbations)} perturbations")
    states = list(st["states"])
    for i, p in enumerate(o.perturbations):
        # random walks are keyed by the wrapper's seed (a tuple); a file written before
        # walks were counter-based holds a walk position there: keep the fresh key
        if isinstance(p, perturb.Drift | perturb.ParameterDrift) \
                and not isinstance(states[i], tuple):
            states[i] = o._states[i]
    o._states = states
    o._base_params = st["base_params"]
    # files written before the clock existed: the clock was the query count
    o._clock = int(st.get("clock", st["queries"]))
    o._probe_queries = int(st.get("probe_queries", 0))
    o._hold_queries = int(st.get("hold_queries", 0))


register(perturb.Perturbed, name="physnn.Perturbed", config=init_args_config,
         build=build_from_init_args, get_state=_perturbed_state, set_state=_perturbed_set_state)


def _builtin_exception(name: str) -> type:
    e = getattr(builtins, name, None)
    if not (isinstance(e, type) and issubclass(e, BaseException)):
        raise ValueError(f"retry_on names {name!r}, which is not a built-in exception")
    return e


def _callable_config(o: CallableLayer) -> dict:
    rec = init_args_config(o)
    for e in o.retry_on:
        if getattr(builtins, e.__name__, None) is not e:
            raise PersistError(f"cannot save CallableLayer {o.name!r}: retry_on holds "
                               f"{e.__module__}.{e.__qualname__}; only built-in exception "
                               "types can be saved")
    kwargs = {k: v for k, v in rec["kwargs"].items() if k != "retry_on"}
    kwargs["name"] = o.name
    return {"driver": o.name, "args": rec["args"][1:], "kwargs": kwargs,
            "retry_on": [e.__name__ for e in o.retry_on]}


def _callable_build(config: dict, ctx: Any) -> CallableLayer:
    fn = ctx.driver(config["driver"])
    retry_on = tuple(_builtin_exception(n) for n in config["retry_on"])
    return CallableLayer(fn, *config["args"], retry_on=retry_on, **config["kwargs"])


register(CallableLayer, name="physnn.CallableLayer", config=_callable_config,
         build=_callable_build, get_state=_layer_state, set_state=_layer_set_state)


# -- digital layers, blocks, networks --------------------------------------------------------
def _linear_set_state(o: Linear, st: dict) -> None:
    if st["params"] is not None:
        o.params = st["params"]


register(Linear, name="physnn.Linear",
         config=lambda o: {"in_features": o.in_features, "out_features": o.out_features,
                           "bias": o.use_bias, "dtype": o.dtype},
         build=lambda c, ctx: Linear(c["in_features"], c["out_features"], bias=c["bias"],
                                     dtype=c["dtype"]),
         get_state=lambda o: {"params": o.params}, set_state=_linear_set_state)

register(Block, name="physnn.Block",
         config=lambda o: {"physical": o.physical, "digital": o.digital, "skip": o.skip,
                           "encode": o.encode},
         build=lambda c, ctx: Block(c["physical"], c["digital"], skip=c["skip"],
                                    encode=c["encode"]))


def _net_set_state(o: PhysicalNetwork, st: dict) -> None:
    o.uid = st["uid"]
    o.readout = st["readout"]


register(PhysicalNetwork, name="physnn.PhysicalNetwork",
         config=lambda o: {"blocks": list(o.blocks)},
         build=lambda c, ctx: PhysicalNetwork(c["blocks"]),
         get_state=lambda o: {"uid": o.uid, "readout": o.readout}, set_state=_net_set_state)


def _snn_set_state(o: SpikingNetwork, st: dict) -> None:
    params = list(st["params"])
    if len(params) != len(o.layers):
        raise ValueError(f"{len(params)} parameter records for {len(o.layers)} layers")
    for i, (layer, p) in enumerate(zip(o.layers, params, strict=True)):
        ref = o.params[i]
        if p.weight.shape != ref.weight.shape or p.bias.shape != ref.bias.shape:
            raise ValueError(f"layer {i} ({layer}) needs weight {ref.weight.shape} and bias "
                             f"{ref.bias.shape}, the file has {p.weight.shape} and "
                             f"{p.bias.shape}")
    o.params = [LayerParams(np.array(p.weight, np.float32), np.array(p.bias, np.float32))
                for p in params]


register(SpikingNetwork, name="physnn.SpikingNetwork",
         config=lambda o: {"layers": list(o.layers), "beta": o.beta, "threshold": o.threshold,
                           "surrogate": o.surrogate, "readout": o.readout,
                           "convention": o.convention, "reset": o.reset,
                           "detach_reset": o.detach_reset},
         build=lambda c, ctx: SpikingNetwork(list(c["layers"]), beta=c["beta"],
                                             threshold=c["threshold"], surrogate=c["surrogate"],
                                             readout=c["readout"], convention=c["convention"],
                                             reset=c["reset"], detach_reset=c["detach_reset"]),
         get_state=lambda o: {"params": list(o.params)}, set_state=_snn_set_state)

# -- optimizers ------------------------------------------------------------------------------
register(Adam, name="physnn.Adam",
         config=lambda o: {"lr": o.lr, "betas": o.betas, "eps": o.eps,
                           "weight_decay": o.weight_decay},
         build=lambda c, ctx: Adam(c["lr"], betas=c["betas"], eps=c["eps"],
                                   weight_decay=c["weight_decay"]))
register(SGD, name="physnn.SGD",
         config=lambda o: {"lr": o.lr, "momentum": o.momentum, "weight_decay": o.weight_decay},
         build=lambda c, ctx: SGD(c["lr"], momentum=c["momentum"],
                                  weight_decay=c["weight_decay"]))


# -- learners: configuration + training state ------------------------------------------------
def _local_state(o: Any) -> dict:
    return {"state": o.state, "net_uid": o._net_uid, "train_macs": int(o.train_macs),
            "eval_queries": int(o._eval_queries), "num_classes": o.num_classes}


def _local_set_state(o: Any, st: dict) -> None:
    o.state = st["state"]
    o._net_uid = st["net_uid"]
    o.train_macs = int(st["train_macs"])
    o._eval_queries = int(st["eval_queries"])
    o.num_classes = st["num_classes"]


def _build_kwargs(c: dict, ctx: Any) -> Any:
    return ctx.cls(**{**c, "backend": ctx.backend(c["backend"])})


_COMMON = ("inner_steps", "optimizer", "backend")
for _cls, _fields in ((PhyLL, ("alpha", "overlay", "negatives")),
                      (ForwardForward, ("theta", "alpha", "overlay", "negatives")),
                      (LocalReadout, ())):
    register(_cls, name=f"physnn.{_cls.__name__}",
             config=lambda o, f=_fields: {**{k: getattr(o, k) for k in (*f, *_COMMON)},
                                          "num_classes": o._fixed_classes},
             build=_build_kwargs, get_state=_local_state, set_state=_local_set_state)


def _spiking_set_state(o: Any, st: dict) -> None:
    o._opt_states = None if st["opt_states"] is None else list(st["opt_states"])


for _cls, _fields in ((BPTT, ()), (SLTT, ("k", "online"))):
    register(_cls, name=f"physnn.{_cls.__name__}",
             config=lambda o, f=_fields: {k: getattr(o, k) for k in
                                          ("num_steps", "optimizer", "encoder", "backend", *f)},
             build=_build_kwargs,
             get_state=lambda o: {"opt_states": o._opt_states}, set_state=_spiking_set_state)
