"""The per-call fast path of the spiking functions: checks kept between calls (call plans)
never let bad input through, and a plan gives the results a fresh check gives."""

from __future__ import annotations

import numpy as np
import pytest

import physnn as pn
from physnn import spiking

N = 6


def _x(shape=(1, 3, N), seed=0, dtype=np.float32):
    return np.random.default_rng(seed).normal(0.4, 0.7, size=shape).astype(dtype)


@pytest.fixture(autouse=True)
def _fresh_plans():
    spiking._PLANS.clear()
    spiking._PLAN_BYTES[0] = 0
    yield
    spiking._PLANS.clear()
    spiking._PLAN_BYTES[0] = 0


def test_stepping_one_step_at_a_time_equals_one_call():
    x = _x((40, 3, N), seed=1)
    beta = np.linspace(0.6, 0.95, N)
    for fn, kw in ((pn.lif, dict(beta=beta, threshold=0.8)),
                   (pn.lif, dict(beta=0.9, convention="spikingjelly", reset="zero")),
                   (pn.synaptic, dict(alpha=0.7, beta=0.85)),
                   (pn.alif, dict(beta=0.9, gamma=0.3, rho=0.9))):
        full, full_state, full_mem = fn(x, backend="cpu", record_membrane=True, **kw)
        state, steps, mems = None, [], []
        for t in range(len(x)):
            s, state, m = fn(x[t:t + 1], state=state, backend="cpu", record_membrane=True, **kw)
            steps.append(s)
            mems.append(m)
        np.testing.assert_array_equal(np.concatenate(steps), full)
        np.testing.assert_array_equal(np.concatenate(mems), full_mem)
        for a, b in zip(state, full_state, strict=True):
            np.testing.assert_array_equal(a, b)
    assert 0 < len(spiking._PLANS) <= 8  # one plan per distinct call, not one per step


def test_a_plan_is_reused_and_the_callers_state_is_only_read():
    x = _x()
    s0 = np.full((3, N), 0.5, np.float32)
    _, st1 = pn.lif(x, beta=0.9, state=pn.LIFState(s0), backend="cpu")
    plans = dict(spiking._PLANS)
    _, st2 = pn.lif(x, beta=0.9, state=pn.LIFState(s0), backend="cpu")
    assert dict(spiking._PLANS) == plans and len(plans) == 1
    assert (s0 == 0.5).all()  # the kernel reads the initial state, writes a new one
    assert st1.membrane is not st2.membrane and st2.membrane is not s0
    np.testing.assert_array_equal(st1.membrane, st2.membrane)


@pytest.mark.parametrize("mutate,match", [
    (lambda b: b.__setitem__(2, 1.5), "beta must lie in"),
    (lambda b: b.__setitem__(0, np.nan), "beta must be finite"),
])
def test_a_parameter_array_changed_in_place_is_checked_again(mutate, match):
    x = _x()
    beta = np.full(N, 0.9)
    pn.lif(x, beta=beta, backend="cpu")
    mutate(beta)
    with pytest.raises(ValueError, match=match):
        pn.lif(x, beta=beta, backend="cpu")


def test_large_parameter_arrays_are_checked_on_every_call():
    n = spiking.KEY_MAX_NEURONS + 1
    x = _x((2, 1, n))
    thr = np.ones(n)
    pn.lif(x, beta=0.9, threshold=thr, backend="cpu")
    assert not spiking._PLANS  # not keyed by content: never cached
    thr[-1] = -1.0
    with pytest.raises(ValueError, match="threshold must be > 0"):
        pn.lif(x, beta=0.9, threshold=thr, backend="cpu")


def test_every_per_call_check_fires_on_a_cached_plan():
    x = _x()
    st = pn.LIFState(np.zeros((3, N), np.float32))
    pn.lif(x, beta=0.9, state=st, backend="cpu")  # the plan now exists
    bad_x = x.copy()
    bad_x[0, 2, 1] = np.inf
    with pytest.raises(ValueError, match=r"x contains NaN or infinite values \(batch rows \[2\]"):
        pn.lif(bad_x, beta=0.9, state=st, backend="cpu")
    bad_state = np.zeros((3, N), np.float32)
    bad_state[1, 1] = np.nan
    with pytest.raises(ValueError, match="state.membrane contains NaN or infinite values"):
        pn.lif(x, beta=0.9, state=pn.LIFState(bad_state), backend="cpu")
    with pytest.raises(ValueError, match="state.membrane must have shape"):
        pn.lif(x, beta=0.9, state=pn.LIFState(np.zeros((2, N), np.float32)), backend="cpu")
    with pytest.raises(TypeError, match="LIFState"):
        pn.lif(x, beta=0.9, state=(np.zeros((3, N), np.float32),), backend="cpu")
    wide = np.zeros((1, 3, 2 * N), np.float32)
    with pytest.raises(ValueError, match="C-contiguous"):
        pn.lif(wide[:, :, ::2], beta=0.9, backend="cpu")
    with pytest.raises(TypeError, match="float32"):
        pn.lif(x.astype(np.float16), beta=0.9, backend="cpu")
    with pytest.raises(ValueError, match="reset must be one of"):
        pn.lif(x, beta=0.9, reset=["subtract"], backend="cpu")  # unhashable: still refused
    with pytest.raises(ValueError, match="backend must be one of"):
        pn.lif(x, beta=0.9, backend="gpu")


