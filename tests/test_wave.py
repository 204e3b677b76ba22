"""The wave kernel's CPU driver against the NumPy oracle, state handling and bad input."""

from __future__ import annotations

import numpy as np
import pytest
from wave_oracle import wave_oracle

from physnn.wave import WaveMedium, WaveState, absorbing_profile, simulate_wave


def _medium(ny=24, nx=30, **kw):
    rng = np.random.default_rng(1)
    c = 1.0 + 0.4 * rng.random((ny, nx))
    nonlinear = np.zeros((ny, nx), bool)
    nonlinear[8:16, 10:20] = True
    walls = np.zeros((ny, nx), bool)
    walls[4, 6:12] = True
    args = dict(damping=0.02, nonlinear=nonlinear, c_nl=0.6, u_sat=0.4, u_max=1.5,
                walls=walls, absorb_width=4)
    args.update(kw)
    return WaveMedium.build(c, **args)


SOURCES = [(12, 14), (6, 24)]
PROBES = [(12, 15), (18, 8), (6, 24)]


def _oracle(m, dt, f, measure="field", state=None):
    return wave_oracle(m.c, m.damping, m.c_nl, m.inv_usat2, m.u_max, m.h, dt, f, SOURCES,
                       PROBES, intensity=measure == "intensity", state=state)


@pytest.mark.parametrize("measure", ["field", "intensity"])
@pytest.mark.parametrize("n_steps", [1, 40, 41])
def test_cpu_matches_oracle(measure, n_steps):
    m = _medium()
    dt = 0.95 * m.max_dt
    f = np.random.default_rng(2).normal(0, 4, (n_steps, 3, 2)).astype(np.float32)
    res = simulate_wave(m, f, dt=dt, sources=SOURCES, probes=PROBES, measure=measure)
    out, u_prev, u = _oracle(m, dt, f, measure)
    assert res.probes.shape == (n_steps, 3, 3) and res.probes.dtype == np.float32
    assert np.abs(out).max() > 1e-3  # the signal reached the probes
    # Same float32 operations in the same order: equal up to (at most) last-bit rounding.
    scale = np.abs(out).max()
    np.testing.assert_allclose(res.probes, out, rtol=0, atol=1e-6 * scale)
    np.testing.assert_allclose(res.state.u, u, rtol=0, atol=1e-6 * np.abs(u).max())
    np.testing.assert_allclose(res.state.u_prev, u_prev, rtol=0, atol=1e-6 * np.abs(u).max())


def test_nonlinear_regime_is_exercised():
    """The oracle comparison above runs where u^2 saturates the damping and the speed."""
    m = _medium()
    f = np.random.default_rng(2).normal(0, 4, (40, 3, 2)).astype(np.float32)
    res = simulate_wave(m, f, dt=0.95 * m.max_dt, sources=SOURCES, probes=PROBES)
    assert np.abs(res.state.u[:, m.nonlinear]).max() > 0.4  # above u_sat


def test_state_chaining_equals_one_run_and_inputs_are_untouched():
    m = _medium()
    dt = 0.9 * m.max_dt
    f = np.random.default_rng(3).normal(0, 3, (50, 2, 2)).astype(np.float32)
    f_copy = f.copy()
    whole = simulate_wave(m, f, dt=dt, sources=SOURCES, probes=PROBES)
    first = simulate_wave(m, f[:23], dt=dt, sources=SOURCES, probes=PROBES)
    state_copy = WaveState(first.state.u_prev.copy(), first.state.u.copy())
    second = simulate_wave(m, f[23:], dt=dt, sources=SOURCES, probes=PROBES, state=first.state)
    np.testing.assert_array_equal(np.concatenate([first.probes, second.probes]), whole.probes)
    np.testing.assert_array_equal(second.state.u, whole.state.u)
    np.testing.assert_array_equal(f, f_copy)
    np.testing.assert_array_equal(first.state.u, state_copy.u)
    np.testing.assert_array_equal(first.state.u_prev, state_copy.u_prev)


def test_return_state_false_gives_the_same_probes_and_no_state():
    m = _medium()
    f = np.random.default_rng(3).normal(0, 3, (20, 2, 2)).astype(np.float32)
    full = simulate_wave(m, f, dt=0.9 * m.max_dt, sources=SOURCES, probes=PROBES)
    lean = simulate_wave(m, f, dt=0.9 * m.max_dt, sources=SOURCES, probes=PROBES,
                         return_state=False)
    assert lean.state is None
    np.testing.assert_array_equal(lean.probes, full.probes)


