"""physnn: simulate neuromorphic and physical neural networks and train them without
backpropagating through the physics."""

from __future__ import annotations

from .backends import BackendUnavailableError, available_backends, resolve_backend
from .physical import PhysicalLayer

__version__ = "0.1.0"

__all__ = [
    "BackendUnavailableError",
    "PhysicalLayer",
    "available_backends",
    "resolve_backend",
]
