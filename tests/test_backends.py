import numpy as np
import pytest

import physnn
from physnn.backends import BackendUnavailableError, resolve_backend


def test_cpu_always_available():
    assert resolve_backend("cpu") == "cpu"
    assert "cpu" in physnn.available_backends()


def test_auto_resolves_to_a_concrete_backend():
    assert resolve_backend("auto") in {"cpu", "cuda"}


def test_unknown_backend_named_in_error():
    with pytest.raises(ValueError, match="backend must be one of"):
        resolve_backend("tpu")


def test_cuda_unavailable_says_what_to_install():
    if "cuda" in physnn.available_backends():
        pytest.skip("a CUDA device is present")
    with pytest.raises(BackendUnavailableError, match="physnn\\[cuda\\]"):
        resolve_backend("cuda")


def test_numpy_pin_holds():
    major, minor = (int(p) for p in np.__version__.split(".")[:2])
    assert (major, minor) < (2, 5), "numba-cuda 0.30 cannot compile kernels under NumPy >= 2.5"
