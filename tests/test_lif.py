"""LIF-family forward kernels on the CPU: oracle, reference libraries, closed form, chunking,
bad input."""

from __future__ import annotations

import math

import lif_oracle as oracle
import numpy as np
import pytest

import physnn as pn


def _rand(shape, seed=0, scale=0.6, dtype=np.float32):
    rng = np.random.default_rng(seed)
    return (rng.normal(0.25, scale, size=shape)).astype(dtype)


@pytest.mark.parametrize("convention", ["snntorch", "spikingjelly"])
@pytest.mark.parametrize("reset", ["subtract", "zero", "none"])
def test_lif_cpu_matches_oracle(convention, reset):
    x = _rand((40, 3, 4, 5), seed=1)
    rng = np.random.default_rng(2)
    beta = rng.uniform(0.5, 0.99, size=(4, 5)).astype(np.float32)
    thr = rng.uniform(0.5, 1.5, size=(4, 5)).astype(np.float32)
    s0 = _rand((3, 4, 5), seed=3)
    spikes, state, mem = pn.lif(x, beta=beta, threshold=thr, reset=reset, convention=convention,
                                state=pn.LIFState(s0), backend="cpu", record_membrane=True)
    ref_s, ref_state, ref_mem = oracle.lif(x, beta, thr, reset, convention, state=s0)
    assert spikes.dtype == np.uint8 and spikes.shape == x.shape
    assert spikes.sum() > 0
    np.testing.assert_array_equal(spikes, ref_s)
    np.testing.assert_allclose(mem, ref_mem, atol=1e-6, rtol=0)
    np.testing.assert_allclose(state.membrane, ref_state, atol=1e-6, rtol=0)


@pytest.mark.parametrize("reset", ["subtract", "zero", "none"])
def test_synaptic_cpu_matches_oracle(reset):
    x = _rand((30, 4, 7), seed=4, scale=0.3)
    alpha = np.linspace(0.3, 0.9, 7, dtype=np.float32)
    spikes, state, mem = pn.synaptic(x, alpha=alpha, beta=0.8, threshold=1.0, reset=reset,
                                     backend="cpu", record_membrane=True)
    ref_s, (ref_syn, ref_mem), ref_rec = oracle.synaptic(x, alpha, np.float32(0.8),
                                                         np.float32(1.0), reset)
    assert spikes.sum() > 0
    np.testing.assert_array_equal(spikes, ref_s)
    np.testing.assert_allclose(mem, ref_rec, atol=1e-6, rtol=0)
    np.testing.assert_allclose(state.syn, ref_syn, atol=1e-6, rtol=0)
    np.testing.assert_allclose(state.mem, ref_mem, atol=1e-6, rtol=0)


@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_alif_cpu_matches_oracle(reset):
    x = _rand((50, 3, 6), seed=5)
    spikes, state, mem = pn.alif(x, beta=0.9, threshold=1.0, gamma=0.3, rho=0.9, reset=reset,
                                 backend="cpu", record_membrane=True)
    ref_s, (v, a), rec = oracle.alif(x, 0.9, 1.0, 0.3, 0.9, reset)
    np.testing.assert_array_equal(spikes, ref_s)
    np.testing.assert_allclose(mem, rec, atol=1e-6, rtol=0)
    np.testing.assert_allclose(state.v, v, atol=1e-6, rtol=0)
    np.testing.assert_allclose(state.a, a, atol=1e-6, rtol=0)


def test_alif_adaptation_lowers_the_rate():
    x = np.full((200, 1, 1), 0.4, dtype=np.float32)
    plain, _ = pn.alif(x, beta=0.9, gamma=0.0, backend="cpu")
    adapted, state = pn.alif(x, beta=0.9, gamma=0.5, rho=0.98, backend="cpu")
    assert adapted.sum() < plain.sum()
    assert state.a[0, 0] > 0