def test_walls_stay_at_rest_and_samples_are_independent():
    m = _medium()
    f = np.random.default_rng(4).normal(0, 3, (60, 3, 2)).astype(np.float32)
    f[:, 1] = 0  # sample 1 is not driven
    res = simulate_wave(m, f, dt=0.9 * m.max_dt, sources=SOURCES, probes=PROBES)
    assert np.all(res.state.u[:, m.walls] == 0)
    assert np.all(res.state.u[1] == 0) and np.all(res.probes[:, 1] == 0)
    single = simulate_wave(m, f[:, 2:3], dt=0.9 * m.max_dt, sources=SOURCES, probes=PROBES)
    np.testing.assert_array_equal(single.probes[:, 0], res.probes[:, 2])


def test_absorbing_profile_shape():
    b = absorbing_profile((50, 60), 10, 4.0, 2.0)
    assert b[25, 30] == 0 and b[25, 0] == pytest.approx(2.0)
    assert b[25, 5] == pytest.approx(2.0 * (5 / 10) ** 4)
    assert np.all(np.diff(b[25, :11]) < 0)  # rises monotonically into the wall


def test_auto_backend_runs():
    m = _medium()
    f = np.ones((3, 1, 2), np.float32)
    res = simulate_wave(m, f, dt=0.5 * m.max_dt, sources=SOURCES, probes=PROBES, backend="auto")
    assert res.probes.shape == (3, 1, 3)


# --- bad input ------------------------------------------------------------------------------

def _run(m=None, **kw):
    m = m or _medium()
    args = dict(dt=0.9 * m.max_dt, sources=SOURCES, probes=PROBES)
    args.update(kw)
    f = args.pop("forcing", np.zeros((5, 2, 2), np.float32))
    return simulate_wave(m, f, **args)


def test_cfl_violation_is_refused_with_the_bound():
    m = _medium()
    with pytest.raises(ValueError, match="CFL bound"):
        _run(m, dt=1.01 * m.max_dt)
    # the bound uses the largest speed the nonlinear material can reach
    expected = 1.0 / (float((m.c + m.c_nl * 1.5**2).max()) * np.sqrt(2))
    assert m.max_dt == pytest.approx(expected, rel=1e-6)
    assert m.max_dt < 1.0 / (float(m.c.max()) * np.sqrt(2))


def test_nan_in_forcing_names_where():
    f = np.zeros((5, 2, 2), np.float32)
    f[3, 1, 0] = np.nan
    with pytest.raises(ValueError, match="step 3, sample 1, source 0"):
        _run(forcing=f)


@pytest.mark.parametrize("cells", [[(0, 5)], [(5, 29)], [(24, 5)], [(-1, 3)], [(4, 7)]])
def test_probe_outside_interior_or_in_wall(cells):
    with pytest.raises(ValueError, match="probes cell"):
        _run(probes=cells)


def test_source_outside_grid():
    with pytest.raises(ValueError, match="sources cell"):
        _run(sources=[(12, 14), (100, 3)])


def test_forcing_shape_must_match_sources():
    with pytest.raises(ValueError, match="n_sources=2"):
        _run(forcing=np.zeros((5, 2, 3), np.float32))


def test_mask_of_wrong_shape():
    c = np.ones((20, 30))
    with pytest.raises(ValueError, match="nonlinear must .* grid shape"):
        WaveMedium.build(c, nonlinear=np.zeros((30, 20), bool), absorb_width=3)
    with pytest.raises(ValueError, match="walls must"):
        WaveMedium.build(c, walls=np.zeros((20, 31), bool), absorb_width=3)
    with pytest.raises(TypeError, match="boolean mask"):
        WaveMedium.build(c, nonlinear=np.zeros((20, 30)), absorb_width=3)


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        (dict(c=-np.ones((20, 30))), "c must be positive"),
        (dict(c=np.ones(5)), "2-D array"),
        (dict(damping=-1.0), "damping must be >= 0"),
        (dict(absorb_width=15), "leaves no interior"),
        (dict(c_nl=-1.0, nonlinear=np.ones((20, 30), bool)), "non-positive"),
        (dict(h=0.0), "h must be"),
        (dict(c=np.full((20, 30), np.nan)), "NaN"),
    ],
)
def test_medium_validation(kw, match):
    args = dict(c=np.ones((20, 30)), absorb_width=3)
    args.update(kw)
    with pytest.raises((ValueError, TypeError), match=match):
        WaveMedium.build(args.pop("c"), **args)


def test_state_validation():
    m = _medium()
    z = np.zeros((2, 24, 30), np.float32)
    bad = z.copy()
    bad[:, 0, 3] = 1.0
    with pytest.raises(ValueError, match="0 on rigid walls"):
        _run(m, state=(z, bad))
    with pytest.raises(ValueError, match="state.u must have shape"):
        _run(m, state=(z, z[:1]))
    nan = z.copy()
    nan[0, 5, 5] = np.nan
    with pytest.raises(ValueError, match="state.u_prev contains NaN"):
        _run(m, state=(nan, z))


