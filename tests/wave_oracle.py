"""Naive NumPy reference of the 2-D wave kernel (the oracle of the CPU and CUDA drivers).

Written independently of physnn's kernels, in float32, in the operation order documented in
:mod:`physnn.kernels.wave_update`, so the compiled drivers must agree with it to rounding.
"""

from __future__ import annotations

import numpy as np

F = np.float32


def wave_oracle(c, damping, c_nl, inv_usat2, u_max, h, dt, forcing, sources, probes,
                intensity=False, state=None):
    """Return ``(probes (T, B, P), u_prev, u)`` for the arrays of a ``WaveMedium``."""
    T, B, _ = forcing.shape
    ny, nx = c.shape
    r_lin = (c * F(dt) / F(h)).astype(F)
    r_nl = (c_nl * F(dt) / F(h)).astype(F)
    bdt0 = (damping * F(dt)).astype(F)
    u2max = F(u_max * u_max)
    f = (forcing * F(dt * dt)).astype(F)
    if state is None:
        old = np.zeros((B, ny, nx), F)
        cur = np.zeros((B, ny, nx), F)
    else:
        old, cur = (np.array(a, F) for a in state)
    out = np.zeros((T, B, len(probes)), F)
    s = (slice(None), slice(1, -1), slice(1, -1))
    for t in range(T):
        u = cur[s]
        lap = ((cur[:, 1:-1, 2:] + cur[:, 1:-1, :-2]) + (cur[:, :-2, 1:-1] + cur[:, 2:, 1:-1])
               - F(4) * u)
        u2 = u * u
        r = r_lin[1:-1, 1:-1] + r_nl[1:-1, 1:-1] * np.minimum(u2, u2max)
        bdt = bdt0[1:-1, 1:-1] / (F(1) + u2 * inv_usat2[1:-1, 1:-1])
        new = np.zeros_like(cur)
        new[s] = ((F(2) * u - (F(1) - bdt) * old[s]) + (r * r) * lap) / (F(1) + bdt)
        for k, (y, x) in enumerate(sources):
            uc = cur[:, y, x]
            g = F(1) / (F(1) + bdt0[y, x] / (F(1) + (uc * uc) * inv_usat2[y, x]))
            new[:, y, x] += f[t, :, k] * g
        for k, (y, x) in enumerate(probes):
            v = new[:, y, x]
            out[t, :, k] = v * v if intensity else v
        old, cur = cur, new
    return out, old, cur
