"""Spiking networks trained by BPTT and SLTT: layer gradients, agreement with torch autograd
through snntorch, SLTT's defining properties, memory, bad input, and learning."""

from __future__ import annotations

import numpy as np
import pytest

import physnn as pn
from physnn.learning.sltt import bptt_gradients, peak_memory, sltt_gradients
from physnn.snn import Conv2d, Dense, LayerParams, SpikingNetwork


def _fd_check(layer, a, rng):
    p = layer.init(rng)
    p = LayerParams(p.weight.astype(np.float64), rng.normal(size=p.bias.shape))
    g = rng.normal(size=(a.shape[0], *layer.out_shape()))

    def f(pp, aa):
        return float(np.sum(g * layer.forward(pp, aa)))

    grads, ga = layer.backward(p, a, g, need_input=True)
    eps = 1e-6
    for name in ("weight", "bias"):
        arr = getattr(p, name)
        fd = np.zeros_like(arr)
        for idx in np.ndindex(arr.shape):
            plus, minus = arr.copy(), arr.copy()
            plus[idx] += eps
            minus[idx] -= eps
            fd[idx] = (f(p._replace(**{name: plus}), a) - f(p._replace(**{name: minus}), a)) / (
                2 * eps)
        np.testing.assert_allclose(getattr(grads, name), fd, rtol=1e-6, atol=1e-8)
    fd = np.zeros_like(a)
    for idx in np.ndindex(a.shape):
        plus, minus = a.copy(), a.copy()
        plus[idx] += eps
        minus[idx] -= eps
        fd[idx] = (f(p, plus) - f(p, minus)) / (2 * eps)
    np.testing.assert_allclose(ga, fd, rtol=1e-6, atol=1e-8)


def test_dense_gradients_match_finite_differences():
    rng = np.random.default_rng(0)
    _fd_check(Dense(5, 4), rng.normal(size=(3, 5)), rng)


@pytest.mark.parametrize("stride,padding", [(1, 0), (2, 1), (1, 1)])
def test_conv2d_gradients_match_finite_differences(stride, padding):
    rng = np.random.default_rng(1)
    layer = Conv2d(2, 3, 3, in_hw=(5, 6), stride=stride, padding=padding)
    _fd_check(layer, rng.normal(size=(2, 2, 5, 6)), rng)


def test_conv2d_forward_equals_direct_sum():
    rng = np.random.default_rng(2)
    layer = Conv2d(2, 3, 3, in_hw=(6, 5), stride=2, padding=1)
    p = layer.init(rng)
    a = rng.normal(size=(2, 2, 6, 5)).astype(np.float32)
    z = layer.forward(p, a)
    ap = np.pad(a, ((0, 0), (0, 0), (1, 1), (1, 1)))
    ref = np.zeros_like(z)
    for n, o, i, j in np.ndindex(z.shape):
        ref[n, o, i, j] = p.bias[o] + np.sum(p.weight[o] * ap[n, :, 2 * i:2 * i + 3,
                                                              2 * j:2 * j + 3])
    np.testing.assert_allclose(z, ref, rtol=1e-5, atol=1e-5)


def _mlp(beta, convention="spikingjelly", readout="membrane", surrogate="triangle", seed=0,
         reset="subtract"):
    return SpikingNetwork([Dense(12, 10), Dense(10, 8), Dense(8, 3)], beta=beta, threshold=1.0,
                          surrogate=surrogate, convention=convention, readout=readout,
                          reset=reset, seed=seed)


def _batch(seed=0, n=6):
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 1.5, size=(n, 12)).astype(np.float32), rng.integers(0, 3, size=n)


