"""Typed run configurations: build a config dataclass from TOML, JSON and ``key=value`` text.

An experiment's configuration is a (frozen) dataclass whose fields carry type hints and
whose defaults are the published settings. This module turns outside input into such an
object, checking every value against its field's type:

- :func:`load_file` reads a TOML file (``tomllib``) or a run's JSON record;
- :func:`parse_assignment` splits ``key=value`` (``--set``) and :func:`parse_text` reads the
  value for the field's type;
- :func:`build` applies a mapping of values on top of a base config; an unknown key names the
  valid ones, a value of the wrong type names the key, the expected type and the value;
- :func:`to_dict` writes a config back as plain JSON / TOML values (tuples as lists), so a
  run's JSON replays exactly.

Supported field types: ``bool``, ``int``, ``float``, ``str``, ``typing.Literal[...]``,
``X | None`` and ``tuple[X, ...]`` / ``tuple[X, Y]`` of those.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "ConfigError",
    "ConfigFile",
    "build",
    "coerce",
    "describe",
    "field_types",
    "load_file",
    "parse_assignment",
    "parse_text",
    "to_dict",
    "type_name",
]


class ConfigError(ValueError):
    """A configuration value, key or file is wrong; the message names it and what is expected."""


@dataclasses.dataclass(frozen=True)
class ConfigFile:
    """What :func:`load_file` read: the experiment it names (if any) and its values."""

    path: Path
    experiment: str | None
    values: dict[str, Any]


def field_types(cls: type) -> dict[str, Any]:
    """``{field name: resolved type}`` of the dataclass ``cls``, in declaration order."""
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
        raise TypeError(f"expected a dataclass type, got {cls!r}")
    hints = typing.get_type_hints(cls, include_extras=False)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls) if f.init}


def type_name(tp: Any) -> str:
    """A short readable name of a field type (``int``, ``'cpu' | 'cuda'``, ``tuple[int, ...]``)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_name(a) for a in args)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return f"tuple[{type_name(args[0])}, ...]"
        return f"tuple[{', '.join(type_name(a) for a in args)}]"
    if tp is type(None):
        return "None"
    return getattr(tp, "__name__", str(tp))


def _fail(key: str, tp: Any, value: Any, source: str) -> ConfigError:
    where = f"{source}: " if source else ""
    return ConfigError(f"{where}{key} expects {type_name(tp)}, got {value!r}")


def coerce(key: str, tp: Any, value: Any, source: str = "") -> Any:
    """Check ``value`` (a Python / JSON / TOML value) against the field type ``tp``.

    Ints are accepted where a float is expected (and become floats); lists where a tuple is
    expected (and become tuples). Nothing else is converted: ``"3"`` is not an int and
    ``1`` is not a bool.

    Raises
    ------
    ConfigError
        Naming ``source`` (e.g. ``"--set"`` or a file), ``key``, the expected type and the value.
    """
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is Literal:
        for a in args:
            if value == a and type(value) is type(a):
                return a
        raise _fail(key, tp, value, source)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for a in args:
            if a is type(None):
                continue
            try:
                return coerce(key, a, value, source)
            except ConfigError:
                pass
        raise _fail(key, tp, value, source)
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise _fail(key, tp, value, source)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(coerce(key, args[0], v, source) for v in value)
        if len(value) != len(args):
            raise _fail(key, tp, value, source)
        return tuple(coerce(key, a, v, source) for a, v in zip(args, value, strict=True))
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise _fail(key, tp, value, source)
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise _fail(key, tp, value, source)
    if tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise _fail(key, tp, value, source)
    if tp is str:
        if isinstance(value, str):
            return value
        raise _fail(key, tp, value, source)
    raise TypeError(f"{key}: unsupported config field type {tp!r}")


_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def _split_top(text: str) -> list[str]:
    """Split ``text`` on commas that are not inside brackets or quotes."""
    parts, depth, quote, cur = [], 0, "", []
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append("".join(cur).strip())
            cur = []
            continue
        cur.append(ch)
    parts.append("".join(cur).strip())
    return parts


def _toml_value(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def parse_text(key: str, tp: Any, text: str, source: str = "--set") -> Any:
    """Read the command-line text ``text`` as a value of the field type ``tp``.

    Numbers, booleans (``true`` / ``false``, also ``yes`` / ``no``), ``none`` for optional
    fields, quoted or bare strings, and sequences written as TOML arrays (``[1, 2]``) or
    comma-separated (``1,2``) are understood; the result is then checked by :func:`coerce`.
    """
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    raw = text.strip()
    if origin in (typing.Union, types.UnionType) and type(None) in args:
        if raw.lower() in ("none", "null"):
            return None
        rest = [a for a in args if a is not type(None)]
        inner = rest[0] if len(rest) == 1 else typing.Union[tuple(rest)]  # noqa: UP007
        return parse_text(key, inner, text, source)
    if origin is tuple:
        if raw.startswith("[") or raw.startswith("("):
            items = _split_top(raw[1:-1]) if raw[-1:] in "])" else [raw]
        else:
            items = _split_top(raw) if raw else []
        items = [i for i in items if i != ""]
        elem = args[0] if len(args) == 2 and args[1] is Ellipsis else None
        elems = [elem] * len(items) if elem is not None else list(args)
        if elem is None and len(items) != len(args):
            raise _fail(key, tp, text, source)
        vals = [parse_text(key, t, i, source) for t, i in zip(elems, items, strict=True)]
        return coerce(key, tp, vals, source)
    if tp is str or (origin is Literal and all(isinstance(a, str) for a in args)):
        val: Any = raw
        if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "\"'":
            val = raw[1:-1]
        return coerce(key, tp, val, source)
    if tp is bool:
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        raise _fail(key, tp, text, source)
    return coerce(key, tp, _toml_value(raw), source)


def parse_assignment(text: str, source: str = "--set") -> tuple[str, str]:
    """Split ``"key=value"`` into ``("key", "value")``."""
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"{source} {text!r}: expected KEY=VALUE")
    return key, value


