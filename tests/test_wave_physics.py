"""Physics of the wave kernel: speed, convergence order, energy, absorbing walls, nonlinearity."""

from __future__ import annotations

import numpy as np
import pytest

from physnn.wave import WaveMedium, simulate_wave


def _gaussian(shape, centre, sigma):
    y, x = np.indices(shape, dtype=np.float64)
    return np.exp(-((y - centre[0]) ** 2 + (x - centre[1]) ** 2) / (2 * sigma**2))


def _run_free(medium, u0, n_steps, dt, probes=((2, 2),), state=None):
    """Run from rest-velocity initial field ``u0`` (or from ``state``) with no source."""
    if state is None:
        z = np.zeros_like(u0, dtype=np.float32)[None]
        u = np.where(medium.walls, 0, u0).astype(np.float32)[None]
        # second-order start for zero initial velocity: u^{-1} = u^0 + (dt^2 / 2) c^2 lap u^0
        lap = np.zeros_like(u0)
        lap[1:-1, 1:-1] = (u[0, 1:-1, 2:] + u[0, 1:-1, :-2] + u[0, 2:, 1:-1] + u[0, :-2, 1:-1]
                           - 4 * u[0, 1:-1, 1:-1])
        u_prev = (u[0] + 0.5 * (medium.c * dt / medium.h) ** 2 * lap)[None]
        u_prev = np.where(medium.walls, 0, u_prev).astype(np.float32)
        state = (u_prev + z, u)
    f = np.zeros((n_steps, 1, 1), np.float32)
    return simulate_wave(medium, f, dt=dt, sources=[probes[0]], probes=list(probes), state=state)


def test_pulse_travels_at_speed_c():
    """Peak arrival times at two probes on a ray differ by distance / c."""
    c0, h = 1.7, 0.5
    shape = (161, 161)
    m = WaveMedium.build(np.full(shape, c0), h=h, absorb_width=20)
    dt = 0.5 * m.max_dt
    centre = (80, 80)
    probes = [(80, 100), (80, 130)]
    res = _run_free(m, _gaussian(shape, centre, 3.0), 600, dt, probes=probes)
    sig = res.probes[:, 0, :]
    # sub-step peak time: parabola through the three samples around the maximum
    times = []
    for k in range(2):
        n = int(np.argmax(sig[:, k]))
        a, b, c = sig[n - 1, k], sig[n, k], sig[n + 1, k]
        times.append((n + 1 + 0.5 * (a - c) / (a - 2 * b + c)) * dt)
    speed = (probes[1][1] - probes[0][1]) * h / (times[1] - times[0])
    assert speed == pytest.approx(c0, rel=0.02)


def _mode_error(n):
    """Max error of the (1, 1) standing mode of a rigid unit square after time 1."""
    c0, length = 1.0, 1.0
    h = length / (n - 1)
    m = WaveMedium.build(np.full((n, n), c0), h=h, absorb_width=0)
    dt = 0.4 * h / c0  # fixed Courant number: dt shrinks with h
    steps = int(round(1.0 / dt))
    dt = 1.0 / steps
    omega = c0 * np.pi * np.sqrt(2.0) / length
    y, x = np.indices((n, n)) * h
    mode = np.where(m.walls, 0.0, np.sin(np.pi * x / length) * np.sin(np.pi * y / length))
    state = ((mode * np.cos(-omega * dt)).astype(np.float32)[None],
             mode.astype(np.float32)[None])
    res = simulate_wave(m, np.zeros((steps, 1, 1), np.float32), dt=dt, sources=[(1, 1)],
                        probes=[(1, 1)], state=state)
    exact = mode * np.cos(omega * steps * dt)
    return np.abs(res.state.u[0] - exact).max()


def test_second_order_convergence_in_h_and_dt():
    errors = [_mode_error(n) for n in (17, 33, 65)]
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert errors[-1] < 2e-3
    assert np.all(orders > 1.8), f"errors {errors}, orders {orders}"


