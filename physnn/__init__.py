"""physnn: simulate neuromorphic and physical neural networks and train them without
backpropagating through the physics."""

from __future__ import annotations

from . import encoders, surrogate
from .backends import BackendUnavailableError, available_backends, resolve_backend
from .physical import PhysicalLayer
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

__version__ = "0.1.0"

__all__ = [
    "ALIFState",
    "LIFState",
    "SynapticState",
    "alif",
    "encoders",
    "lif",
    "lif_backward",
    "sltt_backward",
    "surrogate",
    "synaptic",
    "BackendUnavailableError",
    "PhysicalLayer",
    "available_backends",
    "resolve_backend",
]

from .physical import CallableLayer, PhysicalQueryError  # noqa: E402

__all__ += ["CallableLayer", "PhysicalQueryError"]

from . import data, learning, optim  # noqa: E402
from .layers import Linear, LinearParams  # noqa: E402
from .nets import Block, PhysicalLayerError, PhysicalNetwork  # noqa: E402

__all__ += ["Block", "Linear", "LinearParams", "PhysicalLayerError", "PhysicalNetwork", "data",
            "learning", "optim"]

from . import perturb  # noqa: E402
from .perturb import Perturbed  # noqa: E402

__all__ += ["Perturbed", "perturb"]

from .wave import WaveMedium, WaveResult, WaveState, simulate_wave  # noqa: E402

__all__ += ["WaveMedium", "WaveResult", "WaveState", "simulate_wave"]