def _unknown(key: str, cls: type, source: str, owner: str) -> ConfigError:
    names = list(field_types(cls))
    close = difflib.get_close_matches(key, names, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    where = f"{source}: " if source else ""
    return ConfigError(f"{where}{owner} has no setting {key!r}{hint}; valid keys: "
                       f"{', '.join(names)}")


def build(cls: type, values: Mapping[str, Any] | None = None, *, base: Any = None,
          source: str = "", owner: str | None = None) -> Any:
    """A ``cls`` instance: ``base`` (default: ``cls()``) with ``values`` replaced, type-checked.

    Parameters
    ----------
    cls : dataclass type
    values : mapping, optional
        Field name -> Python / JSON / TOML value (see :func:`coerce`).
    base : cls instance, optional
    source : str
        Where the values came from, for error messages (``"--set"``, a file name).
    owner : str, optional
        The name used for ``cls`` in messages (an experiment's name).

    Raises
    ------
    ConfigError
        For an unknown key, a value of the wrong type, or a value the dataclass's own
        checks (``__post_init__``) reject.
    """
    owner = owner or cls.__name__
    types_ = field_types(cls)
    checked = {}
    for key, value in (values or {}).items():
        if key not in types_:
            raise _unknown(key, cls, source, owner)
        checked[key] = coerce(key, types_[key], value, source)
    try:
        return dataclasses.replace(base if base is not None else cls(), **checked)
    except (ValueError, TypeError) as exc:
        where = f"{source}: " if source else ""
        raise ConfigError(f"{where}{owner}: {exc}") from None


def to_dict(config: Any) -> dict[str, Any]:
    """The fields of a config dataclass as plain values (tuples become lists)."""

    def plain(v: Any) -> Any:
        if isinstance(v, tuple | list):
            return [plain(a) for a in v]
        return v

    return {f.name: plain(getattr(config, f.name)) for f in dataclasses.fields(config)}


def _record_experiment(data: Mapping) -> str | None:
    run = data.get("run")
    if isinstance(run, Mapping) and isinstance(run.get("experiment"), str):
        return run["experiment"]
    exp = data.get("experiment")
    return exp if isinstance(exp, str) else None


def load_file(path: str | os.PathLike, arg: str = "--config") -> ConfigFile:
    """Read a configuration file: TOML, or the JSON record of a previous run.

    TOML: top-level ``key = value`` pairs, or a ``[config]`` table beside an optional
    ``experiment = "name"``. JSON: a run record (``{"claim", "metrics", "config", "run"}``,
    whose ``config`` replays the run exactly), ``{"experiment", "config"}``, or a flat object
    of settings.

    Raises
    ------
    ConfigError
        When the file is missing, unreadable, does not parse, or holds no table of settings;
        the message starts with ``arg`` and the path.
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{arg} {str(p)!r}: no such file")
    suffix = p.suffix.lower()
    if suffix not in (".toml", ".json"):
        raise ConfigError(f"{arg} {str(p)!r}: expected a .toml file or a run's .json record")
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{arg} {str(p)!r}: cannot be read ({exc.strerror})") from None
    try:
        if suffix == ".toml":
            data = tomllib.loads(raw.decode("utf-8"))
        else:
            data = json.loads(raw)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        kind = "TOML" if suffix == ".toml" else "JSON"
        raise ConfigError(f"{arg} {str(p)!r} is not valid {kind}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{arg} {str(p)!r}: expected a table of settings at the top level, "
                          f"got {type(data).__name__}")
    experiment = _record_experiment(data)
    if "config" in data:
        values = data["config"]
        if not isinstance(values, dict):
            raise ConfigError(f"{arg} {str(p)!r}: 'config' must be a table of settings")
    else:
        values = {k: v for k, v in data.items() if k != "experiment"}
    return ConfigFile(p, experiment, dict(values))


def describe(config: Any, quick: Any = None) -> list[tuple[str, str, Any, Any, str]]:
    """Rows ``(key, type, default, quick value, help)`` of a config dataclass instance.

    ``help`` is the field's ``metadata["help"]`` (empty when none).
    """
    types_ = field_types(type(config))
    rows = []
    for f in dataclasses.fields(config):
        if f.name not in types_:
            continue
        q = getattr(quick, f.name) if quick is not None else None
        rows.append((f.name, type_name(types_[f.name]), getattr(config, f.name), q,
                     str(f.metadata.get("help", ""))))
    return rows
