"""Save and load trained networks and their learners: data, never code.

A physnn file is a zip archive holding

- ``manifest.json``: the format name and version, the physnn version, and a tree that
  describes every object (its registered class name, its constructor configuration and its
  mutable state: parameters, readout, query counters, generators, perturbation states,
  optimizer moments);
- ``arrays/<key>.npy``: every array of that tree, in NumPy's ``.npy`` format, read with
  ``allow_pickle=False``.

Loading a file never runs code from it: classes are rebuilt through an explicit registry
(:func:`register`), never by importing a name found in the file, and arrays are never
unpickled. Hardware models are rebuilt from their constructor arguments and seeds (the
speckle transmission matrix from its seed, for example); what cannot be regenerated (a fitted
surrogate's weights) is stored as arrays. A :class:`~physnn.CallableLayer` wraps a driver of a
real instrument, which is code: the file keeps its name only, and :func:`load` needs the
driver again (``drivers={name: fn}``).

Writes are atomic: a reader sees the old file or the whole new one.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import io
import json
import math
import os
import zipfile
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ._io import atomic_write_bytes
from .backends import BackendUnavailableError

__all__ = [
    "FORMAT_VERSION",
    "PersistError",
    "check_writable",
    "load",
    "register",
    "register_function",
    "save",
]

#: Version of the file layout this physnn writes (and the newest it reads).
FORMAT_VERSION = 1
_FORMAT = "physnn"
_MANIFEST = "manifest.json"

#: Packages that register their own classes, imported (by this fixed list, never by a name read
#: from a file) the first time a registry lookup misses.
_PLUGIN_MODULES = ("hardware_models",)


class PersistError(ValueError):
    """A physnn file cannot be written or read: the message names the file and the problem."""


# ----------------------------------------------------------------------------- registry


@dataclasses.dataclass(frozen=True)
class _Adapter:
    """How one class is saved: its constructor config, its mutable state, and the way back."""

    cls: type
    config: Callable[[Any], dict]
    build: Callable[[dict, Any], Any]
    get_state: Callable[[Any], dict]
    set_state: Callable[[Any, dict], None]


_CLASSES: dict[str, type] = {}
_ADAPTERS: dict[type, _Adapter] = {}
_NAMES: dict[type, str] = {}
_FUNCTIONS: dict[str, Callable] = {}
_FUNCTION_NAMES: dict[Callable, str] = {}


def _default_name(cls: type) -> str:
    return f"{cls.__module__.split('.')[0]}.{cls.__qualname__}"


def register(cls: type | None = None, *, name: str | None = None,
             config: Callable[[Any], dict] | None = None,
             build: Callable[[dict, Any], Any] | None = None,
             get_state: Callable[[Any], dict] | None = None,
             set_state: Callable[[Any, dict], None] | None = None):
    """Make a class savable (usable as a decorator).

    Dataclasses and ``NamedTuple`` records are saved field by field and need nothing else.
    A :class:`~physnn.PhysicalLayer` subclass is saved by the arguments its constructor was
    called with, plus its query counter, its own generator and its ``params``; override
    nothing unless it keeps other mutable state. Any other class passes the four functions:

    Parameters
    ----------
    cls : type
    name : str, optional
        Name written into files (default ``"<top package>.<class name>"``). Renaming a class
        later keeps old files loadable when this name stays.
    config : callable, optional
        ``config(obj) -> dict`` of constructor settings (values savable in turn).
    build : callable, optional
        ``build(config, ctx) -> obj``.
    get_state, set_state : callable, optional
        ``get_state(obj) -> dict`` and ``set_state(obj, state)`` for what changes after
        construction (parameters, counters, generators).
    """
    if cls is None:
        return functools.partial(register, name=name, config=config, build=build,
                                 get_state=get_state, set_state=set_state)
    if not isinstance(cls, type):
        raise TypeError(f"cls must be a class, got {cls!r}")
    key = name or _default_name(cls)
    if key in _CLASSES and _CLASSES[key] is not cls:
        raise ValueError(f"the name {key!r} is already registered for {_CLASSES[key]!r}")
    _CLASSES[key] = cls
    _NAMES[cls] = key
    if config is not None or build is not None:
        if config is None or build is None:
            raise TypeError("register: give both config and build, or neither")
        _ADAPTERS[cls] = _Adapter(cls, config, build, get_state or (lambda o: {}),
                                  set_state or (lambda o, s: None))
    return cls


def register_function(fn: Callable, name: str | None = None) -> Callable:
    """Make a plain function savable by name (e.g. a :class:`~physnn.Block`'s ``encode``).

    The same name must be registered before :func:`load` in the process that loads.
    """
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {fn!r}")
    key = name or f"{fn.__module__.split('.')[0]}.{fn.__qualname__}"
    if key in _FUNCTIONS and _FUNCTIONS[key] is not fn:
        raise ValueError(f"the function name {key!r} is already registered")
    _FUNCTIONS[key] = fn
    _FUNCTION_NAMES[fn] = key
    return fn


def _import_plugins() -> None:
    import importlib

    for mod in _PLUGIN_MODULES:
        try:
            importlib.import_module(mod)
        except ImportError:  # pragma: no cover - the plugin is not installed
            pass


def _lookup(table: Mapping[str, Any], name: str, kind: str, where: str) -> Any:
    if name not in table:
        _import_plugins()
    if name not in table:
        raise PersistError(
            f"unknown {kind} {name!r} at {where}; register it with physnn.persist.register"
            + ("_function" if kind == "function" else "") + " before loading")
    return table[name]


def _adapter(cls: type) -> _Adapter | None:
    for klass in cls.__mro__:
        if klass in _ADAPTERS:
            return _ADAPTERS[klass]
    return None


# ----------------------------------------------------------------------------- tree codec


def _scalar(v: float) -> Any:
    return v if math.isfinite(v) else {"__float__": repr(v)}


class _Writer:
    """Turns objects into a JSON-ready tree; arrays go to :attr:`arrays`."""

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}

    def array(self, a: np.ndarray, where: str) -> dict:
        if a.dtype.hasobject:
            raise PersistError(f"cannot save {where}: object arrays are not data")
        key = f"a{len(self.arrays)}"
        self.arrays[key] = np.ascontiguousarray(a)
        return {"__array__": key}

    def enc(self, v: Any, where: str) -> Any:
        if v is None or isinstance(v, bool | str):
            return v
        if isinstance(v, int) and not isinstance(v, np.integer):
            return v
        if isinstance(v, float):
            return _scalar(v)
        if isinstance(v, np.generic):
            item = v.item()
            return {"__scalar__": v.dtype.str,
                    "value": _scalar(item) if isinstance(item, float) else item}
        if isinstance(v, np.ndarray):
            return self.array(v, where)
        if isinstance(v, np.dtype):
            return {"__dtype__": v.str}
        if isinstance(v, np.random.Generator):
            return {"__rng__": self.rng(v, where)}
        if isinstance(v, tuple) and hasattr(v, "_fields"):
            name = self._name(type(v), where)
            return {"__record__": name, "fields": {f: self.enc(getattr(v, f), f"{where}.{f}")
                                                   for f in v._fields}}
        if isinstance(v, tuple):
            return {"__tuple__": [self.enc(x, f"{where}[{i}]") for i, x in enumerate(v)]}
        if isinstance(v, list):
            return [self.enc(x, f"{where}[{i}]") for i, x in enumerate(v)]
        if isinstance(v, dict):
            for k in v:
                if not isinstance(k, str):
                    raise PersistError(f"cannot save {where}: dict keys must be str, got {k!r}")
            return {"__dict__": {k: self.enc(x, f"{where}.{k}") for k, x in v.items()}}
        if dataclasses.is_dataclass(v) and not isinstance(v, type) and _adapter(type(v)) is None:
            name = self._name(type(v), where)
            return {"__dataclass__": name,
                    "fields": {f.name: self.enc(getattr(v, f.name), f"{where}.{f.name}")
                               for f in dataclasses.fields(v) if f.init}}
        if callable(v) and not isinstance(v, type) and _adapter(type(v)) is None:
            try:
                name = _FUNCTION_NAMES[v]
            except (KeyError, TypeError):
                raise PersistError(
                    f"cannot save {where}: {v!r} is code, not data; register it with "
                    "physnn.persist.register_function(fn, name) before saving and loading"
                ) from None
            return {"__function__": name}
        return self.obj(v, where)

    def _name(self, cls: type, where: str) -> str:
        try:
            return _NAMES[cls]
        except KeyError:
            raise PersistError(
                f"cannot save {where}: {cls.__module__}.{cls.__qualname__} is not registered; "
                "register it with physnn.persist.register") from None

    def obj(self, v: Any, where: str) -> dict:
        name = self._name(type(v), where)
        ad = _adapter(type(v))
        if ad is None:
            raise PersistError(f"cannot save {where}: {name} has no save adapter")
        return {"__object__": name, "config": self.enc(ad.config(v), f"{where}.config"),
                "state": self.enc(ad.get_state(v), f"{where}.state")}

    def rng(self, g: np.random.Generator, where: str) -> dict:
        bg = g.bit_generator
        ss = bg.seed_seq
        seq = None
        if isinstance(ss, np.random.SeedSequence):
            seq = {"entropy": ss.entropy, "spawn_key": list(ss.spawn_key),
                   "pool_size": ss.pool_size, "n_children_spawned": ss.n_children_spawned}
        if type(bg).__name__ not in _BIT_GENERATORS:
            raise PersistError(f"cannot save {where}: bit generator {type(bg).__name__}")
        return {"bit_generator": type(bg).__name__, "state": self.enc(bg.state, where),
                "seed_seq": self.enc(seq, where)}


_BIT_GENERATORS = {c.__name__: c for c in (np.random.PCG64, np.random.PCG64DXSM,
                                           np.random.Philox, np.random.SFC64,
                                           np.random.MT19937)}


class _Reader:
    """Rebuilds objects from a tree written by :class:`_Writer`."""

    def __init__(self, arrays: Mapping[str, np.ndarray], drivers: Mapping[str, Callable],
                 source: str, backend: str | None = None) -> None:
        self.arrays = arrays
        self.drivers = dict(drivers)
        self.source = source
        self.backend = backend
        self.used_drivers: set[str] = set()

    def dec(self, v: Any, where: str) -> Any:
        if isinstance(v, list):
            return [self.dec(x, f"{where}[{i}]") for i, x in enumerate(v)]
        if not isinstance(v, dict):
            return v
        if "__float__" in v:
            return float(v["__float__"])
        if "__scalar__" in v:
            val = v["value"]
            val = float(val["__float__"]) if isinstance(val, dict) else val
            return np.dtype(v["__scalar__"]).type(val)
        if "__array__" in v:
            try:
                return self.arrays[v["__array__"]]
            except KeyError:
                raise PersistError(f"{self.source}: array {v['__array__']!r} of {where} is "
                                   "missing from the file (truncated or edited?)") from None
        if "__dtype__" in v:
            return np.dtype(v["__dtype__"])
        if "__rng__" in v:
            return self.rng(v["__rng__"], where)
        if "__tuple__" in v:
            return tuple(self.dec(x, f"{where}[{i}]") for i, x in enumerate(v["__tuple__"]))
        if "__dict__" in v:
            return {k: self.dec(x, f"{where}.{k}") for k, x in v["__dict__"].items()}
        if "__record__" in v:
            cls = _lookup(_CLASSES, v["__record__"], "record class", where)
            fields = {k: self.dec(x, f"{where}.{k}") for k, x in v["fields"].items()}
            return self._construct(cls, (), fields, where)
        if "__dataclass__" in v:
            cls = _lookup(_CLASSES, v["__dataclass__"], "class", where)
            if not dataclasses.is_dataclass(cls):
                raise PersistError(f"{self.source}: {v['__dataclass__']!r} at {where} is not a "
                                   "dataclass")
            fields = {k: self.dec(x, f"{where}.{k}") for k, x in v["fields"].items()}
            return self._construct(cls, (), fields, where)
        if "__function__" in v:
            return _lookup(_FUNCTIONS, v["__function__"], "function", where)
        if "__object__" in v:
            return self.obj(v, where)
        raise PersistError(f"{self.source}: unreadable entry at {where}")

    def _construct(self, cls: type, args: tuple, kwargs: dict, where: str) -> Any:
        try:
            return cls(*args, **kwargs)
        except (TypeError, ValueError, KeyError) as exc:
            raise PersistError(f"{self.source}: cannot rebuild {cls.__qualname__} at {where}: "
                               f"{exc}") from exc

    def obj(self, v: dict, where: str) -> Any:
        cls = _lookup(_CLASSES, v["__object__"], "class", where)
        ad = _adapter(cls)
        if ad is None:
            raise PersistError(f"{self.source}: {v['__object__']!r} at {where} has no adapter")
        config = self.dec(v["config"], f"{where}.config")
        try:
            o = ad.build(config, _BuildContext(self, where, cls))
            ad.set_state(o, self.dec(v["state"], f"{where}.state"))
        except PersistError:
            raise
        except BackendUnavailableError as exc:
            raise PersistError(f"{self.source}: {v['__object__']} at {where} was saved to run on "
                               f"a backend that is not usable here ({exc}); load it with "
                               "physnn.load(path, backend='cpu')") from exc
        except (TypeError, ValueError, KeyError) as exc:
            raise PersistError(f"{self.source}: cannot rebuild {v['__object__']} at {where}: "
                               f"{exc}") from exc
        return o

    def rng(self, d: dict, where: str) -> np.random.Generator:
        bg_cls = _lookup(_BIT_GENERATORS, d["bit_generator"], "bit generator", where)
        seq = self.dec(d["seed_seq"], where)
        ss = (np.random.SeedSequence(seq["entropy"], spawn_key=tuple(seq["spawn_key"]),
                                     pool_size=seq["pool_size"],
                                     n_children_spawned=seq["n_children_spawned"])
              if seq is not None else None)
        bg = bg_cls(ss)
        bg.state = self.dec(d["state"], where)
        return np.random.Generator(bg)


@dataclasses.dataclass
class _BuildContext:
    """What an adapter's ``build`` may need: the drivers and a place for error messages."""

    reader: _Reader
    where: str
    cls: type

    def backend(self, saved: str) -> str:
        """The backend to build with: the one given to :func:`load`, else the saved one."""
        return self.reader.backend or saved

    def driver(self, name: str) -> Callable:
        """The driver given for the :class:`~physnn.CallableLayer` named ``name``."""
        if name not in self.reader.drivers:
            raise PersistError(
                f"{self.reader.source}: the CallableLayer {name!r} at {self.where} wraps a "
                f"driver, which a file cannot hold; pass it again: "
                f"physnn.load(path, drivers={{{name!r}: fn}})")
        self.reader.used_drivers.add(name)
        return self.reader.drivers[name]


# ----------------------------------------------------------------------------- file format


def check_writable(path: str | os.PathLike, name: str = "path") -> Path:
    """Check, before any work, that ``path`` can be written (its folder exists or can be
    made, and is writable; ``path`` is not a folder). Returns ``path`` as a ``Path``."""
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"{name} must be a path (str or os.PathLike), got {type(path).__name__}")
    p = Path(path)
    if p.is_dir():
        raise PersistError(f"{name} {str(p)!r} is a folder; give a file name")
    parent = p.parent
    probe = parent
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        raise PersistError(f"{name} {str(p)!r} cannot be written: {str(probe)!r} is not a "
                           "writable folder")
    return p


