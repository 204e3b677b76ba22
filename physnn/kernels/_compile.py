"""Compile plain-Python update rules for one target, keeping their calls to each other.

An update rule that calls another rule (``lif_bptt_step`` calls ``surrogate_grad``) refers
to it through its module globals, where it is a plain Python function that neither
``numba.njit`` nor ``numba.cuda.jit`` can call. :func:`compile_rules` rebuilds each rule
over a namespace in which the rules compiled before it are the compiled versions, so one
source serves both targets (and the CUDA simulator, which runs the plain functions).
"""

from __future__ import annotations

import hashlib
import types
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["compile_rules", "specialize", "source_tag"]


def compile_rules(rules: Sequence[Callable], jit: Callable[[Callable], Any]) -> dict[str, Any]:
    """Compile ``rules`` (in dependency order: callees first) with the decorator ``jit``.

    Returns a mapping from each rule's name to its compiled version.
    """
    if not rules:
        return {}
    namespace = dict(rules[0].__globals__)
    compiled: dict[str, Any] = {}
    for rule in rules:
        if rule.__globals__ is not rules[0].__globals__:
            raise ValueError("compile_rules: all rules must come from one module")
        clone = types.FunctionType(rule.__code__, namespace, rule.__name__, rule.__defaults__,
                                   rule.__closure__)
        clone.__doc__ = rule.__doc__
        clone.__qualname__ = rule.__qualname__
        clone.__module__ = rule.__module__
        compiled[rule.__name__] = namespace[rule.__name__] = jit(clone)
    return compiled


def specialize(fn: Callable, jit: Callable[[Callable], Any], **constants: int) -> Any:
    """Compile ``fn`` with some of its module globals replaced by constants.

    Numba freezes global integers at compile time, so a driver that reads its mode from a
    global gets the branches of the other modes removed. The clone is named after the
    constants, so numba's on-disk cache keeps one entry per specialisation.
    """
    namespace = dict(fn.__globals__)
    namespace.update(constants)
    suffix = "_".join(f"{k.lower()}{v}" for k, v in sorted(constants.items()))
    clone = types.FunctionType(fn.__code__, namespace, f"{fn.__name__}_{suffix}",
                               fn.__defaults__, fn.__closure__)
    clone.__qualname__ = f"{fn.__qualname__}_{suffix}"
    clone.__module__ = fn.__module__
    clone.__doc__ = fn.__doc__
    return jit(clone)


def source_tag(*modules: types.ModuleType) -> int:
    """A number that changes whenever the source of ``modules`` changes.

    Numba's on-disk cache keys a compiled function on its own file only. A driver that
    inlines update rules from another module would keep running the old rules after that
    module was edited; passing ``RULES=source_tag(rules_module)`` to :func:`specialize` puts
    the rules' version into the compiled clone's name, and so into the cache key.
    """
    digest = hashlib.sha1()
    for module in modules:
        digest.update(Path(module.__file__).read_bytes())
    return int(digest.hexdigest()[:7], 16)