@pytest.mark.parametrize("reset", ["subtract", "zero"])
@pytest.mark.parametrize("readout", ["membrane", "spike_count"])
def test_bptt_equals_autograd_through_snntorch(readout, reset):
    torch = pytest.importorskip("torch")
    snn = pytest.importorskip("snntorch")
    from snntorch import surrogate

    T = 6
    net = _mlp(0.8, convention="snntorch", readout=readout, surrogate="atan", seed=3,
               reset=reset)
    x, y = _batch(1)
    loss, grads = bptt_gradients(net, x, y, T)
    ws = [torch.tensor(p.weight, requires_grad=True) for p in net.params]
    bs = [torch.tensor(p.bias, requires_grad=True) for p in net.params]
    n_lif = 3 if readout == "spike_count" else 2
    neurons = [snn.Leaky(beta=0.8, threshold=1.0, spike_grad=surrogate.atan(alpha=2.0),
                         reset_mechanism=reset) for _ in range(n_lif)]
    mems = [torch.zeros(len(x), w.shape[0]) for w in ws[:n_lif]]
    xt = torch.from_numpy(x)
    losses = []
    for _ in range(T):
        a = xt
        for i in range(3):
            z = a @ ws[i].T + bs[i]
            if i < n_lif:
                a, mems[i] = neurons[i](z, mems[i])
            else:
                a = z
        if readout == "membrane":
            losses.append(torch.nn.functional.cross_entropy(a, torch.from_numpy(y)))
        else:
            target = torch.nn.functional.one_hot(torch.from_numpy(y), 3).float()
            losses.append(((a - target) ** 2).sum(dim=1).mean() / 3)
    ref_loss = torch.stack(losses).mean()
    ref_loss.backward()
    assert abs(loss - ref_loss.item()) < 1e-5
    for i in range(3):
        assert np.abs(ws[i].grad.numpy()).max() > 0
        np.testing.assert_allclose(grads[i].weight, ws[i].grad.numpy(), rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(grads[i].bias, bs[i].grad.numpy(), rtol=1e-4, atol=1e-6)


def test_sltt_equals_bptt_when_beta_is_zero():
    net = _mlp(0.0)
    x, y = _batch(2)
    lb, gb = bptt_gradients(net, x, y, 5)
    ls, gs = sltt_gradients(net, x, y, 5)
    assert abs(lb - ls) < 1e-6
    for a, b in zip(gb, gs, strict=True):
        assert np.abs(a.weight).max() > 0
        np.testing.assert_allclose(b.weight, a.weight, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(b.bias, a.bias, rtol=1e-5, atol=1e-6)


def test_sltt_differs_from_bptt_when_beta_is_large():
    net = _mlp(0.9)
    x, y = _batch(3)
    _, gb = bptt_gradients(net, x, y, 8)
    _, gs = sltt_gradients(net, x, y, 8)
    assert not np.allclose(gb[0].weight, gs[0].weight, rtol=1e-3)


def test_sltt_k_with_k_equal_t_is_sltt():
    net = _mlp(0.7)
    x, y = _batch(4)
    l1, g1 = sltt_gradients(net, x, y, 6)
    l2, g2 = sltt_gradients(net, x, y, 6, k=6, rng=np.random.default_rng(0))
    assert l1 == l2
    for a, b in zip(g1, g2, strict=True):
        np.testing.assert_allclose(b.weight, a.weight, rtol=1e-6, atol=1e-7)


def test_conv_network_sltt_equals_bptt_when_beta_is_zero():
    layers = [Conv2d(1, 3, 3, in_hw=(8, 8), stride=2, padding=1),
              Conv2d(3, 4, 3, in_hw=(4, 4), stride=2, padding=1), Dense(16, 3)]
    net = SpikingNetwork(layers, beta=0.0, seed=1)
    rng = np.random.default_rng(5)
    x = rng.uniform(0, 2, size=(4, 1, 8, 8)).astype(np.float32)
    y = rng.integers(0, 3, size=4)
    _, gb = bptt_gradients(net, x, y, 4)
    _, gs = sltt_gradients(net, x, y, 4)
    for a, b in zip(gb, gs, strict=True):
        np.testing.assert_allclose(b.weight, a.weight, rtol=1e-5, atol=1e-6)


def test_sltt_memory_is_flat_in_t_and_bptt_grows():
    net = SpikingNetwork([Dense(64, 256), Dense(256, 256), Dense(256, 10)], beta=0.5)
    rng = np.random.default_rng(6)
    x = rng.uniform(0, 1, size=(64, 64)).astype(np.float32)
    y = rng.integers(0, 10, size=64)
    mem = {}
    for T in (4, 32):  # warm-up: kernels compiled on first use must not count as memory
        sltt_gradients(net, x, y, T)
        bptt_gradients(net, x, y, T)
    for T in (4, 32):
        _, mem[("sltt", T)] = peak_memory(lambda T=T: sltt_gradients(net, x, y, T))
        _, mem[("bptt", T)] = peak_memory(lambda T=T: bptt_gradients(net, x, y, T))
    assert mem[("sltt", 32)] <= 1.1 * mem[("sltt", 4)]
    assert mem[("bptt", 32)] > 4 * mem[("bptt", 4)]
    assert mem[("bptt", 32)] > 5 * mem[("sltt", 32)]


def test_bad_input_gets_clear_errors():
    net = _mlp(0.5)
    x, y = _batch(7)
    with pytest.raises(ValueError, match="num_steps"):
        bptt_gradients(net, x, y, 0)
    with pytest.raises(ValueError, match="k must be an int in"):
        sltt_gradients(net, x, y, 4, k=5, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="k must be an int in"):
        pn.learning.SLTT(num_steps=4, k=5)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\]"):
        bptt_gradients(net, x, np.full(len(x), 3), 4)
    with pytest.raises(ValueError, match="x must have shape"):
        sltt_gradients(net, x[:, :5], y, 4)
    with pytest.raises(ValueError, match="layer 1 expects input"):
        SpikingNetwork([Dense(4, 5), Dense(6, 2)])
    with pytest.raises(ValueError, match="encoder"):
        pn.learning.BPTT(num_steps=4, encoder="latency")


@pytest.mark.parametrize("learner", [
    lambda: pn.learning.BPTT(num_steps=4, optimizer=pn.optim.Adam(1e-2)),
    lambda: pn.learning.SLTT(num_steps=4, optimizer=pn.optim.Adam(1e-2)),
    lambda: pn.learning.SLTT(num_steps=4, k=2, optimizer=pn.optim.Adam(1e-2)),
    lambda: pn.learning.SLTT(num_steps=4, online=True, optimizer=pn.optim.Adam(4e-3)),
    lambda: pn.learning.BPTT(num_steps=4, encoder="rate", optimizer=pn.optim.Adam(1e-2)),
], ids=["bptt", "sltt", "sltt-k2", "sltt-online", "bptt-rate"])
def test_learners_learn_digits(learner):
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.data / 16.0).astype(np.float32)
    y = d.target
    net = SpikingNetwork([Dense(64, 64), Dense(64, 10)], beta=0.5, seed=0)
    lr = learner()
    rng = np.random.default_rng(0)
    before = lr.evaluate(net, x[1400:], y[1400:], rng=rng)["accuracy"]
    hist = lr.fit(net, x[:1000], y[:1000], epochs=3, rng=rng, batch_size=100,
                  eval_data=(x[1400:], y[1400:]), progress=False)
    after = lr.evaluate(net, x[1400:], y[1400:], rng=rng)["accuracy"]
    assert len(hist) == 3 and hist.loss[-1] < hist.loss[0]
    assert after > 0.8 > before