def _write(path: Path, manifest: dict, arrays: Mapping[str, np.ndarray]) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as z:
        z.writestr(_MANIFEST, json.dumps(manifest, indent=1, allow_nan=False))
        for key, a in arrays.items():
            b = io.BytesIO()
            np.lib.format.write_array(b, a, allow_pickle=False)
            z.writestr(f"arrays/{key}.npy", b.getvalue())
    atomic_write_bytes(path, buf.getvalue())


def _read(path: Path) -> tuple[dict, dict[str, np.ndarray]]:
    src = str(path)
    if not path.is_file():
        raise FileNotFoundError(f"no physnn file at {src!r}")
    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
            if _MANIFEST not in names:
                raise PersistError(f"{src} is not a physnn file (no {_MANIFEST} inside)")
            manifest = json.loads(z.read(_MANIFEST))
            _check_manifest(manifest, src)
            arrays = {}
            for n in sorted(names - {_MANIFEST}):
                if not (n.startswith("arrays/") and n.endswith(".npy")):
                    raise PersistError(f"{src}: unexpected member {n!r}")
                with z.open(n) as fh:
                    arrays[n[len("arrays/"):-len(".npy")]] = np.lib.format.read_array(
                        io.BytesIO(fh.read()), allow_pickle=False)
    except PersistError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, json.JSONDecodeError,
            UnicodeDecodeError) as exc:
        raise PersistError(f"{src} is truncated, corrupted or not a physnn file ({exc})") from exc
    except ValueError as exc:  # np.lib.format: bad header, or an object array
        raise PersistError(f"{src}: an array entry is corrupted or not plain data ({exc})"
                           ) from exc
    return manifest, arrays