def _energy(m, u_prev, u, dt):
    """Discrete energy conserved by the scheme when b = 0 (weights 1/c^2 on the kinetic term):
    E = sum (1/c^2) ((u - u_prev)/dt)^2 + (1/h^2) (D u) . (D u_prev) over non-wall cells."""
    u_prev = u_prev.astype(np.float64)
    u = u.astype(np.float64)
    inside = ~m.walls
    kin = np.sum(((u - u_prev)[inside] / dt) ** 2 / m.c[inside].astype(np.float64) ** 2)
    gx = np.sum(np.diff(u, axis=1) * np.diff(u_prev, axis=1))
    gy = np.sum(np.diff(u, axis=0) * np.diff(u_prev, axis=0))
    return 0.5 * (kin + (gx + gy) / m.h**2)


def test_energy_is_conserved_with_rigid_walls_and_no_damping():
    shape = (60, 80)
    rng = np.random.default_rng(0)
    c = 1.0 + 0.5 * _gaussian(shape, (25, 50), 12.0) + 0.05 * rng.random(shape)
    m = WaveMedium.build(c, absorb_width=0)
    dt = 0.9 * m.max_dt
    res = _run_free(m, _gaussian(shape, (30, 30), 3.0), 1, dt)
    energies = [_energy(m, res.state.u_prev[0], res.state.u[0], dt)]
    for _ in range(30):  # 3000 steps: many reflections off the walls
        res = _run_free(m, None, 100, dt, state=res.state)
        energies.append(_energy(m, res.state.u_prev[0], res.state.u[0], dt))
    energies = np.array(energies)
    assert np.abs(energies / energies[0] - 1).max() < 1e-3


def test_absorbing_layer_reflects_less_than_one_percent():
    """Energy sent back into the interior by the absorbing walls, against a run on a grid so
    large that nothing comes back in time, is below 1 % of the pulse's energy."""
    n, width, pad = 121, 20, 120
    small = WaveMedium.build(np.ones((n, n)), absorb_width=width)
    big = WaveMedium.build(np.ones((n + 2 * pad, n + 2 * pad)), absorb_width=width)
    dt = 0.5 * small.max_dt
    u0 = _gaussian((n, n), (60, 60), 3.0)
    u0_big = np.zeros(big.shape)
    u0_big[pad:pad + n, pad:pad + n] = u0
    steps = int(130 / dt)  # the front has crossed the layer twice and come back to the centre
    res_s = _run_free(small, u0, 1, dt)
    e0 = _energy(small, res_s.state.u_prev[0], res_s.state.u[0], dt)
    res_s = _run_free(small, u0, steps, dt)
    res_b = _run_free(big, u0_big, steps, dt)
    inner = slice(width, n - width)
    crop = (slice(pad + width, pad + n - width),) * 2
    diff_prev = np.zeros((n, n))
    diff = np.zeros((n, n))
    diff_prev[inner, inner] = res_s.state.u_prev[0][inner, inner] - res_b.state.u_prev[0][crop]
    diff[inner, inner] = res_s.state.u[0][inner, inner] - res_b.state.u[0][crop]
    reflected = _energy(small, diff_prev, diff, dt)
    assert reflected / e0 < 0.01
    assert reflected / e0 > 0  # the comparison measured something


@pytest.mark.parametrize("linear", [True, False])
def test_superposition_holds_only_in_the_linear_medium(linear):
    shape = (40, 50)
    nonlinear = np.zeros(shape, bool)
    nonlinear[10:30, 15:35] = True
    nl = {} if linear else dict(nonlinear=nonlinear, c_nl=0.8, u_sat=0.5, u_max=1.0)
    m = WaveMedium.build(np.ones(shape), damping=0.05, absorb_width=8, **nl)
    dt = 0.35  # below the CFL bound of both media
    t = np.arange(400) * dt
    a = np.sin(2 * np.pi * 0.08 * t) * np.exp(-(((t - 40) / 15) ** 2))
    b = np.sin(2 * np.pi * 0.12 * t) * np.exp(-(((t - 50) / 15) ** 2))
    f = (15.0 * np.stack([a, b, a + b], axis=1)[:, :, None]).astype(np.float32)
    res = simulate_wave(m, f, dt=dt, sources=[(20, 12)], probes=[(20, 38), (15, 25)])
    y = res.probes.astype(np.float64)
    mismatch = np.abs(y[:, 2] - y[:, 0] - y[:, 1]).max() / np.abs(y[:, 2]).max()
    assert np.abs(y[:, :, 1]).max() > 0.5  # strong enough to reach the nonlinear regime
    if linear:
        assert mismatch < 1e-4
    else:
        assert mismatch > 0.05