def test_float32_spikes_and_float64_input():
    x = _rand((20, 2, 3), seed=6, dtype=np.float64)
    s_u8, _ = pn.lif(x, beta=0.9, backend="cpu")
    s_f32, st = pn.lif(x, beta=0.9, backend="cpu", spike_dtype=np.float32)
    assert s_f32.dtype == np.float32 and st.membrane.dtype == np.float64
    np.testing.assert_array_equal(s_u8, s_f32.astype(np.uint8))
    np.testing.assert_array_equal(s_u8, oracle.lif(x, 0.9, 1.0)[0])


@pytest.mark.parametrize("convention", ["snntorch", "spikingjelly"])
def test_chunked_equals_one_shot(convention):
    x = _rand((60, 3, 8), seed=7)
    full, st_full = pn.lif(x, beta=0.85, convention=convention, backend="cpu")
    state = None
    parts = []
    for a, b in [(0, 17), (17, 18), (18, 45), (45, 60)]:
        s, state = pn.lif(np.ascontiguousarray(x[a:b]), beta=0.85, convention=convention,
                          state=state, backend="cpu")
        parts.append(s)
    np.testing.assert_array_equal(np.concatenate(parts), full)
    np.testing.assert_array_equal(state.membrane, st_full.membrane)


def test_chunked_synaptic_and_alif():
    x = _rand((40, 2, 5), seed=8, scale=0.3)
    full, _ = pn.synaptic(x, alpha=0.7, beta=0.8, backend="cpu")
    s1, st = pn.synaptic(x[:13], alpha=0.7, beta=0.8, backend="cpu")
    s2, _ = pn.synaptic(x[13:], alpha=0.7, beta=0.8, state=st, backend="cpu")
    np.testing.assert_array_equal(np.concatenate([s1, s2]), full)
    full, _ = pn.alif(x, beta=0.8, backend="cpu")
    s1, st = pn.alif(x[:21], beta=0.8, backend="cpu")
    s2, _ = pn.alif(x[21:], beta=0.8, state=st, backend="cpu")
    np.testing.assert_array_equal(np.concatenate([s1, s2]), full)


@pytest.mark.parametrize("current,beta,thr", [(0.3, 0.9, 1.0), (0.55, 0.8, 1.3),
                                              (2.5, 0.5, 1.0), (0.12, 0.95, 1.0)])
def test_constant_current_fires_at_the_analytic_rate(current, beta, thr):
    """Reset-to-zero LIF under constant current I: after each spike the membrane restarts at
    I and follows u_k = I (1 - beta^k) / (1 - beta), so the interspike interval is the
    smallest k with u_k > threshold: k = ceil(ln(1 - thr (1 - beta) / I) / ln beta)."""
    T = 600
    k = math.ceil(math.log(1 - thr * (1 - beta) / current) / math.log(beta))
    x = np.full((T, 1, 1), current, dtype=np.float32)
    spikes, _ = pn.lif(x, beta=beta, threshold=thr, reset="zero", backend="cpu")
    times = np.flatnonzero(spikes[:, 0, 0])
    assert times.size == T // k
    np.testing.assert_array_equal(np.diff(times), k)


def test_subtractive_reset_conserves_charge_with_beta_one():
    """A perfect integrator (beta = 1) with subtractive reset fires I / threshold per step."""
    T, current = 1000, 0.37
    x = np.full((T, 1, 1), current, dtype=np.float32)
    spikes, state = pn.lif(x, beta=1.0, threshold=1.0, backend="cpu")
    n = int(spikes.sum())
    assert abs(n - T * current) <= 1
    assert 0 <= state.membrane[0, 0] <= 1.0 + current + 1e-4


# ----------------------------------------------------------------------- bad input


