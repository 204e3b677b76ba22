"""Hand-written LIF gradients against central finite differences of a smoothed model.

The smoothed model replaces the Heaviside spike by S(z) with S' = the surrogate, so the
backward kernels (given the smoothed spikes) must equal the exact gradient of the smoothed
model. snntorch detaches its reset; there the model is smoothed with the reset frozen.
"""

from __future__ import annotations

import numpy as np
import pytest

import physnn as pn

T, B, N = 7, 2, 3
SURROGATES = [pn.surrogate.atan(2.0), pn.surrogate.fast_sigmoid(5.0),
              pn.surrogate.triangle(0.8), pn.surrogate.sigmoid(4.0)]


def smooth_forward(x, u0, beta, thr, sg, reset, convention, detach, frozen=None):
    """float64 smoothed LIF; returns (smooth spikes, membrane record, reset signals)."""
    S = sg.primitive
    st = u0.copy()
    spikes = np.zeros_like(x)
    mem = np.zeros_like(x)
    resets = np.zeros((x.shape[0] + 1, *x.shape[1:]))
    for t in range(x.shape[0]):
        if convention == "snntorch":
            r = frozen[t] if frozen is not None else (st > thr).astype(float)
            resets[t] = r
            if reset == "zero":
                u = beta * (1 - r) * st + x[t]
            else:
                u = beta * st + x[t] - (r * thr if reset == "subtract" else 0)
            s = S(u - thr)
            st = u
        else:
            u = beta * st + x[t]
            s = S(u - thr)
            s_reset = frozen[t] if (detach and frozen is not None) else s
            resets[t] = s
            if reset == "subtract":
                st = u - thr * s_reset
            elif reset == "zero":
                st = u * (1 - s_reset)
            else:
                st = u
        spikes[t] = s
        mem[t] = u
    if convention == "snntorch":
        resets[-1] = (st > thr).astype(float)
    return spikes, mem, resets


@pytest.mark.parametrize("sg", SURROGATES, ids=lambda s: s.name)
@pytest.mark.parametrize("convention,reset,detach", [
    ("snntorch", "subtract", True), ("snntorch", "zero", True), ("snntorch", "none", True),
    ("spikingjelly", "subtract", False), ("spikingjelly", "zero", False),
    ("spikingjelly", "subtract", True), ("spikingjelly", "zero", True),
    ("spikingjelly", "none", False),
])
def test_bptt_matches_finite_differences(sg, convention, reset, detach):
    rng = np.random.default_rng(0)
    x = rng.normal(0.45, 0.5, size=(T, B, N))
    u0 = rng.normal(0.2, 0.5, size=(B, N))
    beta = rng.uniform(0.5, 0.95, size=N)
    thr = 0.8
    w = rng.normal(size=x.shape)
    s, mem, resets = smooth_forward(x, u0, beta, thr, sg, reset, convention, detach)
    frozen = resets if (convention == "snntorch" or detach) else None

    def loss(xx, uu):
        return float(np.sum(w * smooth_forward(xx, uu, beta, thr, sg, reset, convention,
                                               detach, frozen)[0]))

    # the backward sees the smooth spikes (SpikingJelly) or the frozen resets (snntorch,
    # whose reset factor (1 - s[t]) is the reset signal of step t + 1)
    spk_for_bwd = resets[1:] if convention == "snntorch" else s
    grad_x, grad_state = pn.lif_backward(w, mem, np.ascontiguousarray(spk_for_bwd), beta=beta,
                                         threshold=thr, surrogate=sg, reset=reset,
                                         convention=convention, detach_reset=detach,
                                         state=pn.LIFState(u0), backend="cpu")
    eps = 1e-6
    fd = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += eps
        xm[idx] -= eps
        fd[idx] = (loss(xp, u0) - loss(xm, u0)) / (2 * eps)
    fd_u = np.zeros_like(u0)
    for idx in np.ndindex(u0.shape):
        up, um = u0.copy(), u0.copy()
        up[idx] += eps
        um[idx] -= eps
        fd_u[idx] = (loss(x, up) - loss(x, um)) / (2 * eps)
    assert np.abs(fd).max() > 1e-3
    np.testing.assert_allclose(grad_x, fd, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(grad_state.membrane, fd_u, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("sg", SURROGATES + [pn.surrogate.rectangle(1.0)], ids=lambda s: s.name)
def test_surrogate_derivative_is_derivative_of_primitive(sg):
    z = np.linspace(-2.0, 2.0, 801) + 1e-3
    eps = 1e-6
    fd = (sg.primitive(z + eps) - sg.primitive(z - eps)) / (2 * eps)
    mask = np.ones_like(z, bool)
    if sg.name in ("rectangle", "triangle"):  # kinks: skip points next to them
        kinks = [sg.param / 2, -sg.param / 2] if sg.name == "rectangle" else [1 / sg.param,
                                                                              -1 / sg.param]
        for k in kinks:
            mask &= np.abs(z - k) > 1e-4
        mask &= np.abs(z) > 1e-4
    np.testing.assert_allclose(sg.derivative(z)[mask], fd[mask], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("sg", SURROGATES + [pn.surrogate.rectangle(1.0)], ids=lambda s: s.name)
def test_sltt_backward_is_the_spatial_term(sg):
    rng = np.random.default_rng(1)
    g = rng.normal(size=(5, 3, 4)).astype(np.float32)
    u = rng.normal(1.0, 0.7, size=(5, 3, 4)).astype(np.float32)
    thr = 1.0
    got = pn.sltt_backward(g, u, threshold=thr, surrogate=sg, backend="cpu")
    np.testing.assert_allclose(got, g * sg.derivative(u - np.float32(thr)), rtol=2e-6,
                               atol=1e-7)


def test_sltt_equals_bptt_without_temporal_route():
    """With beta = 0 there is no temporal route, so SLTT's gradient is BPTT's."""
    rng = np.random.default_rng(2)
    x = rng.normal(0.8, 0.6, size=(9, 4, 5)).astype(np.float32)
    w = rng.normal(size=x.shape).astype(np.float32)
    spikes, _, mem = pn.lif(x, beta=0.0, convention="spikingjelly", backend="cpu",
                            record_membrane=True)
    bptt, _ = pn.lif_backward(w, mem, spikes, beta=0.0, surrogate="triangle",
                              convention="spikingjelly", backend="cpu")
    sltt = pn.sltt_backward(w, mem, surrogate="triangle", backend="cpu")
    np.testing.assert_allclose(sltt, bptt, rtol=1e-5, atol=1e-6)


def test_backward_bad_input():
    g = np.zeros((4, 2, 3), np.float32)
    with pytest.raises(ValueError, match="membrane must match"):
        pn.lif_backward(g, np.zeros((4, 2, 2), np.float32), g, beta=0.9, backend="cpu")
    with pytest.raises(ValueError, match="spikes must have shape"):
        pn.lif_backward(g, g, np.zeros((3, 2, 3), np.uint8), beta=0.9, backend="cpu")
    with pytest.raises(ValueError, match="surrogate must be one of"):
        pn.lif_backward(g, g, g, beta=0.9, surrogate="relu", backend="cpu")
    with pytest.raises(ValueError, match="alpha must be a finite number > 0"):
        pn.surrogate.atan(-1.0)
