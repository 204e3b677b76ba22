"""The CUDA wave kernel under the CUDA simulator (NUMBA_ENABLE_CUDASIM=1, own process)
against the NumPy oracle, on tiny grids, with blocks smaller and larger than the grid."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.cudasim

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from wave_oracle import wave_oracle  # noqa: E402

from physnn.wave import WaveMedium  # noqa: E402


@pytest.fixture(scope="module")
def wave_cuda():
    from physnn.kernels import wave_cuda

    return wave_cuda


def _case(n_steps, batch, big_source=False):
    rng = np.random.default_rng(5)
    ny, nx = 9, 11
    nonlinear = np.zeros((ny, nx), bool)
    nonlinear[3:6, 4:8] = True
    m = WaveMedium.build(1.0 + 0.3 * rng.random((ny, nx)), damping=0.02, nonlinear=nonlinear,
                         c_nl=0.6, u_sat=0.4, u_max=1.5, absorb_width=2)
    dt = 0.9 * m.max_dt
    src = np.array([(4, 5), (2, 8)], np.int64)
    prb = np.array([(4, 5), (6, 2), (7, 9)], np.int64)
    f = rng.normal(0, 4, (n_steps, batch, 2)).astype(np.float32)
    if big_source:
        f[4, 1, 0] = 3e38
    return m, dt, src, prb, f


def _kernel_args(m, dt, src, prb, f, intensity):
    dtf = np.float32(dt)
    n_steps, batch, _ = f.shape
    return [np.zeros((batch,) + m.shape, np.float32), np.zeros((batch,) + m.shape, np.float32),
            (m.c * dtf / np.float32(m.h)).astype(np.float32),
            (m.c_nl * dtf / np.float32(m.h)).astype(np.float32),
            np.float32(m.u_max**2), (m.damping * dtf).astype(np.float32), m.inv_usat2,
            src, (f * np.float32(dt * dt)).astype(np.float32), prb, intensity,
            np.zeros((n_steps, batch, len(prb)), np.float32), np.full(batch, -1, np.int64)]


@pytest.mark.parametrize("block", [(4, 3), (16, 16)])
@pytest.mark.parametrize("intensity", [False, True])
def test_cuda_matches_oracle(wave_cuda, block, intensity):
    m, dt, src, prb, f = _case(7, 2)
    args = _kernel_args(m, dt, src, prb, f, intensity)
    wave_cuda.run_cuda(*args, block=block)
    u_prev, u, out, blown = args[0], args[1], args[11], args[12]
    ref, ref_prev, ref_u = wave_oracle(m.c, m.damping, m.c_nl, m.inv_usat2, m.u_max, m.h, dt,
                                       f, src, prb, intensity=intensity)
    assert np.all(blown == -1)
    assert np.abs(ref).max() > 1e-3
    # 7 steps (odd): the buffers end swapped, as in the CPU driver
    tol = 1e-5 * np.abs(ref_u).max()
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-5 * np.abs(ref).max())
    np.testing.assert_allclose(u_prev, ref_u, rtol=0, atol=tol)
    np.testing.assert_allclose(u, ref_prev, rtol=0, atol=tol)


def test_cuda_from_rest_without_copying_the_state_back(wave_cuda):
    m, dt, src, prb, f = _case(6, 2)
    args = _kernel_args(m, dt, src, prb, f, False)
    args[0][:] = 7.0  # garbage that at_rest=True must ignore (the device buffers are zeroed)
    args[1][:] = 7.0
    wave_cuda.run_cuda(*args, block=(4, 3), at_rest=True, copy_state=False)
    ref, _, _ = wave_oracle(m.c, m.damping, m.c_nl, m.inv_usat2, m.u_max, m.h, dt, f, src, prb)
    np.testing.assert_allclose(args[11], ref, rtol=0, atol=1e-5 * np.abs(ref).max())
    assert np.all(args[0] == 7.0) and np.all(args[1] == 7.0)  # not copied back


@pytest.mark.parametrize("n_steps", [5, 6])
def test_simulate_wave_on_the_cuda_backend_equals_cpu(wave_cuda, monkeypatch, n_steps):
    """The public wrapper dispatches to the CUDA driver; state parity and chaining hold."""
    from physnn.wave import simulate_wave

    monkeypatch.setattr(wave_cuda, "BLOCK", (4, 3))  # few simulator threads
    m, dt, src, prb, f = _case(n_steps, 2)
    kw = dict(dt=dt, sources=src, probes=prb)
    gpu = simulate_wave(m, f, backend="cuda", **kw)
    cpu = simulate_wave(m, f, backend="cpu", **kw)
    scale = np.abs(cpu.state.u).max()
    np.testing.assert_allclose(gpu.probes, cpu.probes, rtol=0, atol=1e-5 * scale)
    np.testing.assert_allclose(gpu.state.u, cpu.state.u, rtol=0, atol=1e-5 * scale)
    np.testing.assert_allclose(gpu.state.u_prev, cpu.state.u_prev, rtol=0, atol=1e-5 * scale)
    more_gpu = simulate_wave(m, f, backend="cuda", state=gpu.state, **kw)
    more_cpu = simulate_wave(m, f, backend="cpu", state=cpu.state, **kw)
    np.testing.assert_allclose(more_gpu.probes, more_cpu.probes, rtol=0,
                               atol=1e-5 * np.abs(more_cpu.probes).max())


def test_simulate_wave_cuda_keeps_the_maps_per_cells_and_dt(wave_cuda, monkeypatch):
    """The medium's maps and cells stay on the device between runs, per dt and cells: other
    probes or another dt give that run's CPU result, not the cached one's."""
    from physnn.wave import simulate_wave

    monkeypatch.setattr(wave_cuda, "BLOCK", (4, 3))
    m, dt, src, prb, f = _case(5, 2)
    for probes, step in ((prb, dt), (prb[::-1].copy(), dt), (prb, 0.5 * dt)):
        kw = dict(dt=step, sources=src, probes=probes, return_state=False)
        gpu = simulate_wave(m, f, backend="cuda", **kw).probes
        cpu = simulate_wave(m, f, backend="cpu", **kw).probes
        np.testing.assert_allclose(gpu, cpu, rtol=0, atol=1e-5 * np.abs(cpu).max())


# The simulator computes in NumPy scalars in its own threads (where np.errstate does not
# reach): the overflow this test provokes on purpose shows up as a RuntimeWarning there.
@pytest.mark.filterwarnings("ignore:.*overflow encountered:RuntimeWarning")
@pytest.mark.filterwarnings("ignore:.*invalid value encountered:RuntimeWarning")
def test_cuda_reports_the_step_where_the_field_blew_up(wave_cuda):
    m, dt, src, prb, f = _case(12, 2, big_source=True)
    args = _kernel_args(m, dt, src, prb, f, False)
    wave_cuda.run_cuda(*args, block=(4, 3))
    blown = args[12]
    with np.errstate(over="ignore", invalid="ignore"):
        first = None
        for t in range(1, 13):
            _, _, u = wave_oracle(m.c, m.damping, m.c_nl, m.inv_usat2, m.u_max, m.h, dt,
                                  f[:t], src, prb)
            if not np.all(np.isfinite(u[1])):
                first = t - 1
                break
    assert first is not None
    assert blown[0] == -1 and blown[1] == first
