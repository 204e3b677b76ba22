"""Spiking-network training on the CUDA backend under the CUDA simulator (own process with
NUMBA_ENABLE_CUDASIM=1): each kernel against NumPy, and BPTT / SLTT / inference on CUDA
against the CPU path, which the main suite checks against autograd and finite differences."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.cudasim  # skipped unless simulated or on a GPU (conftest.py)

from numba import cuda  # noqa: E402

import physnn as pn  # noqa: E402
from physnn.kernels import conv_cpu, snn_cuda  # noqa: E402
from physnn.learning import sltt  # noqa: E402
from physnn.snn import Conv2d, Dense, SpikingNetwork  # noqa: E402

RNG = np.random.default_rng(0)


def _dev(a):
    return cuda.to_device(np.ascontiguousarray(a, dtype=np.float32))


@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True)])
def test_gemm_equals_numpy(ta, tb):
    a = RNG.normal(size=(19, 5) if ta else (5, 19)).astype(np.float32)
    b = RNG.normal(size=(7, 19) if tb else (19, 7)).astype(np.float32)
    want = (a.T if ta else a) @ (b.T if tb else b)
    c = cuda.device_array((5, 7), np.float32)
    snn_cuda.gemm(_dev(a), _dev(b), c, ta=ta, tb=tb)
    np.testing.assert_allclose(c.copy_to_host(), want, rtol=1e-5, atol=1e-5)
    snn_cuda.gemm(_dev(a), _dev(b), c, ta=ta, tb=tb, accumulate=True)
    np.testing.assert_allclose(c.copy_to_host(), 2 * want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("k,s,p", [(3, 2, 1), (2, 1, 0)])
def test_conv_data_movement_equals_cpu(k, s, p):
    a = RNG.normal(size=(2, 2, 5, 4)).astype(np.float32)
    ho, wo = (5 + 2 * p - k) // s + 1, (4 + 2 * p - k) // s + 1
    want = np.empty((2 * ho * wo, 2 * k * k), np.float32)
    conv_cpu.im2col(a, k, s, p, ho, wo, want)
    cols = cuda.device_array(want.shape, np.float32)
    snn_cuda.im2col(_dev(a), k, s, p, ho, wo, cols)
    np.testing.assert_array_equal(cols.copy_to_host(), want)
    g = RNG.normal(size=want.shape).astype(np.float32)
    back = np.empty_like(a)
    conv_cpu.col2im(g, k, s, p, ho, wo, back)
    out = cuda.device_array(a.shape, np.float32)
    snn_cuda.col2im(_dev(g), k, s, p, ho, wo, out)
    np.testing.assert_allclose(out.copy_to_host(), back, rtol=1e-6, atol=1e-6)
    z = RNG.normal(size=(2 * ho * wo, 3)).astype(np.float32)
    bias = RNG.normal(size=3).astype(np.float32)
    nchw = cuda.device_array((2, 3, ho, wo), np.float32)
    snn_cuda.rows_to_nchw[snn_cuda.grid(nchw.size)](_dev(z), _dev(bias), nchw)
    np.testing.assert_allclose(nchw.copy_to_host(),
                               (z + bias).reshape(2, ho, wo, 3).transpose(0, 3, 1, 2))
    rows = cuda.device_array(z.shape, np.float32)
    snn_cuda.nchw_to_rows[snn_cuda.grid(rows.size)](nchw, rows)
    np.testing.assert_allclose(rows.copy_to_host(), z + bias)


def _mlp(readout="membrane", beta=0.6, **kw):
    return SpikingNetwork([Dense(6, 5), Dense(5, 3)], beta=beta, threshold=0.5,
                          readout=readout, seed=1, **kw)


def _cnn():
    return SpikingNetwork([Conv2d(1, 2, 3, in_hw=(5, 5), stride=2, padding=1),
                           Dense(2 * 3 * 3, 3)], beta=0.6, threshold=0.5, seed=2)


def _data(net, seed=3):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, size=(2, *net.in_shape)).astype(np.float32)
    return x * 2.0, rng.integers(0, net.num_classes, size=2)


def _assert_grads_close(ga, gb):
    for a, b in zip(ga, gb, strict=True):
        np.testing.assert_allclose(a.weight, b.weight, rtol=2e-4, atol=2e-6)
        np.testing.assert_allclose(a.bias, b.bias, rtol=2e-4, atol=2e-6)


@pytest.mark.parametrize("make", [_mlp, _cnn, lambda: _mlp("spike_count"),
                                  lambda: _mlp("spike_count", convention="snntorch",
                                               reset="zero")])
def test_bptt_cuda_equals_cpu(make):
    net = make()
    x, y = _data(net)
    loss_c, g_c = sltt.bptt_gradients(net, x, y, 3, backend="cpu")
    loss_g, g_g = sltt.bptt_gradients(net, x, y, 3, backend="cuda")
    assert loss_g == pytest.approx(loss_c, rel=1e-5)
    assert any(np.abs(g.weight).sum() > 0 for g in g_c)
    _assert_grads_close(g_g, g_c)


@pytest.mark.parametrize("k", [None, 2])
@pytest.mark.parametrize("make", [_mlp, _cnn])
def test_sltt_cuda_equals_cpu(make, k):
    net = make()
    x, y = _data(net)
    loss_c, g_c = sltt.sltt_gradients(net, x, y, 3, k=k, rng=np.random.default_rng(5))
    loss_g, g_g = sltt.sltt_gradients(net, x, y, 3, k=k, rng=np.random.default_rng(5),
                                 backend="cuda")
    assert loss_g == pytest.approx(loss_c, rel=1e-5)
    _assert_grads_close(g_g, g_c)


def test_rate_encoder_and_inference_cuda_equal_cpu():
    net = _mlp()
    x, y = _data(net)
    x = x / 2
    _, g_c = sltt.bptt_gradients(net, x, y, 3, encoder="rate", rng=np.random.default_rng(7))
    _, g_g = sltt.bptt_gradients(net, x, y, 3, encoder="rate", rng=np.random.default_rng(7),
                            backend="cuda")
    _assert_grads_close(g_g, g_c)
    np.testing.assert_allclose(sltt.predict_logits(net, x, 4, backend="cuda"),
                               sltt.predict_logits(net, x, 4), rtol=1e-5, atol=1e-5)


def test_device_memory_of_sltt_is_flat_in_T_and_below_bptt():
    net = _mlp()
    x, y = _data(net)
    mem = {}
    for T in (2, 6):
        for name, fn in (("bptt", sltt.bptt_gradients), ("sltt", sltt.sltt_gradients)):
            _, mem[name, T] = sltt.peak_memory(lambda fn=fn, T=T: fn(net, x, y, T, backend="cuda"),
                                          backend="cuda")
    assert mem["sltt", 2] == mem["sltt", 6] > 0
    assert mem["bptt", 6] > mem["bptt", 2]
    assert mem["bptt", 6] > mem["sltt", 6]


def test_learner_fits_on_cuda_like_on_cpu():
    nets = {b: _mlp() for b in ("cpu", "cuda")}
    x, y = _data(nets["cpu"], seed=9)
    losses = {}
    for backend, net in nets.items():
        learner = pn.learning.SLTT(num_steps=2, optimizer=pn.optim.SGD(0.5), backend=backend)
        losses[backend] = [learner.update(net, x, y, rng=np.random.default_rng(0))
                           for _ in range(2)]
    np.testing.assert_allclose(losses["cuda"], losses["cpu"], rtol=1e-4)
    np.testing.assert_allclose(nets["cuda"].params[0].weight, nets["cpu"].params[0].weight,
                               rtol=1e-4, atol=1e-6)
