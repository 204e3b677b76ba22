"""physnn's experiments: each reproduces one published claim as one figure and one JSON record.

Every experiment is a function of a typed config dataclass whose defaults are the paper's
settings (see :mod:`physnn.experiments._base` for what a module provides)::

    from physnn import experiments

    cfg = experiments.make_config("phyll_digits_demo", quick=True, overrides=["epochs=3"])
    rec = experiments.run("phyll_digits_demo", cfg, out="out")   # writes out/<name>.json, .png
    again = experiments.replay("out/phyll_digits_demo.json", out="out2")
    assert again.record["metrics"] == rec.record["metrics"]

From the shell: ``physnn list``, ``physnn run NAME [--quick] [--set key=value] --out DIR``,
``physnn run --config DIR/NAME.json`` (replay), ``physnn sweep NAME ...`` (:mod:`physnn.sweep`).

Adding an experiment is one entry: write ``physnn/experiments/<name>.py`` (``Config``,
``QUICK``, ``run``) and add ``register("<name>", "physnn.experiments.<name>", "one line")``
below. This package and :mod:`physnn.cli` are the top layer: they build on
``hardware_models``; nothing else in physnn imports them.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

from ..config import ConfigError, ConfigFile, build, load_file, parse_assignment, parse_text
from ._base import Device, Result, RunContext, TrialPruned, help_field, mean_std
from ._runner import Executed, check_device, check_out, execute, write_outputs

__all__ = [
    "EXPERIMENTS",
    "Device",
    "Executed",
    "Experiment",
    "Result",
    "RunContext",
    "RunOutput",
    "TrialPruned",
    "UnknownExperimentError",
    "check_device",
    "check_out",
    "config_rows",
    "execute",
    "get",
    "help_field",
    "make_config",
    "mean_std",
    "names",
    "register",
    "replay",
    "resolve",
    "run",
    "write_outputs",
]


class UnknownExperimentError(ConfigError):
    """No experiment of that name is registered; the message lists those that are."""


@dataclasses.dataclass(frozen=True)
class Experiment:
    """A registered experiment: its name, the module that implements it, one line about it.

    The module is imported only when the experiment is used, so listing them is cheap.
    """

    name: str
    module: str
    description: str

    def load(self) -> ModuleType:
        """The implementing module (checked for ``Config``, ``QUICK`` and ``run``)."""
        mod = importlib.import_module(self.module)
        for attr in ("Config", "QUICK", "run"):
            if not hasattr(mod, attr):
                raise TypeError(f"experiment {self.name!r}: module {self.module} has no {attr}")
        return mod

    @property
    def config_class(self) -> type:
        """The experiment's config dataclass."""
        return self.load().Config

    def default_config(self) -> Any:
        """The paper's settings."""
        return self.config_class()

    def quick_config(self) -> Any:
        """The settings of a ``--quick`` (smoke / CI) run."""
        return build(self.config_class, self.load().QUICK, source="QUICK", owner=self.name)


#: name -> :class:`Experiment`, in the order ``physnn list`` shows them.
EXPERIMENTS: dict[str, Experiment] = {}


def register(name: str, module: str, description: str) -> Experiment:
    """Register the experiment ``name`` implemented by the importable ``module``."""
    if not name.isidentifier():
        raise ValueError(f"experiment names are identifiers, got {name!r}")
    exp = Experiment(name, module, description)
    EXPERIMENTS[name] = exp
    return exp


_HERE = "physnn.experiments"
register("phyll_digits_demo", f"{_HERE}.phyll_digits_demo",
         "8x8 digits through two optical speckle layers: PhyLL, its controls, digital baselines")
register("phyll_vowels", f"{_HERE}.phyll_vowels",
         "7 vowels from formants, two measured acoustic blocks: PhyLL, FF, local readout")
register("phyll_microwave_vowels", f"{_HERE}.phyll_microwave_vowels",
         "7 vowels from formants, three microwave-cavity blocks (PhysFad), PhyLL")
register("phyll_fashion_optics", f"{_HERE}.phyll_fashion_optics",
         "Fashion-MNIST through two optical speckle blocks: PhyLL and local readout (~1 h)")
register("phyll_wave_audio", f"{_HERE}.phyll_wave_audio",
         "vowels from raw audio through nonlinear wave cavities, speaker-disjoint folds")
register("phyll_vs_pat", f"{_HERE}.phyll_vs_pat",
         "PhyLL vs physics-aware, in-silico and digital training as the device drifts")
register("sltt_vs_bptt", f"{_HERE}.sltt_vs_bptt",
         "SLTT vs BPTT on Fashion-MNIST: accuracy, memory and time as T grows")
register("hardware_gallery", f"{_HERE}.hardware_gallery",
         "every hardware model's response, with and without a perturbation")
register("wave_cavity_demo", f"{_HERE}.wave_cavity_demo",
         "the field and probe signals of a nonlinear wave cavity; superposition test")
register("spiking_demo", f"{_HERE}.spiking_demo",
         "a LIF population driven by Poisson spikes: raster, membranes, rate")
register("physics_vs_digital_compute", f"{_HERE}.physics_vs_digital_compute",
         "Fashion-MNIST accuracy vs digital MACs per image: optics (PhyLL, readout) vs MLPs")
register("robustness", f"{_HERE}.robustness",
         "deployed networks under drift, shifts, noise, dead channels: frozen vs online vs twins")


