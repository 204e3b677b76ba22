"""Backpropagation baselines (in-silico twin, physics-aware, digital); need PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
from phyll_toys import SaturatingProjection

torch = pytest.importorskip("torch")

from physnn.layers import Linear  # noqa: E402
from physnn.learning.baselines import BackpropBaseline, fit_twin  # noqa: E402
from physnn.nets import Block, PhysicalNetwork, abs_max_scale  # noqa: E402

K = 3


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    # tiny matrices: worker threads only add overhead on a shared machine
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def blobs(n_per=20, d=6, seed=0):
    rng = np.random.default_rng(seed)
    centres = np.eye(K, d) * 0.8 + 0.1
    x = np.concatenate([c + 0.05 * rng.standard_normal((n_per, d)) for c in centres])
    return x.clip(0, 1).astype(np.float32), np.repeat(np.arange(K), n_per)


def net_and_twins(seed=0):
    p1, p2 = SaturatingProjection(6, 10, seed=1), SaturatingProjection(8, 10, seed=2)
    net = PhysicalNetwork([Block(p1, Linear(16, 8)),
                           Block(p2, Linear(18, K), encode=abs_max_scale)])
    rng = np.random.default_rng(seed)
    twins = [fit_twin(p, n_queries=1000, rng=rng, hidden=(64,), epochs=100, lr=1e-2)
             for p in (p1, p2)]
    return net, twins


def test_twin_fits_the_layer():
    _, twins = net_and_twins()
    for t, n_in in zip(twins, (6, 8), strict=True):
        assert t.r2 > 0.95
        assert t.queries == 1000 and t.macs == n_in * 64 + 64 * 10


@pytest.mark.parametrize("mode", ["in_silico", "physics_aware", "digital"])
def test_baselines_separate_a_tiny_problem(mode):
    net, twins = net_and_twins()
    x, y = blobs()
    bl = BackpropBaseline(mode, twins=twins if mode != "digital" else None, lr=1e-2)
    q0 = net.queries
    hist = bl.fit(net, x, y, epochs=40, batch_size=16, rng=np.random.default_rng(0))
    assert hist.loss[-1] < hist.loss[0]
    train_queries = net.queries - q0
    assert train_queries == {"in_silico": 0, "physics_aware": 2 * 40 * len(x), "digital": 0}[mode]
    ev = bl.evaluate(net, x, y)
    assert ev["accuracy"] == 1.0
    assert ev["queries"] == (0 if mode == "digital" else 2 * len(x))
    if mode == "in_silico":
        sim = bl.evaluate(net, x, y, simulate=True)
        assert sim["queries"] == 0 and sim["accuracy"] == 1.0


def test_physics_aware_forward_is_the_device_and_backward_the_twin():
    net, twins = net_and_twins()
    bl = BackpropBaseline("physics_aware", twins=twins)
    u = torch.rand(4, 6, generator=torch.Generator().manual_seed(0)).requires_grad_(True)
    z = bl._physical_out(0, net[0], u, train=True, rng=None)
    # t + (P - t) equals P up to float32 rounding
    np.testing.assert_allclose(z.detach().numpy(), net[0].physical.forward(u.detach().numpy()),
                               rtol=1e-5, atol=1e-6)
    z.sum().backward()
    u2 = u.detach().clone().requires_grad_(True)
    twins[0].module(u2).sum().backward()
    np.testing.assert_allclose(u.grad.numpy(), u2.grad.numpy(), rtol=1e-6)


def test_bad_mode_and_missing_twins():
    with pytest.raises(ValueError, match="mode"):
        BackpropBaseline("adjoint")
    with pytest.raises(ValueError, match="twins"):
        BackpropBaseline("in_silico")