def test_diverged_currents_stop_training_with_a_clear_error():
    net = _mlp(0.5)
    x, y = _batch(8)
    net.params[0] = net.params[0]._replace(weight=np.full_like(net.params[0].weight, np.nan))
    with pytest.raises(FloatingPointError, match="non-finite input current"):
        sltt_gradients(net, x, y, 3)
    with pytest.raises(FloatingPointError, match="non-finite input current"):
        bptt_gradients(net, x, y, 3)


@pytest.mark.parametrize("readout,encoder", [("membrane", "direct"), ("spike_count", "direct"),
                                             ("membrane", "rate")])
def test_sltt_block_schedule_equals_step_by_step(readout, encoder, monkeypatch):
    """On the CPU, SLTT runs large Dense layers a block of steps at a time (one product over
    the block's rows, one LIF call per block); the gradients and the loss are those of the
    step-by-step loop bit for bit, its memory stays flat in T, and a diverging current is
    still refused."""
    from physnn.learning._snn_ops import HostOps

    # a 128 x 256 x 256 step is large enough for the block schedule (HostOps.merges)
    net = SpikingNetwork([Dense(256, 256), Dense(256, 256), Dense(256, 10)], beta=0.5,
                         readout=readout, seed=4)
    rng = np.random.default_rng(9)
    x = rng.uniform(0, 1, size=(128, 256)).astype(np.float32)
    y = rng.integers(0, 10, size=128)
    ops = HostOps(net)
    assert ops.block_steps(128, 5) == 2 and ops.merges(1, 128) and not ops.merges(2, 128)
    blocks = sltt_gradients(net, x, y, 5, encoder=encoder, rng=np.random.default_rng(1))
    monkeypatch.setattr(HostOps, "BLOCK_ROWS", 0)  # one step per block: the step loop
    steps = sltt_gradients(net, x, y, 5, encoder=encoder, rng=np.random.default_rng(1))
    monkeypatch.undo()
    assert blocks[0] == steps[0]
    for a, b in zip(blocks[1], steps[1], strict=True):
        np.testing.assert_array_equal(a.weight, b.weight)
        np.testing.assert_array_equal(a.bias, b.bias)
    if encoder == "direct" and readout == "membrane":
        mem = {T: peak_memory(lambda T=T: sltt_gradients(net, x, y, T))[1] for T in (4, 32)}
        assert mem[32] <= 1.1 * mem[4]
        w, bias = net.params[1]
        net.params[1] = LayerParams(np.full_like(w, np.inf), bias)  # diverged weights
        with np.errstate(invalid="ignore"), pytest.raises(FloatingPointError,
                                                         match="non-finite input current"):
            sltt_gradients(net, x, y, 4)
