"""Two-dimensional scalar waves: the damped, nonlinear wave equation on a grid (FDTD).

.. math::

    u_{tt} + 2\\,b(x, y, u)\\,u_t = c(x, y, u)^2\\,\\nabla^2 u + s(x, y, t)

A :class:`WaveMedium` holds the grid (speed, damping, nonlinear material, rigid walls and the
graded absorbing layer) and is validated once; :func:`simulate_wave` drives a batch of
samples through it with point sources and returns the probe signals, time-major. The time
loop runs in compiled kernels (:mod:`physnn.kernels.wave_cpu`, :mod:`physnn.kernels.wave_cuda`)
that share one scalar update (:mod:`physnn.kernels.wave_update`).

Units: lengths in the unit of ``h``, times in the unit of ``dt``'s unit, speeds in length per
time, damping ``b`` in 1/time. Grid arrays have shape ``(ny, nx)``; a cell is ``(y, x)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np

from .backends import resolve_backend

__all__ = ["WaveMedium", "WaveState", "WaveResult", "simulate_wave", "absorbing_profile"]


class WaveState(NamedTuple):
    """The field at two consecutive steps, ``(batch, ny, nx)`` float32 each."""

    u_prev: np.ndarray
    u: np.ndarray


class WaveResult(NamedTuple):
    """What :func:`simulate_wave` returns.

    Attributes
    ----------
    probes : ndarray, shape (T, batch, n_probes), float32
        The field (or its intensity ``u^2``) at each probe after each step.
    state : WaveState or None
        The fields at the last two steps; pass it back as ``state=`` to continue the run.
        ``None`` when the run was asked not to return it.
    """

    probes: np.ndarray
    state: WaveState | None


def _grid_array(name: str, value, shape: tuple[int, int], *, dtype=np.float32) -> np.ndarray:
    arr = np.asarray(value)
    if arr.ndim == 0:
        arr = np.full(shape, arr)
    if arr.shape != shape:
        raise ValueError(f"{name} must be a scalar or have the grid shape {shape}, got {arr.shape}")
    if dtype is bool:
        if arr.dtype != np.bool_:
            raise TypeError(f"{name} must be a boolean mask, got dtype {arr.dtype}")
        return arr.copy()
    if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise TypeError(f"{name} must be real numbers, got dtype {arr.dtype}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return np.ascontiguousarray(arr, dtype=dtype)


def absorbing_profile(shape: tuple[int, int], width: int, power: float,
                      strength: float) -> np.ndarray:
    """Damping of the graded absorbing layer, ``(ny, nx)`` float32, in 1/time.

    A cell at ``d`` cells from the outer wall ring (``d = 0`` on the ring) inside the layer of
    ``width`` cells gets ``b = strength * ((width - d) / width) ** power``; cells further in
    get 0. Where the layers of two walls overlap (corners) the larger value holds.
    """
    ny, nx = shape
    if width == 0:
        return np.zeros(shape, np.float32)
    iy = np.arange(ny, dtype=np.float64)
    ix = np.arange(nx, dtype=np.float64)
    dy = np.minimum(iy, ny - 1 - iy)[:, None]
    dx = np.minimum(ix, nx - 1 - ix)[None, :]
    d = np.minimum(dy, dx)
    depth = np.clip((width - d) / width, 0.0, 1.0)
    return (strength * depth**power).astype(np.float32)


@dataclass(frozen=True, eq=False)
class WaveMedium:
    """The grid a wave runs on: speed, damping, nonlinear material and walls (validated).

    Build it with ``WaveMedium.build(...)``; the fields are the compiled-in coefficient maps.

    Attributes
    ----------
    c : ndarray (ny, nx) float32
        Linear wave speed ``c_lin`` (0 inside rigid walls).
    damping : ndarray (ny, nx) float32
        Damping ``b0`` in 1/time, including the absorbing layer.
    c_nl : ndarray (ny, nx) float32
        Nonlinear speed coefficient (0 outside the nonlinear material), speed per ``u^2``.
    inv_usat2 : ndarray (ny, nx) float32
        ``1 / u_sat^2`` in the nonlinear material (0 elsewhere, and where the damping does not
        saturate).
    walls : ndarray (ny, nx) bool
        Rigid (Dirichlet, ``u = 0``) cells, the outer ring included.
    nonlinear : ndarray (ny, nx) bool
        The nonlinear material.
    h : float
        Grid step.
    u_max : float
        Amplitude at which the nonlinear speed saturates: ``c = c_lin + c_nl min(u^2, u_max^2)``.
    """

    c: np.ndarray
    damping: np.ndarray
    c_nl: np.ndarray
    inv_usat2: np.ndarray
    walls: np.ndarray
    nonlinear: np.ndarray
    h: float
    u_max: float

    @classmethod
    def build(
        cls,
        c: np.ndarray,
        *,
        h: float = 1.0,
        damping: float | np.ndarray = 0.0,
        nonlinear: np.ndarray | None = None,
        c_nl: float = 0.0,
        u_sat: float = math.inf,
        u_max: float = 1.0,
        walls: np.ndarray | None = None,
        absorb_width: int = 20,
        absorb_power: float = 4.0,
        absorb_strength: float | None = None,
    ) -> WaveMedium:
        """Validate the description of a medium and build its coefficient maps.

        Parameters
        ----------
        c : array_like (ny, nx)
            Linear wave speed, > 0 (length / time). ``ny, nx >= 3``.
        h : float
            Grid step (length).
        damping : float or array_like (ny, nx)
            Background damping ``b0 >= 0`` (1/time), before the absorbing layer is added.
        nonlinear : bool array (ny, nx), optional
            Cells of nonlinear material, where ``c = c_lin + c_nl min(u^2, u_max^2)`` and
            ``b = b0 / (1 + u^2 / u_sat^2)``.
        c_nl : float
            Nonlinear speed coefficient (speed per unit ``u^2``); may be negative as long as
            the speed stays positive up to ``u_max``.
        u_sat : float
            Saturation amplitude of the damping in the nonlinear material (``inf``: none).
        u_max : float
            Amplitude beyond which the nonlinear speed stops growing; it bounds the largest
            speed a run can reach, hence the stable time step.
        walls : bool array (ny, nx), optional
            Rigid cells (``u = 0``) inside the grid. The outer ring of cells is always rigid.
        absorb_width : int
            Cells of the graded absorbing layer along every wall (0: a reverberant cavity
            with rigid walls).
        absorb_power : float
            Power law of the layer's damping profile.
        absorb_strength : float, optional
            Peak damping of the layer (1/time). Default
            ``(power + 1) * c_edge * ln(1000) / (4 * width * h)``: a wave crossing the layer
            twice loses 99.9 % of its energy (``c_edge``: the largest speed in the layer).
        """
        c_arr = np.asarray(c)
        if c_arr.ndim != 2 or min(c_arr.shape) < 3:
            raise ValueError(
                f"c must be a 2-D array of at least 3x3 cells, got shape {c_arr.shape}"
            )
        shape = c_arr.shape
        c_arr = _grid_array("c", c_arr, shape)
        if np.any(c_arr <= 0):
            raise ValueError("c must be positive everywhere (mark rigid cells with walls=)")
        for name, val in (("h", h), ("u_max", u_max)):
            if not (isinstance(val, int | float | np.floating | np.integer)
                    and math.isfinite(val) and val > 0):
                raise ValueError(f"{name} must be a positive finite number, got {val!r}")
        if not (isinstance(u_sat, int | float | np.floating | np.integer) and u_sat > 0):
            raise ValueError(f"u_sat must be a positive number (inf: no saturation), got {u_sat!r}")
        if not (isinstance(c_nl, int | float | np.floating | np.integer) and math.isfinite(c_nl)):
            raise ValueError(f"c_nl must be a finite number, got {c_nl!r}")
        b0 = _grid_array("damping", damping, shape)
        if np.any(b0 < 0):
            raise ValueError("damping must be >= 0 everywhere")
        nl = (np.zeros(shape, bool) if nonlinear is None
              else _grid_array("nonlinear", nonlinear, shape, dtype=bool))
        wl = np.zeros(shape, bool) if walls is None else _grid_array("walls", walls, shape,
                                                                     dtype=bool)
        wl[0, :] = wl[-1, :] = wl[:, 0] = wl[:, -1] = True
        if not (isinstance(absorb_width, int | np.integer) and 0 <= absorb_width):
            raise ValueError(f"absorb_width must be an integer >= 0, got {absorb_width!r}")
        if 2 * absorb_width > min(shape) - 2:
            raise ValueError(
                f"absorb_width={absorb_width} leaves no interior in a grid of shape {shape}; "
                f"use at most {(min(shape) - 2) // 2}"
            )
        if not (math.isfinite(absorb_power) and absorb_power > 0):
            raise ValueError(f"absorb_power must be positive, got {absorb_power!r}")
        if absorb_width > 0:
            layer = absorbing_profile(shape, absorb_width, absorb_power, 1.0) > 0
            if absorb_strength is None:
                c_edge = float(c_arr[layer].max())
                absorb_strength = ((absorb_power + 1) * c_edge * math.log(1000.0)
                                   / (4 * absorb_width * h))
            if not (math.isfinite(absorb_strength) and absorb_strength >= 0):
                raise ValueError(f"absorb_strength must be >= 0, got {absorb_strength!r}")
            b0 = b0 + absorbing_profile(shape, absorb_width, absorb_power, absorb_strength)
        nl &= ~wl
        c_nl_map = np.where(nl, np.float32(c_nl), np.float32(0)).astype(np.float32)
        inv = 0.0 if math.isinf(u_sat) else 1.0 / (u_sat * u_sat)
        inv_map = np.where(nl, np.float32(inv), np.float32(0)).astype(np.float32)
        if np.any(c_arr + c_nl_map * np.float32(u_max * u_max) <= 0):
            raise ValueError(
                f"c_nl={c_nl} makes the speed c_lin + c_nl * u_max**2 non-positive in the "
                f"nonlinear material (u_max={u_max}); reduce |c_nl| or u_max"
            )
        c_arr = np.where(wl, np.float32(0), c_arr).astype(np.float32)
        c_nl_map[wl] = 0
        b0 = np.where(wl, np.float32(0), b0).astype(np.float32)
        for a in (c_arr, b0, c_nl_map, inv_map, wl, nl):
            a.flags.writeable = False
        return cls(c=c_arr, damping=b0, c_nl=c_nl_map, inv_usat2=inv_map, walls=wl,
                   nonlinear=nl, h=float(h), u_max=float(u_max))

    @property
    def shape(self) -> tuple[int, int]:
        """Grid shape ``(ny, nx)``."""
        return self.c.shape

    @property
    def max_speed(self) -> float:
        """The largest speed a run can reach: ``max(c_lin + max(c_nl, 0) u_max^2)``."""
        return float(np.max(self.c.astype(np.float64)
                            + np.maximum(self.c_nl, 0).astype(np.float64) * self.u_max**2))

    @property
    def max_dt(self) -> float:
        """The CFL bound of the explicit scheme: ``h / (c_max sqrt(2))``."""
        return self.h / (self.max_speed * math.sqrt(2.0))


def _cells(name: str, cells, medium: WaveMedium) -> np.ndarray:
    """The checked ``(n, 2)`` int64 cells; the answer for a given set of cells is kept on the
    medium (the medium is immutable, and the cells are recognised by their values)."""
    arr = np.asarray(cells)
    key = (name, arr.shape, arr.dtype.str, arr.tobytes())
    cache = _medium_cache(medium, "cells")
    got = cache.get(key)
    if got is None:
        got = _check_cells(name, arr, medium)
        if len(cache) >= 64:
            cache.clear()
        cache[key] = got
    return got


def _check_cells(name: str, arr: np.ndarray, medium: WaveMedium) -> np.ndarray:
    if arr.ndim == 1 and arr.shape == (2,):
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != 2 or arr.shape[0] == 0:
        raise ValueError(
            f"{name} must be a sequence of (y, x) cells, shape (n, 2), got {arr.shape}"
        )
    if not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{name} must hold integer cell indices, got dtype {arr.dtype}")
    ny, nx = medium.shape
    for y, x in arr:
        if not (1 <= y <= ny - 2 and 1 <= x <= nx - 2):
            raise ValueError(
                f"{name} cell (y={y}, x={x}) is outside the grid's interior: the grid has shape "
                f"({ny}, {nx}) and its outer ring is a rigid wall, so use 1 <= y <= {ny - 2}, "
                f"1 <= x <= {nx - 2}"
            )
        if medium.walls[y, x]:
            raise ValueError(f"{name} cell (y={y}, x={x}) lies inside a rigid wall")
    return np.ascontiguousarray(arr, dtype=np.int64)


def _medium_cache(medium: WaveMedium, what: str) -> dict:
    """A dict kept on the (immutable) medium for what its checks and coefficients give."""
    return medium.__dict__.setdefault("_cache", {}).setdefault(what, {})


def _step_coefficients(medium: WaveMedium, dt: float) -> tuple:
    """``(r_lin, r_nl, bdt0, u2max)`` of a run with time step ``dt``, after checking ``dt``
    against the CFL bound; computed once per medium and ``dt``."""
    cache = _medium_cache(medium, "dt")
    try:
        got = cache.get(dt)
    except TypeError:  # unhashable: checked (and refused) below
        got = None
    if got is not None:
        return got
    if not (isinstance(dt, int | float | np.floating) and math.isfinite(dt) and dt > 0):
        raise ValueError(f"dt must be a positive finite number, got {dt!r}")
    if dt > medium.max_dt:
        raise ValueError(
            f"dt={dt} exceeds the CFL bound h / (c_max * sqrt(2)) = {medium.max_dt:.6g} of this "
            f"medium (h={medium.h}, largest reachable speed c_max={medium.max_speed:.6g}); "
            f"use dt <= {medium.max_dt:.6g}"
        )
    dtf = np.float32(dt)
    got = ((medium.c * dtf / np.float32(medium.h)).astype(np.float32),
           (medium.c_nl * dtf / np.float32(medium.h)).astype(np.float32),
           (medium.damping * dtf).astype(np.float32),
           np.float32(medium.u_max * medium.u_max))
    if len(cache) >= 16:
        cache.clear()
    cache[dt] = got
    return got


_REAL_KINDS = frozenset("iuf")


def simulate_wave(
    medium: WaveMedium,
    forcing: np.ndarray,
    *,
    dt: float,
    sources: Sequence[tuple[int, int]] | np.ndarray,
    probes: Sequence[tuple[int, int]] | np.ndarray,
    measure: Literal["field", "intensity"] = "field",
    state: WaveState | tuple[np.ndarray, np.ndarray] | None = None,
    return_state: bool = True,
    backend: str = "cpu",
) -> WaveResult:
    """Run a batch of waves through ``medium`` driven by point sources; return probe signals.

    Steps the scheme of :mod:`physnn.kernels.wave_update`:
    ``u^{n+1} = (2u^n - (1 - b dt) u^{n-1} + (c dt / h)^2 L u^n + dt^2 s^n) / (1 + b dt)``
    with ``L`` the 5-point stencil, for ``T = forcing.shape[0]`` steps.

    Parameters
    ----------
    medium : WaveMedium
        The grid, from :meth:`WaveMedium.build`.
    forcing : ndarray, shape (T, batch, n_sources)
        Source term ``s`` at each source cell, per step and sample (field / time^2).
    dt : float
        Time step; must not exceed ``medium.max_dt = h / (c_max sqrt(2))``.
    sources, probes : sequence of (y, x)
        Interior cells (not walls) of the sources and of the probes.
    measure : {"field", "intensity"}
        Record ``u`` or ``u^2`` at the probes.
    state : WaveState, optional
        Fields ``(u_prev, u)`` at steps -1 and 0, ``(batch, ny, nx)`` each, zero on walls.
        Default: the medium at rest. Not modified.
    return_state : bool
        Return the final fields (``False`` spares the copy from the GPU when only the probes
        are wanted; ``state`` of the result is then ``None``).
    backend : {"cpu", "cuda", "auto"}

    Returns
    -------
    WaveResult
        ``probes`` (T, batch, n_probes) float32 after steps 1..T and the final ``state``.

    Raises
    ------
    ValueError
        Bad shapes, cells outside the interior, non-finite forcing or state, ``dt`` above the
        CFL bound.
    FloatingPointError
        When the field becomes non-finite; the message names the step and the sample.
    """
    if not isinstance(medium, WaveMedium):
        raise TypeError(f"medium must be a WaveMedium (WaveMedium.build(...)), got {type(medium)}")
    r_lin, r_nl, bdt0, u2max = _step_coefficients(medium, dt)
    if measure not in ("field", "intensity"):
        raise ValueError(f"measure must be 'field' or 'intensity', got {measure!r}")
    src = _cells("sources", sources, medium)
    prb = _cells("probes", probes, medium)
    f = np.asarray(forcing)
    if f.ndim != 3 or f.shape[2] != src.shape[0]:
        raise ValueError(
            f"forcing must have shape (T, batch, n_sources={src.shape[0]}), got {f.shape}"
        )
    if f.dtype.kind not in _REAL_KINDS:
        raise TypeError(f"forcing must be real numbers, got dtype {f.dtype}")
    if not np.isfinite(f).all():
        bad = np.argwhere(~np.isfinite(f))[0]
        raise ValueError(
            f"forcing contains NaN or infinite values (first at step {bad[0]}, sample {bad[1]}, "
            f"source {bad[2]})"
        )
    n_steps, batch = f.shape[0], f.shape[1]
    ny, nx = medium.shape
    if state is None:
        u_prev = np.zeros((batch, ny, nx), np.float32)
        u = np.zeros((batch, ny, nx), np.float32)
    else:
        if len(state) != 2:
            raise ValueError("state must be a pair (u_prev, u)")
        arrs = []
        for name, a in zip(("state.u_prev", "state.u"), state, strict=True):
            a = np.asarray(a)
            if a.shape != (batch, ny, nx):
                raise ValueError(f"{name} must have shape {(batch, ny, nx)}, got {a.shape}")
            if a.dtype.kind not in _REAL_KINDS:
                raise TypeError(f"{name} must be real numbers, got dtype {a.dtype}")
            if not np.isfinite(a).all():
                raise ValueError(f"{name} contains NaN or infinite values")
            if a[:, medium.walls].any():
                raise ValueError(f"{name} must be 0 on rigid walls (the outer ring included)")
            arrs.append(np.array(a, dtype=np.float32, order="C"))  # a private copy
        u_prev, u = arrs
    forcing_dt2 = np.ascontiguousarray(f * np.float32(dt * dt), dtype=np.float32)
    out = np.zeros((n_steps, batch, prb.shape[0]), np.float32)
    blown = np.full(batch, -1, np.int64)
    intensity = measure == "intensity"
    name = resolve_backend(backend)
    if name == "cpu":
        from .kernels.wave_cpu import driver

        driver(batch, ny * nx, n_steps)(u_prev, u, r_lin, r_nl, u2max, bdt0, medium.inv_usat2,
                                        src, forcing_dt2, prb, intensity, out, blown)
    else:
        from numba import cuda

        from .kernels.wave_cuda import device_maps, run_cuda

        # the medium's maps and the cells stay on the device from run to run
        cache = _medium_cache(medium, "device")
        key = (dt, src.tobytes(), prb.tobytes(), getattr(cuda.get_current_device(), "id", 0))
        maps = cache.get(key)
        if maps is None:
            if len(cache) >= 8:
                cache.clear()
            maps = cache[key] = device_maps(r_lin, r_nl, bdt0, medium.inv_usat2, src, prb)
        d_lin, d_nl, d_bdt0, d_inv, d_src, d_prb = maps
        run_cuda(u_prev, u, d_lin, d_nl, u2max, d_bdt0, d_inv, d_src, forcing_dt2, d_prb,
                 intensity, out, blown, at_rest=state is None, copy_state=bool(return_state))
    if np.any(blown >= 0):
        b = int(np.argmin(np.where(blown >= 0, blown, np.iinfo(np.int64).max)))
        raise FloatingPointError(
            f"the wave field became non-finite at step {int(blown[b])} (0-based) in sample {b}; "
            "reduce the source amplitude or the nonlinear coefficient, or lower dt"
        )
    if not return_state:
        return WaveResult(out, None)
    if n_steps % 2 == 1:
        u_prev, u = u, u_prev
    return WaveResult(out, WaveState(u_prev, u))
