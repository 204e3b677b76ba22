"""Concrete physical systems, each a :class:`physnn.PhysicalLayer`."""

from .acoustic import AcousticCavity, AcousticFit, AcousticParams, load_acoustic_measurements
from .optical import Camera, OpticalParams, OpticalSpeckle

__all__ = [
    "AcousticCavity",
    "AcousticFit",
    "AcousticParams",
    "Camera",
    "OpticalParams",
    "OpticalSpeckle",
    "load_acoustic_measurements",
]
