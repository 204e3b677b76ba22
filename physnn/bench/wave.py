"""``physnn bench wave``: the 2-D wave kernel side by side with its peers, on one problem.

The problem (default sizes): 64 samples, a 160 x 100 grid (x by y), 1000 steps, a graded
absorbing layer of 20 cells, one disk of nonlinear material, one source, three probes.
Implementations of the same update, all float32:

* ``physnn-cpu`` / ``physnn-cuda``: :func:`physnn.wave.simulate_wave`;
* ``numpy-vectorised``: whole-batch NumPy array expressions, one step at a time;
* ``torch-cpu`` / ``torch-cuda``: the Laplacian as a ``conv2d`` (the approach of the wavetorch
  project), eager mode, under ``torch.no_grad``;
* ``jax-cpu`` / ``jax-cuda``: ``jax.lax.scan`` over the steps under ``jax.jit`` (XLA fuses
  the step), the strongest peer. Where JAX is not installed (``pip install jax``) it is not
  run, and the run says so loudly: a WARNING line after the table and on standard error,
  the note of its row, and ``missing_peers`` in the JSON record;
* ``bandwidth-floor``: the least memory traffic of any implementation (read ``u^n`` and
  ``u^{n-1}``, write ``u^{n+1}``: 12 bytes per cell, sample and step) divided by the
  bandwidth of a large copy on the same device.

Every implementation's probe signals are compared with physnn's before anything is timed;
then they are timed in turn, repeat by repeat (on a busy machine the load changes from second
to second, and alternating keeps the ratios steady).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import numpy as np

from ..wave import WaveMedium, simulate_wave
from ._common import cpu_name, gpu_name, print_table, time_interleaved, time_median, write_record

__all__ = ["add_arguments", "run", "make_problem"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Extra options of ``physnn bench wave``."""
    parser.add_argument("--batch", type=int, default=None, help="samples (default 64)")
    parser.add_argument("--steps", type=int, default=None, help="time steps (default 1000)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="timed runs per implementation (median reported; default 3)")
    parser.add_argument("--peers", default="numpy,torch,jax",
                        help="comma-separated peers to run besides physnn (default "
                             "numpy,torch,jax); one left out is named in the record")


def make_problem(batch: int = 64, nx: int = 160, ny: int = 100, steps: int = 1000,
                 absorb_width: int = 20, seed: int = 0) -> dict[str, Any]:
    """The benchmark problem: medium, time step, forcing (T, batch, 1), source and probes."""
    nonlinear = np.zeros((ny, nx), bool)
    yy, xx = np.indices((ny, nx))
    nonlinear[(yy - ny / 2) ** 2 + (xx - nx / 2) ** 2 < (0.15 * ny) ** 2] = True
    medium = WaveMedium.build(np.ones((ny, nx)), nonlinear=nonlinear, c_nl=0.5, u_sat=0.5,
                              u_max=1.0, damping=0.002, absorb_width=absorb_width)
    dt = 0.95 * medium.max_dt
    t = np.arange(steps) * dt
    rng = np.random.default_rng(seed)
    amp = rng.uniform(0.5, 2.0, batch)
    burst = np.sin(2 * np.pi * 0.06 * t) * np.exp(-(((t - 40.0) / 20.0) ** 2))
    forcing = (amp[None, :, None] * burst[:, None, None]).astype(np.float32)
    sources = np.array([(ny // 2, absorb_width + 8)], np.int64)
    px = nx - absorb_width - 8
    probes = np.array([(ny // 2 - ny // 5, px), (ny // 2, px), (ny // 2 + ny // 5, px)],
                      np.int64)
    return dict(medium=medium, dt=dt, forcing=forcing, sources=sources, probes=probes)


def _coefficients(p: dict[str, Any]) -> dict[str, np.ndarray]:
    m, dt = p["medium"], np.float32(p["dt"])
    return dict(r_lin=(m.c * dt / np.float32(m.h)).astype(np.float32),
                r_nl=(m.c_nl * dt / np.float32(m.h)).astype(np.float32),
                bdt0=(m.damping * dt).astype(np.float32),
                inv=m.inv_usat2, u2max=np.float32(m.u_max**2),
                f=(p["forcing"] * np.float32(p["dt"] ** 2)).astype(np.float32))


# --- peers ------------------------------------------------------------------------------------

def numpy_wave(p: dict[str, Any]) -> np.ndarray:
    """The update in whole-batch NumPy expressions; returns probes (T, batch, P)."""
    k = _coefficients(p)
    f, src, prb = k["f"], p["sources"], p["probes"]
    n_steps, batch, _ = f.shape
    ny, nx = p["medium"].shape
    inner = (slice(1, -1), slice(1, -1))
    r_lin, r_nl, bdt0, inv = (k[n][inner] for n in ("r_lin", "r_nl", "bdt0", "inv"))
    one, two, four = np.float32(1), np.float32(2), np.float32(4)
    old = np.zeros((batch, ny, nx), np.float32)
    cur = np.zeros((batch, ny, nx), np.float32)
    out = np.empty((n_steps, batch, len(prb)), np.float32)
    for t in range(n_steps):
        u = cur[:, 1:-1, 1:-1]
        lap = (cur[:, 1:-1, 2:] + cur[:, 1:-1, :-2]) + (cur[:, :-2, 1:-1] + cur[:, 2:, 1:-1])
        lap -= four * u
        u2 = u * u
        r = r_lin + r_nl * np.minimum(u2, k["u2max"])
        bdt = bdt0 / (one + u2 * inv)
        old[:, 1:-1, 1:-1] = ((two * u - (one - bdt) * old[:, 1:-1, 1:-1]) + (r * r) * lap) / (
            one + bdt)
        for s, (y, x) in enumerate(src):
            uc = cur[:, y, x]
            old[:, y, x] += f[t, :, s] / (one + k["bdt0"][y, x] / (one + uc * uc * k["inv"][y, x]))
        out[t] = old[:, prb[:, 0], prb[:, 1]]
        old, cur = cur, old
    return out


def torch_wave(p: dict[str, Any], device: str):
    """The update with the Laplacian as a ``conv2d`` (eager PyTorch); returns a callable that
    runs the problem and gives probes (T, batch, P) as NumPy."""
    import torch
    import torch.nn.functional as F

    k = _coefficients(p)
    src, prb = p["sources"], p["probes"]
    n_steps, batch, _ = k["f"].shape
    ny, nx = p["medium"].shape

    def dev(a):
        return torch.as_tensor(np.ascontiguousarray(a), device=device)

    inner = (slice(1, -1), slice(1, -1))
    r_lin, r_nl, bdt0, inv = (dev(k[n][inner]) for n in ("r_lin", "r_nl", "bdt0", "inv"))
    f = dev(k["f"])
    stencil = dev(np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], np.float32)).view(1, 1, 3, 3)
    u2max = float(k["u2max"])
    sy, sx = dev(src[:, 0]), dev(src[:, 1])
    py, px = dev(prb[:, 0]), dev(prb[:, 1])
    gain_b = dev(k["bdt0"][src[:, 0], src[:, 1]])
    gain_i = dev(k["inv"][src[:, 0], src[:, 1]])

    def go():
        with torch.no_grad():
            old = torch.zeros((batch, ny, nx), device=device)
            cur = torch.zeros((batch, ny, nx), device=device)
            out = torch.empty((n_steps, batch, len(prb)), device=device)
            for t in range(n_steps):
                u = cur[:, 1:-1, 1:-1]
                lap = F.conv2d(cur.unsqueeze(1), stencil).squeeze(1)
                u2 = u * u
                r = r_lin + r_nl * torch.clamp(u2, max=u2max)
                bdt = bdt0 / (1 + u2 * inv)
                old[:, 1:-1, 1:-1] = (2 * u - (1 - bdt) * old[:, 1:-1, 1:-1] + r * r * lap) / (
                    1 + bdt)
                uc = cur[:, sy, sx]
                old[:, sy, sx] += f[t] / (1 + gain_b / (1 + uc * uc * gain_i))
                out[t] = old[:, py, px]
                old, cur = cur, old
            return out.cpu().numpy()

    return go


def jax_wave(p: dict[str, Any], platform: str):
    """``jax.lax.scan`` over the steps under ``jax.jit``; returns a callable giving probes."""
    import jax
    import jax.numpy as jnp

    device = jax.devices(platform)[0]
    k = _coefficients(p)
    src, prb = p["sources"], p["probes"]
    n_steps, batch, _ = k["f"].shape
    ny, nx = p["medium"].shape
    inner = (slice(1, -1), slice(1, -1))

    def put(a):
        return jax.device_put(jnp.asarray(a), device)

    r_lin, r_nl, bdt0, inv = (put(k[n][inner]) for n in ("r_lin", "r_nl", "bdt0", "inv"))
    gain_b = put(k["bdt0"][src[:, 0], src[:, 1]])
    gain_i = put(k["inv"][src[:, 0], src[:, 1]])
    f = put(k["f"])
    u2max = float(k["u2max"])
    sy, sx, py, px = (jnp.asarray(a) for a in (src[:, 0], src[:, 1], prb[:, 0], prb[:, 1]))

    def step(carry, ft):
        old, cur = carry
        u = cur[:, 1:-1, 1:-1]
        lap = (cur[:, 1:-1, 2:] + cur[:, 1:-1, :-2]) + (cur[:, :-2, 1:-1] + cur[:, 2:, 1:-1])
        lap = lap - 4 * u
        u2 = u * u
        r = r_lin + r_nl * jnp.minimum(u2, u2max)
        bdt = bdt0 / (1 + u2 * inv)
        new_inner = (2 * u - (1 - bdt) * old[:, 1:-1, 1:-1] + r * r * lap) / (1 + bdt)
        new = jnp.zeros_like(cur).at[:, 1:-1, 1:-1].set(new_inner)
        uc = cur[:, sy, sx]
        new = new.at[:, sy, sx].add(ft / (1 + gain_b / (1 + uc * uc * gain_i)))
        return (cur, new), new[:, py, px]

    @jax.jit
    def simulate(f):
        z = jnp.zeros((batch, ny, nx), jnp.float32)
        _, out = jax.lax.scan(step, (z, z), f)
        return out

    def go():
        return np.asarray(simulate(f).block_until_ready())

    return go


# --- the floor --------------------------------------------------------------------------------

def _copy_bandwidth_cpu(nbytes: int = 256 << 20) -> float:
    src = np.ones(nbytes // 4, np.float32)
    dst = np.empty_like(src)
    sec = time_median(lambda: np.copyto(dst, src), repeats=5, warmup=1)
    return 2 * nbytes / sec  # bytes read + written per second


def _copy_bandwidth_cuda(nbytes: int = 1 << 30) -> float:
    from numba import cuda

    src = cuda.to_device(np.ones(nbytes // 4, np.float32))
    dst = cuda.device_array_like(src)
    sec = time_median(lambda: dst.copy_to_device(src), repeats=10, warmup=2,
                      sync=cuda.synchronize)
    return 2 * nbytes / sec


def floor_seconds(batch: int, ny: int, nx: int, steps: int, bandwidth: float) -> float:
    """``12 bytes x cells x batch x steps / bandwidth``: read u^n and u^{n-1}, write u^{n+1}."""
    return 3 * 4 * batch * ny * nx * steps / bandwidth


# --- the run ----------------------------------------------------------------------------------

def run(args: argparse.Namespace) -> dict:
    """Time every implementation on the problem and print / write the record."""
    quick = bool(getattr(args, "quick", False))
    batch = args.batch or (8 if quick else 64)
    steps = args.steps or (200 if quick else 1000)
    repeats = args.repeats or (2 if quick else 3)
    ny, nx, width = (50, 80, 10) if quick else (100, 160, 20)
    device = args.device
    p = make_problem(batch=batch, nx=nx, ny=ny, steps=steps, absorb_width=width)
    workload = dict(batch=batch, nx=nx, ny=ny, steps=steps, absorb_width=width,
                    absorb_power=4, nonlinear_region="disk, 15 % of ny in radius",
                    sources=1, probes=3, dtype="float32", dt=p["dt"])
    results: dict[str, float | None] = {}
    notes: dict[str, str] = {}

    def physnn_go(backend):
        return lambda: simulate_wave(p["medium"], p["forcing"], dt=p["dt"],
                                     sources=p["sources"], probes=p["probes"],
                                     return_state=False, backend=backend).probes

    if device == "cpu":
        impls = {
            "physnn-cpu": lambda: physnn_go("cpu"),
            "numpy-vectorised": lambda: (lambda: numpy_wave(p)),
            "torch-cpu": lambda: torch_wave(p, "cpu"),
            "jax-cpu": lambda: jax_wave(p, "cpu"),
        }
        reference = "physnn-cpu"
        dev_name = cpu_name()
        sync = None
    else:
        from numba import cuda

        from ..backends import resolve_backend

        resolve_backend("cuda")  # a clear error when there is no GPU
        impls = {
            "physnn-cuda": lambda: physnn_go("cuda"),
            "torch-cuda": lambda: torch_wave(p, "cuda"),
            "jax-cuda": lambda: jax_wave(p, "gpu"),
        }
        reference = "physnn-cuda"
        dev_name = f"{gpu_name()} (host: {cpu_name()})"
        sync = cuda.synchronize

    ref_out = None
    runs: dict[str, Any] = {}
    missing: dict[str, str] = {}
    wanted = {p.strip() for p in str(getattr(args, "peers", "numpy,torch,jax")).split(",")}
    for name, make in impls.items():
        peer = name.split("-")[0]
        if name != reference and peer not in wanted:
            results[name] = None
            notes[name] = f"skipped: left out with --peers {','.join(sorted(wanted))}"
            print(f"{name}: {notes[name]}")
            continue
        try:
            go = make()
            out = go()  # first run: compilation, and the result to check
        except ImportError as exc:
            results[name] = None
            what = exc.name or str(exc)
            notes[name] = (f"skipped: NOT RUN, {what} is not installed "
                           f"(pip install {what.split('.')[0]})")
            if name.startswith("jax"):
                notes[name] += "; JAX is the strongest peer, so this comparison is incomplete"
            missing[name] = notes[name]
            print(f"{name}: {notes[name]}")
            continue
        except Exception as exc:  # a peer that cannot run here (e.g. no GPU build)
            results[name] = None
            notes[name] = f"skipped: {type(exc).__name__}: {exc}"
            print(f"{name}: {notes[name]}")
            continue
        out = np.asarray(out)
        if ref_out is None:
            ref_out = out
        else:
            err = float(np.abs(out - ref_out).max() / max(np.abs(ref_out).max(), 1e-30))
            notes[name] = f"probe signals agree with {reference} to {err:.1e} (relative max)"
            if not err < 1e-3:
                raise RuntimeError(f"{name} disagrees with {reference}: {notes[name]}")
        runs[name] = go
        results[name] = None  # keeps the table's order; timed below

    # timed in turn, repeat by repeat: the ratios hold on a busy machine
    def synced(go):
        def run():
            go()
            if sync is not None:
                sync()
        return run

    timed = time_interleaved({name: synced(go) for name, go in runs.items()},
                             repeats=repeats, warmup=0)
    for name, seconds in timed.items():
        results[name] = seconds
        print(f"{name}: {seconds * 1e3:.1f} ms")

    if device == "cpu":
        bw = _copy_bandwidth_cpu((32 if quick else 256) << 20)
    else:
        bw = _copy_bandwidth_cuda((256 if quick else 1024) << 20)
    results["bandwidth-floor"] = floor_seconds(batch, ny, nx, steps, bw)
    notes["bandwidth-floor"] = (f"12 bytes/cell/sample/step at {bw / 1e9:.1f} GB/s "
                                "(read + write of a large copy)")
    print()
    print(f"device: {dev_name}")
    print(f"workload: {workload}")
    print_table(results, reference=reference, notes=notes)
    ref = results.get(reference)
    if ref:
        print()
        for name in impls:
            if name != reference and results.get(name):
                print(f"{name} / {reference}: {results[name] / ref:.2f}")
    for name, why in missing.items():
        warning = f"WARNING: peer {name} was not run: {why}"
        print(warning)
        print(f"physnn bench wave: {warning}", file=sys.stderr)
    return write_record(args.json, workload, dev_name, results, notes, missing_peers=missing)

