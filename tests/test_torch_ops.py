"""The LIF kernels as a torch autograd Function: same spikes and gradients as snntorch."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
snn = pytest.importorskip("snntorch")

from physnn.torch_ops import lif_spikes  # noqa: E402


def test_lif_spikes_matches_snntorch_forward_and_backward():
    from snntorch import surrogate

    rng = np.random.default_rng(0)
    x = rng.normal(0.3, 0.7, size=(30, 3, 16)).astype(np.float32)
    w = torch.from_numpy(rng.normal(size=x.shape).astype(np.float32))
    x1 = torch.from_numpy(x.copy()).requires_grad_(True)
    out = lif_spikes(x1, beta=0.85, threshold=1.0, surrogate="atan")
    (out * w).sum().backward()
    neuron = snn.Leaky(beta=0.85, threshold=1.0, spike_grad=surrogate.atan(alpha=2.0))
    x2 = torch.from_numpy(x.copy()).requires_grad_(True)
    mem = torch.zeros(3, 16)
    spk = []
    for t in range(x.shape[0]):
        s, mem = neuron(x2[t], mem)
        spk.append(s)
    ref = torch.stack(spk)
    (ref * w).sum().backward()
    assert out.dtype == torch.float32
    np.testing.assert_array_equal(out.detach().numpy(), ref.detach().numpy())
    np.testing.assert_allclose(x1.grad.numpy(), x2.grad.numpy(), rtol=1e-4, atol=1e-6)


def test_lif_spikes_rejects_non_tensors():
    with pytest.raises(TypeError, match="torch.Tensor"):
        lif_spikes(np.zeros((2, 2, 2), np.float32), beta=0.9)
