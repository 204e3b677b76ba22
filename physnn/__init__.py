"""physnn: simulate neuromorphic and physical neural networks and train them without
backpropagating through the physics.

- spiking neurons (:func:`lif`, :func:`synaptic`, :func:`alif`) with surrogate-gradient
  backward kernels (:func:`lif_backward`, :func:`sltt_backward`);
- 2-D scalar-wave simulation (:func:`simulate_wave`);
- the :class:`PhysicalLayer` protocol, :class:`CallableLayer` for real instruments,
  :mod:`perturb` for the imperfections of real hardware over time, and :mod:`robustness` to
  test a deployed network (frozen or adapting online) against them;
- digital layers, networks and local learning rules (:mod:`learning`: PhyLL, FF, SLTT, BPTT).
"""

from __future__ import annotations

# _registry registers physnn's own classes for save / load
from . import (  # noqa: F401
    _registry,
    data,
    encoders,
    learning,
    optim,
    persist,
    perturb,
    readouts,
    robustness,
    surrogate,
)
from .backends import BackendUnavailableError, available_backends, resolve_backend
from .interop_nir import from_nir, to_nir
from .layers import Linear, LinearParams
from .nets import Block, PhysicalLayerError, PhysicalNetwork
from .persist import PersistError, load, save
from .perturb import Perturbed
from .physical import CallableLayer, PhysicalLayer, PhysicalQueryError
from .spiking import (
    ALIFState,
    LIFState,
    SynapticState,
    alif,
    lif,
    lif_backward,
    sltt_backward,
    synaptic,
)
from .wave import WaveMedium, WaveResult, WaveState, simulate_wave

__version__ = "0.1.0"

__all__ = [
    "ALIFState",
    "BackendUnavailableError",
    "Block",
    "CallableLayer",
    "LIFState",
    "Linear",
    "LinearParams",
    "PhysicalLayer",
    "PhysicalLayerError",
    "PhysicalNetwork",
    "PhysicalQueryError",
    "PersistError",
    "Perturbed",
    "SynapticState",
    "WaveMedium",
    "WaveResult",
    "WaveState",
    "alif",
    "available_backends",
    "data",
    "encoders",
    "from_nir",
    "learning",
    "lif",
    "lif_backward",
    "load",
    "optim",
    "perturb",
    "persist",
    "readouts",
    "resolve_backend",
    "robustness",
    "save",
    "simulate_wave",
    "sltt_backward",
    "surrogate",
    "synaptic",
    "to_nir",
]