def names() -> list[str]:
    """The registered experiments' names."""
    return list(EXPERIMENTS)


def get(name: str | Experiment) -> Experiment:
    """The experiment ``name``; :class:`UnknownExperimentError` lists the valid names."""
    if isinstance(name, Experiment):
        return name
    try:
        return EXPERIMENTS[name]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(str(name), list(EXPERIMENTS), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise UnknownExperimentError(
            f"unknown experiment {name!r}{hint}; choose from: {', '.join(EXPERIMENTS)} "
            "(`physnn list` describes them)") from None


def _with_overrides(exp: Experiment, config: Any, overrides: Iterable[str],
                    source: str = "--set") -> Any:
    from ..config import field_types

    types_ = field_types(type(config))
    values = {}
    for text in overrides:
        key, value = parse_assignment(text, source)
        if key not in types_:
            build(type(config), {key: None}, base=config, source=f"{source} {text}",
                  owner=exp.name)  # raises the unknown-key error
        values[key] = parse_text(key, types_[key], value, f"{source} {text}")
    return build(type(config), values, base=config, source=source, owner=exp.name)


def make_config(name: str | Experiment, *, quick: bool = False,
                config_file: str | os.PathLike | ConfigFile | None = None,
                overrides: Iterable[str] = (), **values: Any) -> Any:
    """An experiment's config: defaults, then ``quick``, the file, ``values``, ``overrides``.

    Parameters
    ----------
    name : str
        A registered experiment.
    quick : bool
        Start from the ``--quick`` settings instead of the paper's.
    config_file : path or ConfigFile, optional
        A TOML file, or a run's JSON record (which replays that run).
    overrides : iterable of str
        ``"key=value"`` texts, parsed for each field's type (``--set``).
    **values
        Settings as Python values.

    Raises
    ------
    ConfigError
        Unknown experiment or key, a value of the wrong type, a file that does not parse or
        that names another experiment.
    """
    exp = get(name)
    cls = exp.config_class
    config = exp.quick_config() if quick else cls()
    if config_file is not None:
        cf = config_file if isinstance(config_file, ConfigFile) else load_file(config_file)
        if cf.experiment is not None and cf.experiment != exp.name:
            raise ConfigError(f"--config {str(cf.path)!r} is a config of {cf.experiment!r}, "
                              f"not of {exp.name!r}")
        config = build(cls, cf.values, base=config, source=f"--config {cf.path}",
                       owner=exp.name)
    if values:
        config = build(cls, values, base=config, source="keyword arguments", owner=exp.name)
    return _with_overrides(exp, config, overrides)


@dataclasses.dataclass
class RunOutput:
    """A finished :func:`run`: the record, the written files, and the experiment's result."""

    record: dict
    json_path: Path | None
    png_path: Path | None
    result: Result


def run(name: str | Experiment, config: Any = None, *, out: str | os.PathLike | None = "out",
        progress: bool = True) -> RunOutput:
    """Run an experiment and write ``<out>/<name>.json`` and ``<out>/<name>.png``.

    Parameters
    ----------
    name : str
        A registered experiment.
    config : the experiment's Config, optional
        Default: the paper's settings (:func:`make_config` builds others).
    out : path or None
        The output folder, checked for writing before any work; ``None`` writes nothing.
    progress : bool
        Progress bars in the learners (drawn only on a terminal).
    """
    exp = get(name)
    mod = exp.load()
    if config is None:
        config = mod.Config()
    if not isinstance(config, mod.Config):
        raise TypeError(f"config must be a {exp.module}.Config, got {type(config).__name__}")
    if out is not None:
        check_out(out, exp.name)
    check_device(config)
    if hasattr(mod, "check"):
        mod.check(config)
    done = execute(exp.name, mod, config, progress=progress)
    js = png = None
    if out is not None:
        js, png = write_outputs(out, exp.name, done)
    return RunOutput(done.record, js, png, done.result)


def replay(path: str | os.PathLike, *, out: str | os.PathLike | None = "out",
           progress: bool = True) -> RunOutput:
    """Run again the run recorded in ``path`` (its ``<name>.json``) with the same config."""
    cf = load_file(path)
    if cf.experiment is None:
        raise ConfigError(f"--config {str(path)!r} does not name its experiment (no "
                          "run.experiment): give the experiment's name as well")
    return run(cf.experiment, make_config(cf.experiment, config_file=cf), out=out,
               progress=progress)


def resolve(name: str | None, config_file: str | os.PathLike | None) -> tuple[Experiment,
                                                                              ConfigFile | None]:
    """The experiment meant by a command line's ``NAME`` and ``--config FILE``."""
    cf = load_file(config_file) if config_file is not None else None
    if name is None:
        if cf is None:
            raise ConfigError("give an experiment NAME or --config FILE (a run's JSON record "
                              "names its experiment); `physnn list` shows the names")
        if cf.experiment is None:
            raise ConfigError(f"--config {str(cf.path)!r} does not name its experiment: "
                              "give NAME as well")
        name = cf.experiment
    return get(name), cf


def config_rows(name: str | Experiment) -> list[tuple[str, str, Any, Any, str]]:
    """``(key, type, default, quick, help)`` rows of an experiment's settings."""
    from ..config import describe

    exp = get(name)
    return describe(exp.default_config(), exp.quick_config())
