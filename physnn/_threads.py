"""Run small dense linear algebra on one BLAS thread.

Multithreaded BLAS on matrices of a few dozen rows is slower than one thread, and on a busy
machine its spinning threads can make it ten times slower. Small-matrix work (hardware
models, SLTT's per-step products) runs inside :func:`one_blas_thread`; without
``threadpoolctl`` installed it does nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from functools import cache

__all__ = ["one_blas_thread"]


@cache
def _controller():
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return None
    return ThreadpoolController()


@contextlib.contextmanager
def one_blas_thread() -> Iterator[None]:
    """Limit BLAS to one thread inside the ``with`` block (when threadpoolctl is available)."""
    ctl = _controller()
    if ctl is None:
        yield
        return
    with ctl.limit(limits=1, user_api="blas"):
        yield
