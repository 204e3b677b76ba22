"""CPU driver of the 2-D wave kernel: ``numba.njit(parallel=True)``, one thread per sample.

Private: :func:`physnn.wave.simulate_wave` validates the input and calls :func:`driver`'s
choice. The driver is compiled twice from one source, parallel over samples and serial: a
run of one sample, of fewer than :data:`SERIAL_BELOW` cell-steps (a few ms of serial work),
or with one numba thread takes the serial build (waking the worker threads costs more than
such a run saves, the more so on a busy machine).

Numba's on-disk cache (``cache=True``) keys on this file only, so the compiled driver is
named after a hash of :mod:`physnn.kernels.wave_update` too
(:func:`physnn.kernels._compile.source_tag`): editing the update rules recompiles it.
"""

from __future__ import annotations

import numba
import numpy as np

from . import wave_update
from ._compile import source_tag, specialize

_laplacian5 = numba.njit(inline="always")(wave_update.laplacian5)
_wave_step = numba.njit(inline="always")(wave_update.wave_step)
_forcing_gain = numba.njit(inline="always")(wave_update.forcing_gain)


def _run_cpu_py(u_prev, u, r_lin, r_nl, u2max, bdt0, inv_usat2, src_yx, forcing,
             probe_yx, intensity, out, blown):
    """Advance ``forcing.shape[0]`` steps in place.

    ``u_prev``, ``u``: (B, ny, nx) float32, the fields at steps n-1 and n; the outer ring of
    cells is a rigid wall (kept at 0). ``r_lin``, ``r_nl``, ``bdt0``, ``inv_usat2``: (ny, nx)
    float32 coefficients (see :mod:`wave_update`). ``src_yx`` (S, 2) / ``probe_yx`` (P, 2)
    int64 cells. ``forcing``: (T, B, S) float32, already multiplied by ``dt^2``. ``out``:
    (T, B, P) float32, written. ``blown``: (B,) int64, set to the first step whose field is
    not finite, else left at -1. On return the state of sample b is ``(u_prev[b], u[b])``
    when ``T`` is even and ``(u[b], u_prev[b])`` when ``T`` is odd (buffers swap each step).
    """
    n_steps = forcing.shape[0]
    batch, ny, nx = u.shape
    n_src = src_yx.shape[0]
    n_probe = probe_yx.shape[0]
    for b in numba.prange(batch):
        old = u_prev[b]
        cur = u[b]
        # Per-column accumulators of (new - new): 0, or NaN once a value is NaN or infinite.
        # A per-column array keeps the inner loop free of a serial reduction, so it vectorises.
        nan_seen = np.zeros(nx, np.float32)
        for t in range(n_steps):
            # `old` holds u^{n-1}; each cell reads it and overwrites it with u^{n+1}.
            for i in range(1, ny - 1):
                for j in range(1, nx - 1):
                    c = cur[i, j]
                    lap = _laplacian5(c, cur[i, j + 1], cur[i, j - 1], cur[i - 1, j],
                                      cur[i + 1, j])
                    new = _wave_step(c, old[i, j], lap, r_lin[i, j], r_nl[i, j], u2max,
                                     bdt0[i, j], inv_usat2[i, j])
                    old[i, j] = new
                    nan_seen[j] += new - new
            for k in range(n_src):
                y = src_yx[k, 0]
                x = src_yx[k, 1]
                old[y, x] += forcing[t, b, k] * _forcing_gain(cur[y, x], bdt0[y, x],
                                                              inv_usat2[y, x])
                nan_seen[x] += old[y, x] - old[y, x]
            for k in range(n_probe):
                v = old[probe_yx[k, 0], probe_yx[k, 1]]
                out[t, b, k] = v * v if intensity else v
            if np.isnan(nan_seen.sum()):
                blown[b] = t
                break
            old, cur = cur, old
    return None


_RULES = source_tag(wave_update)
# error_model="numpy": a float division by zero gives inf / NaN instead of raising (the
# divisors here are >= 1 anyway), so no zero check per cell stops the loop from vectorising;
# the serial build ran 3.3x faster with it (1.4 vs 4.6 ns per cell-step).
_run_cpu = specialize(_run_cpu_py, numba.njit(parallel=True, cache=True, error_model="numpy"),
                      PARALLEL=1, RULES=_RULES)
_run_cpu_serial = specialize(_run_cpu_py, numba.njit(cache=True, error_model="numpy"),
                             PARALLEL=0, RULES=_RULES)

#: Runs of fewer cell-steps (samples x cells x steps) than this take the serial build.
SERIAL_BELOW = 1 << 20


def driver(batch: int, cells: int, steps: int):
    """The compiled driver for ``batch`` samples of ``cells`` cells over ``steps`` steps:
    parallel over samples for two samples or more, :data:`SERIAL_BELOW` cell-steps or more
    and more than one numba thread."""
    if batch < 2 or batch * cells * steps < SERIAL_BELOW or numba.get_num_threads() < 2:
        return _run_cpu_serial
    return _run_cpu
