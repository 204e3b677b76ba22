"""CUDA driver of the 2-D wave kernel: one thread block per sample, all steps in one launch.

Imported lazily (only when the ``"cuda"`` backend runs, or by the CUDA tests), so that
``import physnn`` works without a GPU. The block owns its sample's whole grid: its threads
tile the grid (``threadIdx.x`` along the contiguous x axis, so loads coalesce), the time loop
runs inside the kernel, and one ``syncthreads_or`` per step both orders the steps and tells
every thread whether the field stayed finite. The field of one sample lives in global memory
(two buffers: ``u^{n+1}`` overwrites ``u^{n-1}`` cell by cell), which for the grids of
interest stays resident in the L2 cache; source injection and probe recording are done by the
thread that owns the cell, so no extra synchronisation is needed. The scalar update is the
one of :mod:`physnn.kernels.wave_update`, compiled as device functions.
"""

from __future__ import annotations

import numpy as np
from numba import config, cuda

from . import wave_update

_laplacian5 = cuda.jit(device=True, inline=True)(wave_update.laplacian5)
_wave_step = cuda.jit(device=True, inline=True)(wave_update.wave_step)
_forcing_gain = cuda.jit(device=True, inline=True)(wave_update.forcing_gain)

#: Threads per block (x along the contiguous axis, y across rows).
BLOCK = (32, 32)


def _wave_kernel(u_prev, u, r_lin, r_nl, u2max, bdt0, inv_usat2, src_yx, forcing, probe_yx,
                 intensity, out, blown):
    """Advance ``forcing.shape[0]`` steps of sample ``blockIdx.x`` (arguments as in
    :func:`physnn.kernels.wave_cpu._run_cpu`)."""
    b = cuda.blockIdx.x
    tx = cuda.threadIdx.x
    ty = cuda.threadIdx.y
    bx = cuda.blockDim.x
    by = cuda.blockDim.y
    n_steps = forcing.shape[0]
    ny = u.shape[1]
    nx = u.shape[2]
    n_src = src_yx.shape[0]
    n_probe = probe_yx.shape[0]
    old = u_prev[b]
    cur = u[b]
    for t in range(n_steps):
        bad = 0
        i = 1 + ty
        while i < ny - 1:
            j = 1 + tx
            while j < nx - 1:
                c = cur[i, j]
                lap = _laplacian5(c, cur[i, j + 1], cur[i, j - 1], cur[i - 1, j], cur[i + 1, j])
                new = _wave_step(c, old[i, j], lap, r_lin[i, j], r_nl[i, j], u2max, bdt0[i, j],
                                 inv_usat2[i, j])
                old[i, j] = new
                d = new - new  # NaN when new is NaN or infinite
                if d != d:
                    bad = 1
                j += bx
            i += by
        for k in range(n_src):
            y = src_yx[k, 0]
            x = src_yx[k, 1]
            if (y - 1) % by == ty and (x - 1) % bx == tx:
                v = old[y, x] + forcing[t, b, k] * _forcing_gain(cur[y, x], bdt0[y, x],
                                                                 inv_usat2[y, x])
                old[y, x] = v
                d = v - v
                if d != d:
                    bad = 1
        for k in range(n_probe):
            y = probe_yx[k, 0]
            x = probe_yx[k, 1]
            if (y - 1) % by == ty and (x - 1) % bx == tx:
                v = old[y, x]
                if intensity:
                    out[t, b, k] = v * v
                else:
                    out[t, b, k] = v
        if cuda.syncthreads_or(bad):
            if tx == 0 and ty == 0:
                blown[b] = t
            return
        old, cur = cur, old


if config.ENABLE_CUDASIM:  # the simulator knows no launch bounds
    _kernel = cuda.jit(_wave_kernel)
else:
    # At most BLOCK threads per block: the compiler then keeps to 64 registers per thread.
    _kernel = cuda.jit(launch_bounds=(BLOCK[0] * BLOCK[1],))(_wave_kernel)


@cuda.jit
def _zero_fill(a):
    """``a[:] = 0`` for a 1-D float32 device array."""
    k = cuda.grid(1)
    if k < a.shape[0]:
        a[k] = 0


def _on_device(a):
    """``a`` on the device: a device array as it is (the caller keeps the maps of a medium
    there between runs), a host array copied."""
    if getattr(a, "__cuda_ndarray__", False):
        return a
    return cuda.to_device(np.ascontiguousarray(a))


def device_maps(*arrays) -> tuple:
    """Device copies of coefficient maps and cell lists, to pass to :func:`run_cuda` run
    after run."""
    return tuple(_on_device(a) for a in arrays)


def run_cuda(u_prev, u, r_lin, r_nl, u2max, bdt0, inv_usat2, src_yx, forcing, probe_yx,
             intensity, out, blown, *, at_rest: bool = False, copy_state: bool = True,
             block: tuple[int, int] | None = None) -> None:
    """Copy the inputs to the device, run all steps in one launch, copy the results back.

    Same arguments and in-place contract as :func:`physnn.kernels.wave_cpu._run_cpu`
    (host NumPy arrays; the coefficient maps and cell lists may already be device arrays, see
    :func:`device_maps`). ``at_rest``: start from ``u = 0`` (the state is zeroed on the device
    instead of being copied there). ``copy_state``: copy the final fields back into
    ``u_prev`` and ``u`` (skip it when only the probes are wanted). ``block``: the thread-block
    shape ``(x, y)`` (default :data:`BLOCK`, at most ``BLOCK[0] * BLOCK[1]`` threads).
    """
    block = BLOCK if block is None else block
    batch = u.shape[0]
    if at_rest:
        du_prev = cuda.device_array(u_prev.shape, np.float32)
        du = cuda.device_array(u.shape, np.float32)
        for a in (du_prev, du):
            flat = a.reshape(a.size)
            _zero_fill[(a.size + 255) // 256, 256](flat)
    else:
        du_prev = cuda.to_device(np.ascontiguousarray(u_prev))
        du = cuda.to_device(np.ascontiguousarray(u))
    d = [_on_device(a) for a in (r_lin, r_nl, bdt0, inv_usat2, src_yx, forcing, probe_yx,
                                 blown)]
    dr_lin, dr_nl, dbdt0, dinv, dsrc, dforcing, dprobe, dblown = d
    dout = cuda.device_array(out.shape, np.float32)
    _kernel[batch, block](du_prev, du, dr_lin, dr_nl, np.float32(u2max), dbdt0, dinv, dsrc,
                          dforcing, dprobe, bool(intensity), dout, dblown)
    if copy_state:
        du_prev.copy_to_host(u_prev)
        du.copy_to_host(u)
    dout.copy_to_host(out)
    dblown.copy_to_host(blown)