def _check_manifest(m: Any, src: str) -> None:
    if not isinstance(m, dict) or m.get("format") != _FORMAT:
        raise PersistError(f"{src} is not a physnn file (its manifest names no physnn format)")
    v = m.get("format_version")
    if not isinstance(v, int):
        raise PersistError(f"{src}: the manifest has no integer format_version")
    if v > FORMAT_VERSION:
        raise PersistError(
            f"{src} was written in format version {v} by physnn {m.get('physnn_version')}; "
            f"this physnn reads format versions up to {FORMAT_VERSION}: upgrade physnn")
    if v < 1:
        raise PersistError(f"{src}: invalid format_version {v}")
    for key in ("model", "learner"):
        if key not in m:
            raise PersistError(f"{src}: the manifest has no {key!r} entry")


def _version() -> str:
    from . import __version__

    return __version__


def save(path: str | os.PathLike, net: Any, learner: Any = None, *,
         training: dict | None = None) -> Path:
    """Write a network and, optionally, its learner to ``path`` (atomically).

    Parameters
    ----------
    path : str or path-like
        The file to write (conventionally ``*.physnn``); its folder is made if missing.
    net : PhysicalNetwork or SpikingNetwork
        The model: every block's configuration, the hardware models (rebuilt from their
        constructor arguments and seeds at load), the perturbation wrappers with their running
        state, the digital parameters and the readout (goodness vectors / heads) that
        inference needs.
    learner : learner, optional
        Its configuration and its training state (optimizer moments, step counters).
    training : dict, optional
        Progress of an interrupted ``fit`` (written by ``fit(checkpoint=...)``).

    Returns
    -------
    pathlib.Path
    """
    p = check_writable(path)
    w = _Writer()
    manifest = {
        "format": _FORMAT,
        "format_version": FORMAT_VERSION,
        "physnn_version": _version(),
        "model": w.enc(net, "model"),
        "learner": w.enc(learner, "learner"),
        "training": w.enc(training, "training"),
    }
    try:
        _write(p, manifest, w.arrays)
    except OSError as exc:
        raise PersistError(f"cannot write {str(p)!r}: {exc}") from exc
    return p


