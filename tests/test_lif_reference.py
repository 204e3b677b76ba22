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


# ----------------------------------------------------------------------- last-bit parity


def test_spikingjelly_tau_is_derived_from_the_python_float_beta():
    """``beta=0.9`` as a Python float runs SpikingJelly's ``LIFNode(tau=1 / (1 - 0.9))``:
    ``tau`` is computed in float64 (10.000000000000002) and rounded once to float32 (10.0).
    Under a constant input of 0.1 the voltage then lands exactly on the threshold 1.0 and
    fires; ``tau`` rounded from float32(0.9) (9.999998) never reaches it."""
    x = np.full((200, 1, 1), 0.1, np.float32)
    node = _sj_lif(1 / (1 - 0.9), 1.0, None)
    with torch.no_grad():
        ref = node(torch.from_numpy(x)).numpy().astype(np.uint8)
    spikes, state = pn.lif(x, beta=0.9, convention="spikingjelly", backend="cpu")
    assert ref.sum() == 1
    np.testing.assert_array_equal(spikes, ref)
    np.testing.assert_array_equal(state.membrane, node.v.numpy())
    assert pn.spiking.spikingjelly_tau(np.array([0.9]), np.float32)[0] == np.float32(10.0)
    # the value as given: float32(0.9) is another beta (0.89999998), with its own tau
    old, _ = pn.lif(x, beta=np.float32(0.9), convention="spikingjelly", backend="cpu")
    assert old.sum() == 0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("seed", range(4))
def test_spikingjelly_random_parameters_bit_for_bit(dtype, seed):
    """Random Python-float beta and threshold, inputs on a coarse grid (so voltages often
    land exactly on the threshold): spikes, the recorded ``h`` and the final ``v`` equal
    ``LIFNode(tau=1 / (1 - beta))`` bit for bit."""
    rng = np.random.default_rng(100 + seed)
    beta = float(rng.uniform(0.05, 0.95))
    thr = float(rng.choice([0.5, 1.0, 1.25]))
    for v_reset, reset in ((None, "subtract"), (0.0, "zero")):
        drive = rng.uniform(-0.5, 2.5, size=(60, 3, 16)) * thr * (1 - beta)  # ~ the rheobase
        x = (np.round(drive * 64) / 64).astype(dtype)
        node = _sj_lif(1 / (1 - beta), thr, v_reset)
        node.store_v_seq = True
        with torch.no_grad():
            ref = node(torch.from_numpy(x)).numpy()
        spikes, state = pn.lif(x, beta=beta, threshold=thr, reset=reset,
                               convention="spikingjelly", backend="cpu")
        assert spikes.sum() > 0
        np.testing.assert_array_equal(spikes, ref.astype(np.uint8))
        np.testing.assert_array_equal(state.membrane, node.v.numpy())


@pytest.mark.parametrize("alpha", [2.0, 3.0, 0.7, 5.3])
def test_atan_surrogate_is_exact_in_float64(alpha):
    """In float64 the atan surrogate (pi/2 in float64, p/2 times a reciprocal) equals
    SpikingJelly's ``atan_backward`` and snntorch's ``ATan.backward`` bit for bit."""
    rng = np.random.default_rng(7)
    g = rng.normal(size=(3, 4, 50))
    u = rng.normal(1.0, 0.8, size=g.shape)
    thr = 1.0
    ours = pn.sltt_backward(g, u, threshold=thr, surrogate=pn.surrogate.atan(alpha),
                            backend="cpu")
    assert ours.dtype == np.float64
    z = torch.from_numpy(u) - thr
    sj = sj_surrogate.atan_backward(torch.from_numpy(g), z, alpha)[0].numpy()
    np.testing.assert_array_equal(ours, sj)

    class Ctx:  # what snntorch's ATan saved in its forward
        saved_tensors = (z,)

    Ctx.alpha = alpha
    theirs = snn_surrogate.ATan.backward(Ctx, torch.from_numpy(g))[0].numpy()
    np.testing.assert_array_equal(ours, theirs)
    # the float32 kernel stays in float32 (no float64 constant promotes it)
    ours32 = pn.sltt_backward(g.astype(np.float32), u.astype(np.float32), threshold=thr,
                              surrogate=pn.surrogate.atan(alpha), backend="cpu")
    assert ours32.dtype == np.float32
    np.testing.assert_allclose(ours32, ours, rtol=1e-6, atol=1e-7)


def test_half_pi_has_the_precision_of_its_argument():
    import math

    from numba import njit

    from physnn.kernels import lif_cpu
    from physnn.kernels.lif_update import SG_ATAN, half_pi

    assert half_pi(np.float64(1.0)) == math.pi / 2
    assert half_pi(np.float32(1.0)) == np.float32(math.pi / 2)
    assert isinstance(half_pi(np.float32(1.0)), np.float32)

    @njit
    def sg(z, p):
        return lif_cpu.surrogate_grad(z, SG_ATAN, p)

    z, p = 0.37, 3.0
    assert sg(z, p) == p / 2 * (1 / (1 + (math.pi / 2 * p * z) ** 2))
    k = np.float32(math.pi / 2) * np.float32(p) * np.float32(z)
    want32 = np.float32(p) * np.float32(0.5) * (np.float32(1) / (np.float32(1) + k * k))
    assert np.float32(sg(np.float32(z), np.float32(p))) == want32
