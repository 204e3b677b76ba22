"""The spiking substrate on the CUDA backend (run under NUMBA_ENABLE_CUDASIM=1 in its own
process): the same spike counts as on the CPU."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.cudasim  # skipped unless simulated or on a GPU (conftest.py)

from hardware_models.spiking_substrate import SpikingParams, SpikingSubstrate  # noqa: E402


@pytest.mark.parametrize("recurrent", [False, True])
def test_substrate_cuda_equals_cpu(recurrent):
    kw = dict(steps=8, recurrent=recurrent, params=SpikingParams(noise=0.05), seed=3)
    cpu = SpikingSubstrate(4, 6, backend="cpu", **kw)
    gpu = SpikingSubstrate(4, 6, backend="cuda", **kw)
    x = np.random.default_rng(0).random((2, 4))
    a = cpu(x, rng=np.random.default_rng(1))
    b = gpu(x, rng=np.random.default_rng(1))
    assert a.sum() > 0
    np.testing.assert_array_equal(a, b)
