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

# make every model savable with physnn.save / physnn.load (an explicit registry: a file names
# these classes, it never makes physnn import a name it found in the file)
from physnn.persist import register as _register  # noqa: E402

from ._mlp import MLP as _MLP  # noqa: E402

for _cls in (AcousticCavity, AcousticFit, AcousticParams, Camera, MicrowaveCavity,  # noqa: B007
             MicrowaveParams, OpticalParams, OpticalSpeckle, SpikingParams, SpikingSubstrate,
             CavityGeometry, WaveCavity, WaveCavityParams, _MLP):
    _register(_cls, name=f"hardware_models.{_cls.__name__}")