def test_bad_dt_measure_backend_and_medium_type():
    with pytest.raises(ValueError, match="dt must be"):
        _run(dt=-1.0)
    with pytest.raises(ValueError, match="measure"):
        _run(measure="energy")
    with pytest.raises(ValueError, match="backend"):
        _run(backend="tpu")
    with pytest.raises(TypeError, match="WaveMedium"):
        simulate_wave(np.ones((5, 5)), np.zeros((1, 1, 1)), dt=0.1, sources=[(2, 2)],
                      probes=[(2, 2)])


def test_blow_up_names_the_step():
    """A field that overflows float32 stops the run with an error naming the step."""
    m = _medium(c_nl=0.0)
    f = np.zeros((30, 2, 2), np.float32)
    f[17, 1, 0] = 3e38  # times dt^2 stays finite; the following steps overflow
    dt = 0.9 * m.max_dt
    # the oracle, one step at a time, says when the field first stops being finite
    state, first_bad = None, None
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(30):
            _, u_prev, u = _oracle(m, dt, f[t:t + 1], state=state)
            state = (u_prev, u)
            if not np.all(np.isfinite(u[1])):
                first_bad = t
                break
    assert first_bad is not None and first_bad > 17
    with pytest.raises(FloatingPointError,
                       match=rf"non-finite at step {first_bad} \(0-based\) in sample 1"):
        _run(m, forcing=f, dt=dt)


def test_checks_kept_on_the_medium_never_let_bad_input_through():
    """The medium keeps its dt checks, coefficient maps and checked cells between runs (it is
    immutable); a run with a new dt or new cells is checked again, and the per-run inputs
    (forcing, state) are checked on every run."""
    m = _medium()
    dt = 0.9 * m.max_dt
    f = np.zeros((40, 2, 1), np.float32)
    f[0] = 1.0
    kw = dict(sources=[(12, 10)], probes=[(12, 14)])
    first = simulate_wave(m, f, dt=dt, **kw)
    again = simulate_wave(m, f, dt=dt, **kw)
    assert np.abs(first.probes).max() > 0
    np.testing.assert_array_equal(first.probes, again.probes)
    with pytest.raises(ValueError, match="CFL bound"):
        simulate_wave(m, f, dt=1.01 * m.max_dt, **kw)
    with pytest.raises(ValueError, match="probes cell"):
        simulate_wave(m, f, dt=dt, sources=[(12, 10)], probes=[(0, 14)])
    with pytest.raises(ValueError, match="lies inside a rigid wall|outside the grid"):
        simulate_wave(m, f, dt=dt, sources=[(12, 0)], probes=[(12, 14)])
    bad = f.copy()
    bad[2, 1, 0] = np.nan
    with pytest.raises(ValueError, match="step 2, sample 1, source 0"):
        simulate_wave(m, bad, dt=dt, **kw)
    with pytest.raises(ValueError, match="dt must be"):
        simulate_wave(m, f, dt=[dt], **kw)
    z = np.zeros((2, 24, 30), np.float32)
    nan = z.copy()
    nan[1, 4, 4] = np.inf
    with pytest.raises(ValueError, match="state.u contains NaN"):
        simulate_wave(m, f, dt=dt, state=(z, nan), **kw)
    half = simulate_wave(m, f, dt=0.5 * dt, **kw)  # another dt: its own maps
    assert not np.array_equal(half.probes, first.probes)


def test_one_sample_and_small_runs_take_the_serial_driver_with_the_same_result():
    from physnn.kernels import wave_cpu

    assert wave_cpu.driver(1, 10**6, 10**3) is wave_cpu._run_cpu_serial
    assert wave_cpu.driver(8, 100, 10) is wave_cpu._run_cpu_serial
    m = _medium()
    dt = 0.9 * m.max_dt
    f = np.random.default_rng(3).normal(size=(30, 3, 1)).astype(np.float32)
    outs = []
    for kernel in (wave_cpu._run_cpu_serial, wave_cpu._run_cpu):
        u0 = np.zeros((3, 24, 30), np.float32)
        u1 = np.zeros_like(u0)
        out = np.zeros((30, 3, 1), np.float32)
        blown = np.full(3, -1, np.int64)
        r_lin = (m.c * np.float32(dt)).astype(np.float32)
        r_nl = (m.c_nl * np.float32(dt)).astype(np.float32)
        kernel(u0, u1, r_lin, r_nl, np.float32(1.0), (m.damping * np.float32(dt)).astype(
            np.float32), m.inv_usat2, np.array([[12, 10]]), f * np.float32(dt * dt),
            np.array([[12, 20]]), False, out, blown)
        outs.append((out, u0, u1))
    for a, b in zip(*outs, strict=True):
        np.testing.assert_array_equal(a, b)
    assert np.abs(outs[0][0]).max() > 0