def load(path: str | os.PathLike, *, drivers: Mapping[str, Callable] | None = None,
         backend: str | None = None) -> tuple[Any, Any]:
    """Read a file written by :func:`save`.

    Parameters
    ----------
    path : str or path-like
    drivers : dict, optional
        ``{name: fn}`` for every :class:`~physnn.CallableLayer` in the network (the drivers of
        real instruments, which a file does not hold).
    backend : {"cpu", "cuda", "auto"}, optional
        Run the learner and the simulated hardware models here instead of where they ran
        when saved (e.g. ``"cpu"`` for a network trained on a GPU machine).

    Returns
    -------
    (net, learner)
        ``learner`` is ``None`` when the file holds none.

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    PersistError
        For a truncated, corrupted or foreign file, a newer format version, an unknown class,
        arrays whose shapes do not match the configuration, or a missing driver; the message
        names the file and the problem.
    """
    if backend is not None and backend not in ("cpu", "cuda", "auto"):
        raise ValueError(f"backend must be 'cpu', 'cuda', 'auto' or None, got {backend!r}")
    net, learner, _ = _load_all(path, drivers, backend)
    return net, learner


def _load_all(path, drivers, backend=None) -> tuple[Any, Any, Any]:
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    if drivers is not None and not isinstance(drivers, Mapping):
        raise TypeError(f"drivers must be a dict {{name: callable}}, got {type(drivers).__name__}")
    p = Path(path)
    manifest, arrays = _read(p)
    r = _Reader(arrays, drivers or {}, str(p), backend)
    net = r.dec(manifest["model"], "model")
    learner = r.dec(manifest["learner"], "learner")
    training = r.dec(manifest.get("training"), "training")
    unused = set(r.drivers) - r.used_drivers
    if unused:
        raise PersistError(f"{p}: drivers {sorted(unused)} were given but the network has no "
                           "CallableLayer of those names")
    return net, learner, training


