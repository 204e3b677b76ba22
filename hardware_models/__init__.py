"""Concrete physical systems, each a :class:`physnn.PhysicalLayer`."""

from .acoustic import AcousticCavity, AcousticFit, AcousticParams, load_acoustic_measurements
from .microwave import MicrowaveCavity, MicrowaveParams
from .optical import Camera, OpticalParams, OpticalSpeckle

__all__ = [
    "AcousticCavity",
    "AcousticFit",
    "AcousticParams",
    "Camera",
    "MicrowaveCavity",
    "MicrowaveParams",
    "OpticalParams",
    "OpticalSpeckle",
    "load_acoustic_measurements",
]
