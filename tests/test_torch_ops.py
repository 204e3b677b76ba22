"""physnn.torch_ops: LIF / Synaptic modules and lif_spikes against snntorch (spikes identical,
gradients for x, state, beta, threshold, alpha within 1e-4) and against a pure-PyTorch
float64 reference of the same recurrence and surrogate (both conventions, every reset)."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
snn = pytest.importorskip("snntorch")

import physnn as pn  # noqa: E402
from physnn.torch_ops import LIF, Synaptic, SynapticState, lif_spikes  # noqa: E402

RESETS = ["subtract", "zero", "none"]


def _x(shape, seed=0, dtype=torch.float32, mean=0.3, std=0.7):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(shape, generator=g, dtype=torch.float64) * std + mean).to(dtype)


def _close(a, b, rtol=1e-4):
    """Max |a - b| relative to max |b| (the figure the tests bound)."""
    a, b = a.detach().double(), b.detach().double()
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-30))


# ----------------------------------------------------------------------------- references


class _Spike(torch.autograd.Function):
    """H(z) (``z > 0``, or ``z >= 0`` with ``ge``) with the surrogate derivative of ``sg``."""

    @staticmethod
    def forward(ctx, z, sg, ge):
        ctx.save_for_backward(z)
        ctx.sg = sg
        return (z >= 0).to(z.dtype) if ge else (z > 0).to(z.dtype)

    @staticmethod
    def backward(ctx, g):
        (z,) = ctx.saved_tensors
        d = torch.from_numpy(np.asarray(ctx.sg.derivative(z.detach().numpy()), dtype=np.float64))
        return g * d.to(g.dtype), None, None


def reference_lif(x, beta, thr, u0, sg, reset, convention, detach_reset=False):
    """Pure-PyTorch LIF from the equations of physnn.torch_ops.LIF, step by step."""
    beta = beta.clamp(0, 1)
    u = u0
    out = []
    for t in range(x.shape[0]):
        if convention == "snntorch":
            r = (u > thr).to(x.dtype).detach()
            if reset == "zero":
                u = beta * ((1 - r) * u) + x[t]
            else:
                u = beta * u + x[t]
                if reset == "subtract":
                    u = u - r * thr
            out.append(_Spike.apply(u - thr, sg, False))
        else:
            h = u - u * (1 - beta) + x[t]
            s = _Spike.apply(h - thr, sg, True)
            sr = s.detach() if detach_reset else s
            u = h - sr * thr if reset == "subtract" else h * (1 - sr) if reset == "zero" else h
            out.append(s)
    return torch.stack(out), u


def snntorch_leaky(x, beta, thr, u0, reset):
    from snntorch import surrogate

    neuron = snn.Leaky(beta=beta, threshold=thr, spike_grad=surrogate.atan(alpha=2.0),
                       reset_mechanism=reset, learn_beta=True, learn_threshold=True)
    mem, out = u0, []
    for t in range(x.shape[0]):
        s, mem = neuron(x[t], mem)
        out.append(s)
    return torch.stack(out), mem, neuron


def _leaves(*tensors):
    return [t.detach().clone().requires_grad_(True) for t in tensors]


# ----------------------------------------------------------------------------- snntorch parity


@pytest.mark.parametrize("per_neuron", [False, True])
@pytest.mark.parametrize("reset", RESETS)
def test_lif_matches_snntorch_leaky(reset, per_neuron):
    T, B, N = 40, 4, 12
    x0 = _x((T, B, N), seed=1)
    u00 = _x((B, N), seed=2, mean=0.5)
    w = _x((T, B, N), seed=3)
    wf = _x((B, N), seed=4)
    beta0 = torch.linspace(0.6, 0.95, N) if per_neuron else torch.tensor(0.85)
    thr0 = torch.linspace(0.8, 1.2, N) if per_neuron else torch.tensor(1.0)

    x1, u01 = _leaves(x0, u00)
    lif = LIF(beta0, thr0, learn_beta=True, learn_threshold=True, reset=reset)
    s1, m1 = lif(x1, u01)
    ((s1 * w).sum() + (m1 * wf).sum()).backward()

    x2, u02 = _leaves(x0, u00)
    s2, m2, neuron = snntorch_leaky(x2, beta0.clone(), thr0.clone(), u02, reset)
    ((s2 * w).sum() + (m2 * wf).sum()).backward()

    assert s1.dtype == torch.float32 and s1.shape == x0.shape and s1.sum() > 10
    torch.testing.assert_close(s1, s2, rtol=0, atol=0)
    torch.testing.assert_close(m1, m2, rtol=1e-6, atol=1e-6)
    for mine, ref in ((x1.grad, x2.grad), (u01.grad, u02.grad), (lif.beta.grad, neuron.beta.grad),
                      (lif.threshold.grad, neuron.threshold.grad)):
        assert mine.shape == ref.shape and mine.abs().sum() > 0
        assert _close(mine, ref) < 1e-4


@pytest.mark.parametrize("reset", RESETS)
def test_synaptic_matches_snntorch_synaptic(reset):
    from snntorch import surrogate

    T, B, N = 30, 3, 10
    x0 = _x((T, B, N), seed=5, mean=0.2, std=0.5)
    s00, m00 = _x((B, N), seed=6, mean=0.1), _x((B, N), seed=7, mean=0.5)
    w = _x((T, B, N), seed=8)
    ws, wm = _x((B, N), seed=9), _x((B, N), seed=10)
    alpha0 = torch.linspace(0.5, 0.9, N)
    beta0, thr0 = torch.tensor(0.8), torch.linspace(0.9, 1.1, N)

    x1, sy1, me1 = _leaves(x0, s00, m00)
    mod = Synaptic(alpha0, beta0, thr0, learn_alpha=True, learn_beta=True, learn_threshold=True,
                   reset=reset)
    spk1, st1 = mod(x1, (sy1, me1))
    assert isinstance(st1, SynapticState)
    ((spk1 * w).sum() + (st1.syn * ws).sum() + (st1.mem * wm).sum()).backward()

    x2, sy2, me2 = _leaves(x0, s00, m00)
    neuron = snn.Synaptic(alpha=alpha0.clone(), beta=beta0.clone(), threshold=thr0.clone(),
                          spike_grad=surrogate.atan(alpha=2.0), learn_alpha=True,
                          learn_beta=True, learn_threshold=True, reset_mechanism=reset)
    syn, mem, out = sy2, me2, []
    for t in range(T):
        s, syn, mem = neuron(x2[t], syn, mem)
        out.append(s)
    spk2 = torch.stack(out)
    ((spk2 * w).sum() + (syn * ws).sum() + (mem * wm).sum()).backward()

    assert spk1.sum() > 10
    torch.testing.assert_close(spk1, spk2, rtol=0, atol=0)
    torch.testing.assert_close(st1.mem, mem, rtol=1e-6, atol=1e-6)
    for mine, ref in ((x1.grad, x2.grad), (sy1.grad, sy2.grad), (me1.grad, me2.grad),
                      (mod.alpha.grad, neuron.alpha.grad), (mod.beta.grad, neuron.beta.grad),
                      (mod.threshold.grad, neuron.threshold.grad)):
        assert mine.shape == ref.shape and mine.abs().sum() > 0
        assert _close(mine, ref) < 1e-4


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


def test_lif_spikes_gives_a_tensor_beta_its_gradient():
    """The old bug: a beta tensor requiring grad silently got none."""
    x = _x((25, 2, 6), seed=11)
    beta = torch.full((6,), 0.8, requires_grad=True)
    thr = torch.tensor(0.9, requires_grad=True)
    (lif_spikes(x, beta=beta, threshold=thr) * _x(x.shape, seed=12)).sum().backward()
    lif = LIF(torch.full((6,), 0.8), 0.9, learn_beta=True, learn_threshold=True)
    (lif(x)[0] * _x(x.shape, seed=12)).sum().backward()
    assert beta.grad is not None and thr.grad is not None and beta.grad.abs().sum() > 0
    torch.testing.assert_close(beta.grad, lif.beta.grad)
    torch.testing.assert_close(thr.grad, lif.threshold.grad)


# ----------------------------------------------------------------------------- float64, references


@pytest.mark.parametrize("sg", ["atan", "fast_sigmoid", "triangle", "sigmoid"])
@pytest.mark.parametrize("convention,reset,detach", [
    ("snntorch", "subtract", False), ("snntorch", "zero", False), ("snntorch", "none", False),
    ("spikingjelly", "subtract", False), ("spikingjelly", "zero", False),
    ("spikingjelly", "subtract", True), ("spikingjelly", "zero", True),
    ("spikingjelly", "none", False)])
def test_lif_float64_equals_torch_reference(convention, reset, detach, sg):
    T, B, N = 20, 3, 7
    sgo = pn.surrogate.get_surrogate(sg)
    x0 = _x((T, B, N), seed=13, dtype=torch.float64)
    u00 = _x((B, N), seed=14, mean=0.4, dtype=torch.float64)
    w, wf = _x((T, B, N), seed=15, dtype=torch.float64), _x((B, N), seed=16, dtype=torch.float64)
    beta0 = torch.linspace(0.5, 0.95, N, dtype=torch.float64)
    thr0 = torch.linspace(0.8, 1.2, N, dtype=torch.float64)

    x1, u01 = _leaves(x0, u00)
    lif = LIF(beta0, thr0, learn_beta=True, learn_threshold=True, surrogate=sg, reset=reset,
              convention=convention, detach_reset=detach)
    s1, m1 = lif(x1, u01)
    ((s1 * w).sum() + (m1 * wf).sum()).backward()

    x2, u02, b2, t2 = _leaves(x0, u00, beta0, thr0)
    s2, m2 = reference_lif(x2, b2, t2, u02, sgo, reset, convention, detach)
    ((s2 * w).sum() + (m2 * wf).sum()).backward()

    assert s1.dtype == m1.dtype == x1.grad.dtype == lif.beta.grad.dtype == torch.float64
    assert s1.sum() > 5
    torch.testing.assert_close(s1, s2, rtol=0, atol=0)
    torch.testing.assert_close(m1, m2, rtol=1e-12, atol=1e-12)
    # the kernels' atan surrogate holds pi/2 as a float32 constant (shared with the float32
    # path, where it rounds as snntorch does): a 1e-8 relative change of its slope in float64
    tol = 1e-7 if sg == "atan" else 1e-10
    for mine, ref in ((x1.grad, x2.grad), (u01.grad, u02.grad), (lif.beta.grad, b2.grad),
                      (lif.threshold.grad, t2.grad)):
        assert _close(mine, ref) < tol


@pytest.mark.parametrize("convention,reset,detach", [
    ("snntorch", "subtract", False), ("snntorch", "zero", False),
    ("spikingjelly", "subtract", True), ("spikingjelly", "zero", True),
    ("spikingjelly", "none", False)])
def test_lif_float64_gradcheck_of_the_final_state(convention, reset, detach):
    """The final state depends on the spikes only through the (detached) reset, piecewise
    constant in the inputs: its gradient is then the true derivative, which gradcheck's
    finite differences see (away from the measure-zero jumps, which this data avoids)."""
    T, B, N = 12, 2, 3
    x = _x((T, B, N), seed=17, dtype=torch.float64, mean=0.4).requires_grad_(True)
    beta = torch.tensor([0.6, 0.8, 0.9], dtype=torch.float64, requires_grad=True)
    thr = torch.tensor([0.7, 0.9, 1.1], dtype=torch.float64, requires_grad=True)
    u0 = _x((B, N), seed=18, dtype=torch.float64).requires_grad_(True)
    lif = LIF(0.5, reset=reset, convention=convention, detach_reset=detach)

    def final_state(x, beta, thr, u0):
        lif.beta, lif.threshold = beta, thr
        spikes, state = lif(x, u0)
        assert spikes.sum() > 3
        return state

    assert torch.autograd.gradcheck(final_state, (x, beta, thr, u0), eps=1e-6, atol=1e-8)


def test_synaptic_float64_gradcheck_of_the_final_state():
    T, B, N = 10, 2, 3
    x = _x((T, B, N), seed=19, dtype=torch.float64, mean=0.3).requires_grad_(True)
    params = [torch.tensor(v, dtype=torch.float64, requires_grad=True)
              for v in ([0.5, 0.7, 0.8], [0.6, 0.8, 0.9], [0.7, 0.9, 1.1])]
    s0 = _x((B, N), seed=20, dtype=torch.float64).requires_grad_(True)
    m0 = _x((B, N), seed=21, dtype=torch.float64).requires_grad_(True)
    mod = Synaptic(0.5, 0.5)

    def final_state(x, alpha, beta, thr, s0, m0):
        mod.alpha, mod.beta, mod.threshold = alpha, beta, thr
        spikes, state = mod(x, (s0, m0))
        assert spikes.sum() > 3
        return state.syn, state.mem

    assert torch.autograd.gradcheck(final_state, (x, *params, s0, m0), eps=1e-6, atol=1e-8)


def test_lif_spikes_float64_forward_and_backward():
    """The old bug: float64 passed the forward and failed in the backward."""
    x = _x((15, 2, 4), seed=22, dtype=torch.float64).requires_grad_(True)
    out = lif_spikes(x, beta=0.9)
    assert out.dtype == torch.float64
    (out * _x(x.shape, seed=23, dtype=torch.float64)).sum().backward()
    assert x.grad.dtype == torch.float64 and x.grad.abs().sum() > 0


# ----------------------------------------------------------------------------- state, shapes


def test_chunks_with_state_equal_one_run_including_gradients():
    T, B = 30, 3
    x0 = _x((T, B, 2, 3), seed=24)
    w = _x(x0.shape, seed=25)
    lif = LIF(torch.full((2, 3), 0.9), learn_beta=True, learn_threshold=True)
    x1 = x0.clone().requires_grad_(True)
    s, st = lif(x1)
    (s * w).sum().backward()
    g_full = (x1.grad.clone(), lif.beta.grad.clone(), lif.threshold.grad.clone())
    lif.zero_grad()
    x2 = x0.clone().requires_grad_(True)
    sa, st_a = lif(x2[:13])
    sb, st_b = lif(x2[13:], st_a)
    (torch.cat([sa, sb]) * w).sum().backward()
    torch.testing.assert_close(torch.cat([sa, sb]), s, rtol=0, atol=0)
    torch.testing.assert_close(st_b, st)
    for a, b in zip(g_full, (x2.grad, lif.beta.grad, lif.threshold.grad), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_non_contiguous_input_is_copied_once_and_gives_the_same_result():
    base = _x((4, 20, 5), seed=26)  # (B, T, N), made time-major by a transpose
    xt = base.transpose(0, 1)
    assert not xt.is_contiguous()
    lif = LIF(0.8, learn_beta=True)
    a = xt.clone().requires_grad_(True)
    b = base.clone().requires_grad_(True)
    sa, _ = lif(a.contiguous())
    sb, _ = lif(b.transpose(0, 1))
    torch.testing.assert_close(sa, sb, rtol=0, atol=0)
    sa.sum().backward()
    sb.sum().backward()
    torch.testing.assert_close(a.grad, b.grad.transpose(0, 1))


def test_broadcast_parameter_and_state_namedtuple():
    x = _x((10, 2, 3, 4), seed=27)
    lif = LIF(torch.tensor([[0.7], [0.8], [0.9]]), learn_beta=True)  # per channel
    s, st = lif(x, pn.LIFState(torch.zeros(2, 3, 4)))
    s.sum().backward()
    assert lif.beta.grad.shape == (3, 1)
    full = LIF(torch.tensor([0.7, 0.8, 0.9]).repeat_interleave(4).reshape(3, 4))
    torch.testing.assert_close(s, full(x)[0], rtol=0, atol=0)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.int32])
def test_other_dtypes_are_refused_naming_x(dtype):
    with pytest.raises(TypeError, match=r"^x must be float32 or float64"):
        LIF(0.9)(torch.ones(3, 2, 2, dtype=dtype))
    with pytest.raises(TypeError, match=r"^x must be float32 or float64"):
        lif_spikes(torch.ones(3, 2, 2, dtype=dtype), beta=0.9)


def test_lif_spikes_rejects_non_tensors():
    with pytest.raises(TypeError, match="torch.Tensor"):
        lif_spikes(np.zeros((2, 2, 2), np.float32), beta=0.9)


def test_bad_arguments_raise_clear_errors():
    x = torch.zeros(5, 2, 3)
    with pytest.raises(ValueError, match="beta must lie in"):
        LIF(1.5)
    with pytest.raises(ValueError, match="reset must be one of"):
        LIF(0.9, reset="soft")
    with pytest.raises(ValueError, match="beta must be a scalar or broadcast"):
        LIF(torch.full((4,), 0.9))(x)
    with pytest.raises(ValueError, match=r"state must have shape \(batch, \*features\)"):
        LIF(0.9)(x, torch.zeros(3, 3))
    with pytest.raises(TypeError, match="state must have x's dtype"):
        LIF(0.9)(x, torch.zeros(2, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="time-major"):
        LIF(0.9)(torch.zeros(5))
    bad = x.clone()
    bad[2, 1, 0] = float("nan")
    with pytest.raises(ValueError, match=r"x contains NaN or infinite values \(batch rows \[1\]"):
        LIF(0.9)(bad)
    with pytest.raises(TypeError, match=r"state must be a \(syn, mem\) pair"):
        Synaptic(0.5, 0.9)(x, torch.zeros(2, 3))


def test_parameters_and_buffers():
    lif = LIF(0.9, 1.0, learn_beta=True)
    assert [n for n, _ in lif.named_parameters()] == ["beta"]
    assert [n for n, _ in lif.named_buffers()] == ["threshold"]
    lif.double()
    assert lif.beta.dtype == torch.float64
    s, _ = lif(_x((5, 2, 3), dtype=torch.float64))
    assert s.dtype == torch.float64
    syn = Synaptic(0.5, 0.9, learn_threshold=True)
    assert sorted(syn.state_dict()) == ["alpha", "beta", "threshold"]
    assert "atan(2)" in repr(LIF(0.9))


def test_no_record_without_grad():
    """Inference (no grad) skips the membrane record; the result is the same."""
    x = _x((8, 2, 3), seed=28)
    lif = LIF(0.9, learn_beta=True)
    with torch.no_grad():
        s0, st0 = lif(x)
    s1, st1 = lif(x)
    assert not s0.requires_grad and s1.requires_grad
    torch.testing.assert_close(s0, s1, rtol=0, atol=0)
    torch.testing.assert_close(st0, st1.detach(), rtol=0, atol=0)


# ----------------------------------------------------------------------------- torch.compile


def test_custom_ops_pass_opcheck():
    x = _x((6, 2, 3), seed=29).requires_grad_(True)
    beta = torch.tensor([0.8, 0.9, 0.7], requires_grad=True)
    thr = torch.ones(3, requires_grad=True)
    st = torch.zeros(2, 3, requires_grad=True)
    tau = pn.spiking.spikingjelly_tau(beta.detach(), x.dtype)
    torch.library.opcheck(torch.ops.physnn.lif.default,
                          (x, beta, tau, thr, st, 0, 0, 0, 2.0, False, True))
    torch.library.opcheck(torch.ops.physnn.synaptic.default,
                          (x, beta, beta, thr, st, st, 1, 0, 2.0, True))


@pytest.mark.parametrize("module", ["lif", "synaptic"])
def test_torch_compile_fullgraph_equals_eager(module):
    torch._dynamo.reset()
    lin = torch.nn.Linear(5, 5)
    neuron = (LIF(0.85, learn_beta=True, learn_threshold=True) if module == "lif"
              else Synaptic(0.7, 0.85, learn_alpha=True, learn_threshold=True))

    def step(x):
        spikes, state = neuron(lin(x))
        last = state if module == "lif" else state.mem
        return spikes.mean(0), last

    x = _x((12, 3, 5), seed=30, std=1.5)
    explain = torch._dynamo.explain(step)(x)
    assert explain.graph_break_count == 0 and explain.graph_count == 1
    compiled = torch.compile(step, fullgraph=True, backend="aot_eager")
    results = []
    for fn in (step, compiled):
        lin.zero_grad()
        neuron.zero_grad()
        rate, last = fn(x)
        (rate.sum() + last.sum()).backward()
        params = [p.grad.clone() for p in (*lin.parameters(), *neuron.parameters())]
        results.append((rate.detach(), last.detach(), params))
    (r0, l0, g0), (r1, l1, g1) = results
    assert r0.sum() > 0
    torch.testing.assert_close(r1, r0, rtol=0, atol=0)
    torch.testing.assert_close(l1, l0)
    for a, b in zip(g0, g1, strict=True):
        torch.testing.assert_close(b, a)


def test_torch_compile_float64_and_no_grad():
    torch._dynamo.reset()
    lif = LIF(0.9, convention="spikingjelly")
    compiled = torch.compile(lif, fullgraph=True, backend="aot_eager")
    x = _x((9, 2, 4), seed=31, dtype=torch.float64)
    with torch.no_grad():
        s, st = compiled(x)
    assert s.dtype == torch.float64
    ref_s, ref_st = lif(x)
    torch.testing.assert_close(s, ref_s, rtol=0, atol=0)
    torch.testing.assert_close(st, ref_st, rtol=0, atol=0)
    assert math.isfinite(float(st.sum()))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_spikingjelly_tau_comes_from_beta_as_given(dtype):
    """A number beta runs with tau = 1 / (1 - beta) computed in float64 and rounded once
    (SpikingJelly's LIFNode(tau=1 / (1 - 0.9)) runs with tau = 10.0 exactly), the same rule
    and the same spikes and state as physnn.lif; not tau from float32(beta) = 9.999998."""
    tau = pn.spiking.spikingjelly_tau(torch.tensor(0.9, dtype=torch.float64), torch.float32)
    assert float(tau) == 10.0
    assert float(pn.spiking.spikingjelly_tau(torch.tensor(0.9), torch.float32)) != 10.0
    assert pn.spiking.spikingjelly_tau(np.array([0.9]), np.float32)[0] == 10.0
    x = _x((40, 3, 16), seed=41, dtype=dtype, mean=0.5, std=0.6)
    ref_spikes, ref_state = pn.lif(x.numpy(), beta=0.9, threshold=1.0,
                                   convention="spikingjelly")
    lif = LIF(0.9, convention="spikingjelly")
    s, st = lif(x)
    np.testing.assert_array_equal(s.numpy(), ref_spikes)
    np.testing.assert_array_equal(st.numpy(), ref_state.membrane)
    s = lif_spikes(x, beta=0.9, convention="spikingjelly")
    np.testing.assert_array_equal(s.numpy(), ref_spikes)
    assert lif.beta.dtype == torch.float64  # the fixed number, kept in double precision
    assert LIF(0.9).beta.dtype == torch.float32  # snntorch convention: float32, as snntorch