# ----------------------------------------------------------------------------- restore in place


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.shape == b.shape
                and a.dtype == b.dtype and bool(np.array_equal(a, b, equal_nan=True)))
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return (type(a) is type(b) and len(a) == len(b)
                and all(_same(x, y) for x, y in zip(a, b, strict=True)))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if dataclasses.is_dataclass(a) and dataclasses.is_dataclass(b):
        return type(a) is type(b) and all(_same(getattr(a, f.name), getattr(b, f.name))
                                          for f in dataclasses.fields(a))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    try:
        return bool(a == b) and type(a) is type(b)
    except (TypeError, ValueError):
        return a is b


def restore_into(target: Any, loaded: Any, source: str, where: str = "model") -> None:
    """Copy the mutable state of ``loaded`` (read from ``source``) into ``target`` in place,
    after checking that both have the same configuration (same classes, shapes, seeds).

    Objects the user holds keep their identity (a hardware model, a driver's wrapper).
    """
    if type(target) is not type(loaded):
        raise PersistError(f"{source}: {where} is a {type(loaded).__name__} in the file but a "
                           f"{type(target).__name__} here")
    ad = _adapter(type(target))
    if ad is None:
        if not _same(target, loaded):
            raise PersistError(f"{source}: {where} differs from the file's")
        return
    ct, cl = ad.config(target), ad.config(loaded)
    _restore_config(ct, cl, source, f"{where}.config")
    ad.set_state(target, ad.get_state(loaded))