@pytest.mark.parametrize("kwargs,exc,match", [
    (dict(x=np.zeros((5,), np.float32)), ValueError, "time-major"),
    (dict(x=np.zeros((5, 2, 3), np.int64)), TypeError, "float32"),
    (dict(x=np.zeros((5, 2, 3), np.float32)[:, :, ::2]), ValueError, "C-contiguous"),
    (dict(x=[[1.0]]), TypeError, "numpy.ndarray"),
    (dict(beta=1.5), ValueError, "beta must lie in"),
    (dict(beta=-0.1), ValueError, "beta must lie in"),
    (dict(beta=np.ones(4)), ValueError, "beta must be a scalar or have the feature shape"),
    (dict(threshold=0.0), ValueError, "threshold must be > 0"),
    (dict(threshold=float("nan")), ValueError, "threshold must be finite"),
    (dict(reset="soft"), ValueError, "reset must be one of"),
    (dict(convention="brian"), ValueError, "convention must be one of"),
    (dict(state=pn.LIFState(np.zeros((3, 3), np.float32))), ValueError, "state.membrane"),
    (dict(state=np.zeros((2, 3), np.float32)), TypeError, "LIFState"),
    (dict(spike_dtype=np.int32), TypeError, "spike_dtype"),
    (dict(backend="gpu"), ValueError, "backend must be one of"),
])
def test_bad_input_gets_a_clear_error(kwargs, exc, match):
    args = dict(x=np.zeros((5, 2, 3), np.float32), beta=0.9)
    args.update(kwargs)
    x = args.pop("x")
    with pytest.raises(exc, match=match):
        pn.lif(x, backend=args.pop("backend", "cpu"), **args)


def test_non_finite_input_is_refused_and_state_untouched():
    x = _rand((10, 3, 4), seed=9)
    x[4, 1, 2] = np.nan
    s0 = np.full((3, 4), 0.25, np.float32)
    state = pn.LIFState(s0)
    with pytest.raises(ValueError, match=r"NaN or infinite.*batch rows \[1\]"):
        pn.lif(x, beta=0.9, state=state, backend="cpu")
    assert np.all(s0 == 0.25)


def test_zero_length_time_is_refused():
    with pytest.raises(ValueError, match="T >= 1"):
        pn.lif(np.zeros((0, 2, 3), np.float32), beta=0.9, backend="cpu")


# ----------------------------------------------------------------------- encoders


def test_rate_encoder_matches_probability_and_is_seeded():
    x = np.array([[0.0, 0.2, 0.9, 1.0]])
    s = pn.encoders.rate(x, 4000, rng=np.random.default_rng(0))
    assert s.shape == (4000, 1, 4) and s.dtype == np.uint8
    np.testing.assert_allclose(s.mean(axis=0)[0], x[0], atol=0.02)
    s2 = pn.encoders.rate(x, 4000, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(s, s2)
    with pytest.raises(ValueError, match="spike probability"):
        pn.encoders.rate(x * 2, 10, rng=np.random.default_rng(0))
    with pytest.raises(TypeError, match="rng"):
        pn.encoders.rate(x, 10, rng=0)


def test_latency_encoder_orders_spikes_by_intensity():
    x = np.array([[1.0, 0.6, 0.2, 0.05]])
    s = pn.encoders.latency(x, 50, tau=50.0, threshold=0.1)
    times = [np.flatnonzero(s[:, 0, i]) for i in range(4)]
    assert [t.size for t in times] == [1, 1, 1, 0]
    assert times[0][0] == 0 < times[1][0] < times[2][0]
    lin = pn.encoders.latency(x, 11, linear=True, threshold=0.01)
    assert np.flatnonzero(lin[:, 0, 1])[0] == 4  # (1 - 0.6) * 10
    with pytest.raises(ValueError, match="num_steps"):
        pn.encoders.latency(x, 0)


def test_delta_encoder():
    x = np.array([0.0, 0.05, 0.3, 0.3, 0.1, 0.15])[:, None, None]
    on = pn.encoders.delta(x, threshold=0.1)
    np.testing.assert_array_equal(on[:, 0, 0], [0, 0, 1, 0, 0, 0])
    both = pn.encoders.delta(x, threshold=0.1, off_spike=True)
    np.testing.assert_array_equal(both[:, 0, 0], [0, 0, 1, 0, -1, 0])
