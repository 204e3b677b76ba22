"""The tests in this folder run the CUDA kernels, either under the CUDA simulator
(``NUMBA_ENABLE_CUDASIM=1`` set before numba is imported, in a process of its own: what
``scripts/test.sh`` and CI do) or on a real GPU (``pytest -m cudasim tests/cuda`` on a machine
with one). Anywhere else they are skipped."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def _why_not() -> str:
    """Empty when the CUDA tests can run here, else the reason they cannot."""
    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        return ""
    try:
        from numba import cuda

        if cuda.is_available():
            return ""
    except Exception:  # numba-cuda not installed or no driver
        pass
    return "needs NUMBA_ENABLE_CUDASIM=1 (set before numba is imported) or a CUDA GPU"


def pytest_collection_modifyitems(config, items):
    ours = [item for item in items if HERE in Path(str(item.fspath)).resolve().parents]
    why = _why_not() if ours else ""
    if why:
        for item in ours:
            item.add_marker(pytest.mark.skip(reason=why))