def _restore_config(ct: Any, cl: Any, source: str, where: str) -> None:
    if isinstance(ct, dict) and isinstance(cl, dict):
        if ct.keys() != cl.keys():
            raise PersistError(f"{source}: {where} has settings {sorted(cl)} in the file, "
                               f"{sorted(ct)} here")
        for k in ct:
            _restore_config(ct[k], cl[k], source, f"{where}.{k}")
        return
    if isinstance(ct, list | tuple) and not hasattr(ct, "_fields") and isinstance(
            cl, list | tuple):
        if len(ct) != len(cl):
            raise PersistError(f"{source}: {where} has {len(cl)} entries in the file, "
                               f"{len(ct)} here")
        for i, (a, b) in enumerate(zip(ct, cl, strict=True)):
            _restore_config(a, b, source, f"{where}[{i}]")
        return
    if _adapter(type(ct)) is not None:
        restore_into(ct, cl, source, where)
        return
    if not _same(ct, cl):
        raise PersistError(f"{source}: {where} is {_short(cl)} in the file but {_short(ct)} "
                           "here: the network does not match the file")


def _short(v: Any) -> str:
    if isinstance(v, np.ndarray):
        return f"an array {v.dtype}{list(v.shape)}"
    s = repr(v)
    return s if len(s) <= 80 else s[:77] + "..."


# ----------------------------------------------------------------------------- captured init


def captured_init(init: Callable) -> Callable:
    """Wrap a constructor so that the outermost call records its arguments in
    ``self._init_args`` (used to rebuild the object from a file)."""

    sig = inspect.signature(init)

    @functools.wraps(init)
    def wrapper(self, *args, **kwargs):
        d = object.__getattribute__(self, "__dict__")  # no user __getattribute__ involved
        if "_init_args" not in d:
            try:
                ba = sig.bind(self, *args, **kwargs)
                ba.apply_defaults()
                d["_init_args"] = (type(self), ba.args[1:], dict(ba.kwargs))
            except TypeError:
                pass  # the call itself will raise the usual error
        init(self, *args, **kwargs)

    return wrapper


def init_args_config(obj: Any) -> dict:
    """``{"args": [...], "kwargs": {...}}`` recorded by :func:`captured_init`."""
    rec = obj.__dict__.get("_init_args")
    if rec is None or rec[0] is not type(obj):
        raise PersistError(f"cannot save {type(obj).__name__}: its constructor arguments were "
                           "not recorded (does its __init__ call object.__new__ directly?)")
    return {"args": list(rec[1]), "kwargs": dict(rec[2])}


def build_from_init_args(config: dict, ctx: _BuildContext) -> Any:
    """Call ``ctx.cls(*args, **kwargs)`` from a config made by :func:`init_args_config`
    (a ``backend`` keyword follows the one given to :func:`load`)."""
    kwargs = dict(config["kwargs"])
    if isinstance(kwargs.get("backend"), str):
        kwargs["backend"] = ctx.backend(kwargs["backend"])
    return ctx.cls(*config["args"], **kwargs)