def test_two_state_models_name_the_non_finite_field():
    x = _x()
    pn.synaptic(x, alpha=0.5, beta=0.9, backend="cpu")
    syn = np.zeros((3, N), np.float32)
    mem = np.zeros((3, N), np.float32)
    mem[0, 0] = np.inf
    with pytest.raises(ValueError, match="state.mem contains NaN"):
        pn.synaptic(x, alpha=0.5, beta=0.9, state=pn.SynapticState(syn, mem), backend="cpu")
    a = np.zeros((3, N), np.float32)
    a[2, 3] = np.nan
    with pytest.raises(ValueError, match="state.a contains NaN"):
        pn.alif(x, beta=0.9, state=pn.ALIFState(np.zeros((3, N), np.float32), a),
                backend="cpu")


def test_state_of_another_dtype_or_layout_is_converted():
    x = _x((5, 3, N))
    s64 = np.random.default_rng(3).normal(size=(3, N))
    ref, ref_st = pn.lif(x, beta=0.8, state=pn.LIFState(s64.astype(np.float32)), backend="cpu")
    got, got_st = pn.lif(x, beta=0.8, state=pn.LIFState(s64), backend="cpu")
    np.testing.assert_array_equal(got, ref)
    np.testing.assert_array_equal(got_st.membrane, ref_st.membrane)
    fortran = np.asfortranarray(s64.astype(np.float32))
    got, _ = pn.lif(x, beta=0.8, state=pn.LIFState(fortran), backend="cpu")
    np.testing.assert_array_equal(got, ref)


def test_backward_plans_keep_every_check():
    x = _x((8, 3, N))
    s, _, m = pn.lif(x, beta=0.9, record_membrane=True, backend="cpu")
    g = _x((8, 3, N), seed=2)
    thr = np.ones(N)
    ref, _ = pn.lif_backward(g, m, s, beta=0.9, threshold=thr, backend="cpu")
    again, _ = pn.lif_backward(g, m, s, beta=0.9, threshold=thr, backend="cpu")
    np.testing.assert_array_equal(again, ref)
    thr[1] = 0.0
    with pytest.raises(ValueError, match="threshold must be > 0"):
        pn.lif_backward(g, m, s, beta=0.9, threshold=thr, backend="cpu")
    with pytest.raises(ValueError, match="threshold must be > 0"):
        pn.sltt_backward(g, m, threshold=thr, backend="cpu")
    with pytest.raises(ValueError, match="membrane must match"):
        pn.lif_backward(g, np.ascontiguousarray(m[:, :2]), s, beta=0.9, backend="cpu")
    with pytest.raises(ValueError, match="spikes must have shape"):
        pn.lif_backward(g, m, s[:4], beta=0.9, backend="cpu")
    with pytest.raises(ValueError, match="state.membrane contains NaN"):
        pn.lif_backward(g, m, s, beta=0.9, backend="cpu",
                        state=pn.LIFState(np.full((3, N), np.nan, np.float32)))
    sl = pn.sltt_backward(g, m, backend="cpu")
    np.testing.assert_array_equal(pn.sltt_backward(g, m, backend="cpu"), sl)


def test_shapes_other_than_three_dimensional():
    x4 = _x((5, 2, 3, 4), seed=4)
    s4, st4, m4 = pn.lif(x4, beta=0.85, backend="cpu", record_membrane=True)
    s3, st3, m3 = pn.lif(x4.reshape(5, 2, 12), beta=0.85, backend="cpu", record_membrane=True)
    assert s4.shape == x4.shape and st4.membrane.shape == (2, 3, 4) and m4.shape == x4.shape
    np.testing.assert_array_equal(s4.reshape(5, 2, 12), s3)
    np.testing.assert_array_equal(st4.membrane.reshape(2, 12), st3.membrane)
    s4b, _ = pn.lif(x4, beta=0.85, state=st4, backend="cpu")
    assert s4b.shape == x4.shape
    x2 = _x((7, 3), seed=5)
    s2, st2 = pn.lif(x2, beta=0.85, backend="cpu")
    assert s2.shape == (7, 3) and st2.membrane.shape == (3,)
    g, _ = pn.lif_backward(np.ones_like(m4), m4, s4, beta=0.85, backend="cpu")
    assert g.shape == x4.shape


def test_zero_neurons():
    x = np.zeros((3, 2, 0), np.float32)
    s, st = pn.lif(x, beta=0.9, backend="cpu")
    assert s.shape == (3, 2, 0) and st.membrane.shape == (2, 0)


def test_plans_holding_large_arrays_are_not_kept():
    """A plan's zero state and parameter arrays count against PLAN_CACHE_BYTES: one above
    an eighth of it is not kept (its checks cost little next to such a run)."""
    big = spiking.PLAN_CACHE_BYTES // 8 // 4 // 100 + 1  # batch rows of 100 float32 neurons
    x = np.zeros((1, big, 100), np.float32)
    pn.lif(x, beta=0.9, backend="cpu")
    assert not spiking._PLANS
    pn.lif(x[:, :10], beta=0.9, backend="cpu")
    assert len(spiking._PLANS) == 1 and spiking._PLAN_BYTES[0] > 0
