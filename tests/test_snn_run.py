"""SpikingNetwork.run: the per-step readout, its agreement with the learners' inference,
time-major vs static input, chunked state, the reset option, and bad input."""

from __future__ import annotations

import numpy as np
import pytest

import physnn as pn
from physnn.learning.sltt import SLTT, predict_logits
from physnn.snn import Conv2d, Dense, SpikingNetwork


def _dense_net(**kw) -> SpikingNetwork:
    return SpikingNetwork([Dense(12, 10), Dense(10, 8), Dense(8, 3)], beta=0.7, threshold=0.5,
                          seed=3, **kw)


def _conv_net(**kw) -> SpikingNetwork:
    return SpikingNetwork([Conv2d(2, 3, 3, in_hw=(6, 6), stride=2, padding=1), Dense(27, 4)],
                          beta=0.6, threshold=0.4, seed=4, **kw)


NETS = {"dense": (_dense_net, (12,)), "conv": (_conv_net, (2, 6, 6))}


@pytest.mark.parametrize("kind", sorted(NETS))
@pytest.mark.parametrize("readout", ["membrane", "spike_count"])
@pytest.mark.parametrize("convention,reset", [("spikingjelly", "subtract"),
                                              ("snntorch", "subtract"), ("snntorch", "zero")])
def test_run_agrees_with_predict(kind, readout, convention, reset):
    make, in_shape = NETS[kind]
    net = make(readout=readout, convention=convention, reset=reset)
    x = np.random.default_rng(0).normal(size=(9, *in_shape)).astype(np.float32) * 2
    T = 7
    out = net.run(x, num_steps=T)
    assert out.shape == (T, 9, net.num_classes) and out.dtype == np.float32
    if readout == "spike_count":
        assert set(np.unique(out)) <= {0.0, 1.0} and 0 < out.mean() < 1
    logits = predict_logits(net, x, T)
    # one loop (physnn.learning.sltt.forward_steps) runs both: the same bits, step by step
    np.testing.assert_array_equal(out.astype(np.float64).sum(axis=0), logits)
    pred = SLTT(num_steps=T).predict(net, x)
    np.testing.assert_array_equal(out.sum(axis=0, dtype=np.float64).argmax(axis=1), pred)


def test_time_major_input_equals_static_input():
    net = _conv_net(readout="spike_count")
    x = np.random.default_rng(1).normal(size=(4, 2, 6, 6)).astype(np.float32)
    static = net.run(x, num_steps=5)
    np.testing.assert_array_equal(net.run(np.broadcast_to(x, (5, *x.shape))), static)
    # flattened features are accepted too
    np.testing.assert_array_equal(net.run(x.reshape(4, -1), num_steps=5), static)


def test_time_major_input_equals_rate_encoded_predict():
    net = _dense_net(readout="spike_count")
    x = np.random.default_rng(2).uniform(size=(6, 12)).astype(np.float32)
    T = 8
    draws = np.random.default_rng(7)
    frames = np.stack([(draws.random(x.shape) < x).astype(np.float32) for _ in range(T)])
    logits = predict_logits(net, x, T, encoder="rate", rng=np.random.default_rng(7))
    np.testing.assert_array_equal(net.run(frames).sum(axis=0, dtype=np.float64), logits)


def test_membrane_readout_is_the_last_layers_current():
    net = SpikingNetwork([Dense(5, 4), Dense(4, 3)], beta=0.5, threshold=0.3, seed=0,
                         convention="snntorch", reset="zero")
    x = np.random.default_rng(3).normal(size=(6, 2, 5)).astype(np.float32)
    out = net.run(x)
    (w0, b0), (w1, b1) = net.params
    spikes = pn.lif(np.ascontiguousarray(x @ w0.T + b0), beta=0.5, threshold=0.3,
                    convention="snntorch", reset="zero", spike_dtype=np.float32)[0]
    np.testing.assert_allclose(out, spikes @ w1.T + b1, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("reset", ["subtract", "zero"])
@pytest.mark.parametrize("convention", ["snntorch", "spikingjelly"])
def test_spikes_follow_the_reset_option(reset, convention):
    net = SpikingNetwork([Dense(5, 6)], beta=0.8, threshold=0.5, readout="spike_count",
                         convention=convention, reset=reset, seed=0)
    x = np.random.default_rng(4).normal(size=(10, 3, 5)).astype(np.float32)
    w, b = net.params[0]
    ref = pn.lif(np.ascontiguousarray(x @ w.T + b), beta=0.8, threshold=0.5,
                 convention=convention, reset=reset, spike_dtype=np.float32)[0]
    np.testing.assert_array_equal(net.run(x), ref)


def test_chunks_with_state_equal_one_run():
    net = _conv_net(readout="spike_count", convention="snntorch", reset="zero")
    x = np.random.default_rng(5).normal(size=(9, 3, 2, 6, 6)).astype(np.float32)
    whole = net.run(x)
    first, state = net.run(x[:4], return_state=True)
    assert len(state) == 2 and state[0].membrane.shape == (3, 3, 3, 3)
    second, _ = net.run(x[4:], state=state, return_state=True)
    np.testing.assert_array_equal(np.concatenate([first, second]), whole)
    _, state = net.run(x[:4], return_state=True)
    np.testing.assert_array_equal(net.run(x[4:], state=state), whole[4:])  # state not mutated


def test_membrane_readout_state_has_no_entry_for_the_readout():
    net = _dense_net()
    _, state = net.run(np.zeros((2, 1, 12), np.float32), return_state=True)
    assert state[-1] is None and state[0] is not None


def test_run_refuses_bad_input():
    net = _dense_net()
    with pytest.raises(ValueError, match=r"x must have shape \(T, batch, \*in_shape\)"):
        net.run(np.zeros((3, 12), np.float32))
    with pytest.raises(ValueError, match=r"x must have shape \(batch, \*in_shape\)"):
        net.run(np.zeros((3, 11), np.float32), num_steps=2)
    with pytest.raises(ValueError, match="num_steps must be an int >= 1"):
        net.run(np.zeros((3, 12), np.float32), num_steps=0)
    with pytest.raises(ValueError, match="num_steps must be an int >= 1"):
        net.run(np.zeros((3, 12), np.float32), num_steps=True)
    with pytest.raises(ValueError, match="at least one step and one sample"):
        net.run(np.zeros((0, 2, 12), np.float32))
    with pytest.raises(ValueError, match="NaN or infinite"):
        net.run(np.full((2, 1, 12), np.nan, np.float32))
    with pytest.raises(ValueError, match="state must be a list of 3"):
        net.run(np.zeros((2, 1, 12), np.float32), state=[None])
    with pytest.raises(ValueError, match=r"state\[0\] must be a LIFState"):
        net.run(np.zeros((2, 1, 12), np.float32),
                state=[pn.LIFState(np.zeros((2, 10), np.float32)), None, None])


def test_reset_option_is_checked():
    with pytest.raises(ValueError, match="reset must be 'subtract' or 'zero'"):
        SpikingNetwork([Dense(2, 2)], reset="none")
    assert SpikingNetwork([Dense(2, 2)]).reset == "subtract"
