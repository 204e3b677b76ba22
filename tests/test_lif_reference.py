"""Parity with the reference libraries (snntorch, SpikingJelly): identical spikes, and BPTT
gradients equal to torch autograd through them."""

from __future__ import annotations

import numpy as np
import pytest

import physnn as pn

torch = pytest.importorskip("torch")
snn = pytest.importorskip("snntorch")
sj_neuron = pytest.importorskip("spikingjelly.activation_based.neuron")
sj_surrogate = pytest.importorskip("spikingjelly.activation_based.surrogate")
from snntorch import surrogate as snn_surrogate  # noqa: E402

T, B, N = 48, 4, 32


def _inputs(seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(0.3, 0.7, size=(T, B, N)).astype(np.float32)
    beta = rng.uniform(0.6, 0.99, size=N).astype(np.float32)
    return x, beta


def _run_snntorch_leaky(x, beta, thr, reset, spike_grad=None, requires_grad=False):
    kw = {} if spike_grad is None else {"spike_grad": spike_grad}
    neuron = snn.Leaky(beta=torch.from_numpy(beta), threshold=thr, reset_mechanism=reset, **kw)
    xt = torch.from_numpy(x.copy()).requires_grad_(requires_grad)
    mem = torch.zeros(x.shape[1:])
    spikes, mems = [], []
    for t in range(x.shape[0]):
        spk, mem = neuron(xt[t], mem)
        spikes.append(spk)
        mems.append(mem)
    return xt, torch.stack(spikes), torch.stack(mems)


@pytest.mark.parametrize("reset", ["subtract", "zero", "none"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lif_equals_snntorch_leaky(reset, seed):
    x, beta = _inputs(seed)
    thr = float(np.random.default_rng(seed + 10).uniform(0.5, 1.5))
    _, ref_spk, ref_mem = _run_snntorch_leaky(x, beta, thr, reset)
    spikes, _, mem = pn.lif(x, beta=beta, threshold=thr, reset=reset, convention="snntorch",
                            backend="cpu", record_membrane=True)
    assert spikes.sum() > 0
    np.testing.assert_array_equal(spikes, ref_spk.numpy().astype(np.uint8))
    np.testing.assert_allclose(mem, ref_mem.numpy(), atol=1e-6, rtol=0)


@pytest.mark.parametrize("reset", ["subtract", "zero", "none"])
@pytest.mark.parametrize("seed", [0, 1])
def test_synaptic_equals_snntorch_synaptic(reset, seed):
    x, beta = _inputs(seed)
    x *= 0.4
    alpha = np.random.default_rng(seed + 5).uniform(0.3, 0.9, size=N).astype(np.float32)
    neuron = snn.Synaptic(alpha=torch.from_numpy(alpha), beta=torch.from_numpy(beta),
                          threshold=1.0, reset_mechanism=reset)
    syn = torch.zeros(B, N)
    mem = torch.zeros(B, N)
    ref = []
    for t in range(T):
        spk, syn, mem = neuron(torch.from_numpy(x[t]), syn, mem)
        ref.append(spk.numpy())
    spikes, state = pn.synaptic(x, alpha=alpha, beta=beta, threshold=1.0, reset=reset,
                                backend="cpu")
    assert spikes.sum() > 0
    np.testing.assert_array_equal(spikes, np.stack(ref).astype(np.uint8))
    np.testing.assert_allclose(state.mem, mem.numpy(), atol=1e-6, rtol=0)


def _sj_lif(tau, thr, v_reset, detach_reset=False, surrogate=None):
    kw = {} if surrogate is None else {"surrogate_function": surrogate}
    return sj_neuron.LIFNode(tau=tau, decay_input=False, v_threshold=thr, v_reset=v_reset,
                             detach_reset=detach_reset, step_mode="m", **kw)


@pytest.mark.parametrize("v_reset,reset", [(None, "subtract"), (0.0, "zero")])
@pytest.mark.parametrize("tau", [1.1, 2.0, 7.3])
def test_lif_equals_spikingjelly_lifnode(v_reset, reset, tau):
    x, _ = _inputs(int(tau * 10))
    thr = 1.0
    node = _sj_lif(tau, thr, v_reset)
    with torch.no_grad():
        ref = node(torch.from_numpy(x)).numpy()
    beta = 1.0 - 1.0 / tau
    spikes, state = pn.lif(x, beta=beta, threshold=thr, reset=reset, convention="spikingjelly",
                           backend="cpu")
    assert spikes.sum() > 0
    np.testing.assert_array_equal(spikes, ref.astype(np.uint8))
    np.testing.assert_allclose(state.membrane, node.v.numpy(), atol=1e-6, rtol=0)


# ----------------------------------------------------------------------- gradients


@pytest.mark.parametrize("reset", ["subtract", "zero"])
@pytest.mark.parametrize("sg_name,ours,theirs", [
    ("atan", pn.surrogate.atan(2.0), lambda: snn_surrogate.atan(alpha=2.0)),
    ("fast_sigmoid", pn.surrogate.fast_sigmoid(25.0), lambda: snn_surrogate.fast_sigmoid(25)),
])
def test_bptt_equals_autograd_through_snntorch(reset, sg_name, ours, theirs):
    x, beta = _inputs(3)
    thr = 1.0
    xt, spk, mem = _run_snntorch_leaky(x, beta, thr, reset, spike_grad=theirs(),
                                       requires_grad=True)
    w = np.random.default_rng(4).normal(size=x.shape).astype(np.float32)
    (spk * torch.from_numpy(w)).sum().backward()
    spikes, _, membrane = pn.lif(x, beta=beta, threshold=thr, reset=reset, backend="cpu",
                                 record_membrane=True)
    grad_x, _ = pn.lif_backward(w, membrane, spikes, beta=beta, threshold=thr, surrogate=ours,
                                reset=reset, convention="snntorch", backend="cpu")
    ref = xt.grad.numpy()
    assert np.abs(ref).max() > 0
    np.testing.assert_allclose(grad_x, ref, rtol=1e-4, atol=1e-5 * np.abs(ref).max())


@pytest.mark.parametrize("v_reset,reset", [(None, "subtract"), (0.0, "zero")])
@pytest.mark.parametrize("detach_reset", [False, True])
def test_bptt_equals_autograd_through_spikingjelly(v_reset, reset, detach_reset):
    x, _ = _inputs(5)
    tau, thr = 2.0, 1.0
    node = _sj_lif(tau, thr, v_reset, detach_reset, surrogate=sj_surrogate.ATan(alpha=2.0))
    xt = torch.from_numpy(x.copy()).requires_grad_(True)
    spk = node(xt)
    w = np.random.default_rng(6).normal(size=x.shape).astype(np.float32)
    (spk * torch.from_numpy(w)).sum().backward()
    spikes, _, membrane = pn.lif(x, beta=1 - 1 / tau, threshold=thr, reset=reset,
                                 convention="spikingjelly", backend="cpu", record_membrane=True)
    np.testing.assert_array_equal(spikes, spk.detach().numpy().astype(np.uint8))
    grad_x, _ = pn.lif_backward(w, membrane, spikes, beta=1 - 1 / tau, threshold=thr,
                                surrogate="atan", reset=reset, convention="spikingjelly",
                                detach_reset=detach_reset, backend="cpu")
    ref = xt.grad.numpy()
    assert np.abs(ref).max() > 0
    np.testing.assert_allclose(grad_x, ref, rtol=1e-4, atol=1e-5 * np.abs(ref).max())
