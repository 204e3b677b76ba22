"""Concrete physical systems, each a :class:`physnn.PhysicalLayer`."""

from .acoustic import AcousticCavity, AcousticFit, AcousticParams, load_acoustic_measurements
from .microwave import MicrowaveCavity, MicrowaveParams
from .optical import Camera, OpticalParams, OpticalSpeckle
from .spiking_substrate import SpikingParams, SpikingSubstrate

__all__ = [
    "AcousticCavity",
    "AcousticFit",
    "AcousticParams",
    "Camera",
    "MicrowaveCavity",
    "MicrowaveParams",
    "OpticalParams",
    "OpticalSpeckle",
    "SpikingParams",
    "SpikingSubstrate",
    "load_acoustic_measurements",
]

from .wave_cavity import CavityGeometry, WaveCavity, WaveCavityParams  # noqa: E402

__all__ += ["CavityGeometry", "WaveCavity", "WaveCavityParams"]

from .acoustic import acoustic_cavity_from_physics  # noqa: E402

__all__ += ["acoustic_cavity_from_physics"]
