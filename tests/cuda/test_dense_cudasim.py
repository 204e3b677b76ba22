"""The local learners' digital side on the CUDA backend (simulator or GPU): each kernel against
its NumPy definition in :mod:`physnn.learning.losses` / :mod:`physnn.optim` (whose gradients
the main suite checks by finite differences), and PhyLL / Forward-Forward updates on CUDA
against the CPU path."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.cudasim  # skipped unless simulated or on a GPU (conftest.py)

from numba import cuda  # noqa: E402

from physnn.kernels import dense_cuda, snn_cuda  # noqa: E402
from physnn.layers import Linear  # noqa: E402
from physnn.learning import ForwardForward, LocalReadout, PhyLL, losses  # noqa: E402
from physnn.nets import Block, PhysicalNetwork, abs_max_scale  # noqa: E402
from physnn.optim import SGD, Adam  # noqa: E402
from physnn.physical import PhysicalLayer  # noqa: E402

RNG = np.random.default_rng(0)


def _dev(a):
    return cuda.to_device(np.ascontiguousarray(a, dtype=np.float32))


def _run(kernel, n, *args):
    kernel[snn_cuda.grid(n)](*args)


def test_cosine_goodness_and_gradient_equal_numpy():
    y = RNG.normal(size=(6, 5)).astype(np.float32)
    y[2, 1] = 0.0  # sign(0) = 0, as in NumPy
    xi = RNG.normal(size=5).astype(np.float32)
    xi /= np.linalg.norm(xi)
    dg = RNG.normal(size=6).astype(np.float32)
    g, n, s = (cuda.device_array(6, np.float32) for _ in range(3))
    gy = cuda.device_array((6, 5), np.float32)
    yd, xd = _dev(y), _dev(xi)
    _run(dense_cuda.cosine_rows, 6, yd, xd, g, n, s)
    _run(dense_cuda.cosine_backward, 30, yd, xd, n, s, _dev(dg), gy)
    np.testing.assert_allclose(g.copy_to_host(), losses.cosine_goodness(y, xi), rtol=1e-5)
    np.testing.assert_allclose(gy.copy_to_host(), losses.cosine_goodness_grad(y, xi, dg),
                               rtol=1e-5, atol=1e-6)


def test_square_goodness_and_gradient_equal_numpy():
    y = RNG.normal(size=(4, 7)).astype(np.float32)
    dg = RNG.normal(size=4).astype(np.float32)
    g, gy = cuda.device_array(4, np.float32), cuda.device_array((4, 7), np.float32)
    _run(dense_cuda.square_rows, 4, _dev(y), g)
    _run(dense_cuda.square_backward, 28, _dev(y), _dev(dg), gy)
    np.testing.assert_allclose(g.copy_to_host(), losses.square_goodness(y), rtol=1e-5)
    np.testing.assert_allclose(gy.copy_to_host(), losses.square_goodness_grad(y, dg),
                               rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("rule", ["contrastive", "threshold"])
def test_pair_losses_equal_numpy(rule):
    g = np.concatenate([RNG.uniform(-1, 1, 5), RNG.uniform(-1, 1, 5)]).astype(np.float32)
    g[0], g[5] = 30.0, -30.0  # far into the tails: no overflow
    loss, dg = cuda.device_array(5, np.float32), cuda.device_array(10, np.float32)
    if rule == "contrastive":
        _run(dense_cuda.contrastive_pairs, 5, _dev(g), np.float32(4.0), loss, dg)
        want, gp, gn = losses.contrastive_loss(g[:5].astype(float), g[5:].astype(float), 4.0)
    else:
        _run(dense_cuda.threshold_pairs, 5, _dev(g), np.float32(0.5), np.float32(2.0), loss, dg)
        want, gp, gn = losses.threshold_loss(g[:5].astype(float), g[5:].astype(float), 0.5, 2.0)
    assert loss.copy_to_host().sum() == pytest.approx(want, rel=1e-5)
    np.testing.assert_allclose(dg.copy_to_host(), np.concatenate([gp, gn]), rtol=1e-5,
                               atol=1e-12)


@pytest.mark.parametrize("opt", [Adam(1e-2, weight_decay=0.1), Adam(3e-3),
                                 SGD(0.1, momentum=0.9, weight_decay=0.01)], ids=repr)
def test_optimizer_steps_equal_numpy(opt):
    from physnn.learning._dense_ops import DenseCuda

    dev = DenseCuda()
    p = (RNG.normal(size=(3, 4)).astype(np.float32), RNG.normal(size=3).astype(np.float32))
    st = opt.init(p)
    pd = tuple(dev.upload(a) for a in p)
    sd = dev.upload_state(opt, st)
    for _ in range(3):
        g = (RNG.normal(size=(3, 4)).astype(np.float32), RNG.normal(size=3).astype(np.float32))
        p, st = opt.step(p, g, st)
        sd = dev.step(opt, pd, tuple(dev.upload(a) for a in g), sd)
    for a, b in zip(p, pd, strict=True):
        np.testing.assert_allclose(b.copy_to_host(), a, rtol=1e-5, atol=1e-6)
    back = dev.download_state(opt, sd, st)
    for a, b in zip(st[-1], back[-1], strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-7)


class _Tanh(PhysicalLayer):
    """A tiny fixed, black-box physical layer: ``tanh(2 x A)``."""

    def __init__(self, n, m, seed):
        super().__init__()
        self.in_features, self.out_features = n, m
        self._a = np.random.default_rng(seed).standard_normal((n, m)) / np.sqrt(n)

    def _forward(self, x, rng):
        return np.tanh(2.0 * x @ self._a)


def _net(n_in, seed=0):
    return PhysicalNetwork([
        Block(_Tanh(n_in, 8, seed + 1), Linear(8 + n_in, 6)),
        Block(_Tanh(6, 8, seed + 2), Linear(8 + 6, 6), encode=abs_max_scale),
    ])


LEARNERS = {
    "phyll": lambda b: PhyLL(alpha=4.0, inner_steps=2, optimizer=Adam(1e-2), backend=b),
    "phyll-hard": lambda b: PhyLL(alpha=4.0, inner_steps=2, optimizer=SGD(0.05, momentum=0.5),
                                  negatives=2, backend=b),
    "ff": lambda b: ForwardForward(theta=0.5, inner_steps=2, optimizer=Adam(1e-2), backend=b),
    "readout": lambda b: LocalReadout(inner_steps=2, optimizer=Adam(1e-2), backend=b),
}


@pytest.mark.parametrize("name", LEARNERS)
def test_learner_updates_on_cuda_match_the_cpu(name):
    rng = np.random.default_rng(1)
    x = rng.uniform(size=(10, 4)).astype(np.float32)
    y = rng.integers(0, 3, size=10)
    nets, hists, learners = [], [], []
    for backend in ("cpu", "cuda"):
        learner = LEARNERS[name](backend)
        learners.append(learner)
        assert learner.backend == backend
        net = _net(learner.input_width(4, 3))
        hists.append(learner.fit(net, x, y, epochs=1, batch_size=5,
                                 rng=np.random.default_rng(7), progress=False))
        nets.append(net)
    for a, b in zip(nets[0].get_params(), nets[1].get_params(), strict=True):
        np.testing.assert_allclose(b.weight, a.weight, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(b.bias, a.bias, rtol=1e-4, atol=1e-5)
    if name == "readout":
        for a, b in zip(nets[0].readout.heads, nets[1].readout.heads, strict=True):
            np.testing.assert_allclose(b.weight, a.weight, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(hists[1].loss, hists[0].loss, rtol=1e-4)
    assert hists[1].macs == hists[0].macs and hists[1].queries == hists[0].queries


def test_gpu_name_is_a_string():
    from physnn.bench._common import gpu_name

    name = gpu_name()
    assert isinstance(name, str) and name
