"""Backend registry: ``"cpu"`` (numba njit), ``"cuda"`` (numba.cuda) and ``"auto"``.

A backend is a name plus an availability probe. ``resolve_backend("auto")`` picks CUDA when a
device is usable and the CPU otherwise, and logs which it chose. There is no global mutable
backend: every public function takes ``backend=`` explicitly.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Backend", "available_backends", "resolve_backend", "BackendUnavailableError"]

log = logging.getLogger("physnn")

CUDA_INSTALL_HINT = (
    "install the CUDA extra (`pip install 'physnn[cuda]'`, which brings numba-cuda for CUDA 13) "
    "and run on a machine with an NVIDIA GPU and driver"
)


class BackendUnavailableError(RuntimeError):
    """Raised when a backend was asked for by name but cannot run here."""


@dataclass(frozen=True)
class Backend:
    """A compute backend: a name and a probe saying whether it can run here."""

    name: str
    probe: Callable[[], tuple[bool, str]]

    def is_available(self) -> bool:
        """Whether this backend can run on this machine."""
        return self.probe()[0]

    def why_unavailable(self) -> str:
        """A sentence saying why the backend cannot run (empty when it can)."""
        ok, why = self.probe()
        return "" if ok else why


def _probe_cpu() -> tuple[bool, str]:
    return True, ""


@functools.cache
def _probe_cuda() -> tuple[bool, str]:
    try:
        from numba import cuda
    except Exception as exc:  # pragma: no cover - depends on the install
        return False, f"numba.cuda cannot be imported ({exc}); {CUDA_INSTALL_HINT}"
    try:
        if cuda.is_available():
            return True, ""
    except Exception as exc:  # pragma: no cover - depends on the driver
        return False, f"the CUDA driver could not be initialised ({exc}); {CUDA_INSTALL_HINT}"
    return False, f"no usable CUDA device was found; {CUDA_INSTALL_HINT}"


_REGISTRY: dict[str, Backend] = {
    "cpu": Backend("cpu", _probe_cpu),
    "cuda": Backend("cuda", _probe_cuda),
}


def available_backends() -> list[str]:
    """Names of the backends that can run on this machine, CPU first."""
    return [name for name, b in _REGISTRY.items() if b.is_available()]


def resolve_backend(backend: str) -> str:
    """Turn ``"cpu"``, ``"cuda"`` or ``"auto"`` into a concrete, available backend name.

    Parameters
    ----------
    backend : {"cpu", "cuda", "auto"}
        ``"auto"`` picks ``"cuda"`` when a device is usable, else ``"cpu"``, and logs the choice.

    Raises
    ------
    ValueError
        For an unknown name.
    BackendUnavailableError
        When ``"cuda"`` is asked for and cannot run; the message says what to install.
    """
    if not isinstance(backend, str):
        raise TypeError(f"backend must be a str ('cpu', 'cuda' or 'auto'), got {type(backend)}")
    if backend == "auto":
        chosen = "cuda" if _REGISTRY["cuda"].is_available() else "cpu"
        log.info("physnn: backend='auto' chose %r", chosen)
        return chosen
    if backend not in _REGISTRY:
        raise ValueError(
            f"backend must be one of {sorted(_REGISTRY) + ['auto']}, got {backend!r}"
        )
    b = _REGISTRY[backend]
    if not b.is_available():
        raise BackendUnavailableError(
            f"backend {backend!r} is not available: {b.why_unavailable()}"
        )
    return backend
