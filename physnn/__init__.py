"""physnn: simulate neuromorphic and physical neural networks and train them without
backpropagating through the physics.

- spiking neurons (:func:`lif`, :func:`synaptic`, :func:`alif`) with surrogate-gradient
  backward kernels (:func:`lif_backward`, :func:`sltt_backward`);
- 2-D scalar-wave simulation (:func:`simulate_wave`);
- the :class:`PhysicalLayer` protocol, :class:`CallableLayer` for real instruments, and
  :mod:`perturb` for the imperfections of real hardware;
- digital layers, networks and local learning rules (:mod:`learning`: PhyLL, FF, SLTT, BPTT).
"""

from __future__ import annotations

from . import data, encoders, learning, optim, perturb, surrogate
from .backends import BackendUnavailableError, available_backends, resolve_backend
from .layers import Linear, LinearParams
from .nets import Block, PhysicalLayerError, PhysicalNetwork
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
    "Perturbed",
    "SynapticState",
    "WaveMedium",
    "WaveResult",
    "WaveState",
    "alif",
    "available_backends",
    "data",
    "encoders",
    "learning",
    "lif",
    "lif_backward",
    "optim",
    "perturb",
    "resolve_backend",
    "simulate_wave",
    "sltt_backward",
    "surrogate",
    "synaptic",
]
