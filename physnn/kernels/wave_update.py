"""The scalar update of the damped, nonlinear 2-D wave equation, written once.

Both drivers compile these functions: :mod:`physnn.kernels.wave_cpu` with ``numba.njit`` and
:mod:`physnn.kernels.wave_cuda` with ``numba.cuda.jit(device=True)``. They use plain
arithmetic on float32 values and float32 constants only, so that the float32 result does not
depend on the compiler (a Python float literal would promote the math to float64).

The equation is

.. math::

    u_{tt} + 2\\,b(u)\\,u_t = c(u)^2\\,\\nabla^2 u + s(t),\\qquad
    c(u) = c_\\mathrm{lin} + c_\\mathrm{nl}\\,\\min(u^2, u_\\mathrm{max}^2),\\qquad
    b(u) = \\frac{b_0}{1 + u^2 / u_\\mathrm{sat}^2},

discretised with central differences in time and the 5-point Laplacian in space
(grid step ``h``, time step ``dt``):

.. math::

    u^{n+1} = \\frac{2u^n - (1 - b\\,dt)\\,u^{n-1} + r^2 L u^n + dt^2 s^n}{1 + b\\,dt},\\qquad
    r = c\\,dt/h,\\qquad L u = u_E + u_W + u_N + u_S - 4u .

The speed and the damping are evaluated at :math:`u^n`, which keeps the scheme explicit.
"""

from __future__ import annotations

import numpy as np

_ONE = np.float32(1.0)
_TWO = np.float32(2.0)
_FOUR = np.float32(4.0)


def laplacian5(centre, east, west, north, south):
    """Unscaled 5-point Laplacian ``(E + W) + (N + S) - 4 C`` (divide by h^2 for units)."""
    return ((east + west) + (north + south)) - _FOUR * centre


def wave_step(u, u_prev, lap, r_lin, r_nl, u2max, bdt0, inv_usat2):
    """One explicit time step at one cell, without the source term.

    Parameters
    ----------
    u, u_prev : float32
        The field at this cell at steps n and n-1.
    lap : float32
        ``laplacian5`` of the field at step n around this cell.
    r_lin, r_nl : float32
        Courant numbers of the linear speed and of the nonlinear coefficient:
        ``c_lin dt / h`` and ``c_nl dt / h`` (``c_nl`` per unit of ``u^2``).
    u2max : float32
        The square of the amplitude at which the nonlinear speed saturates.
    bdt0, inv_usat2 : float32
        ``b0 dt`` and ``1 / u_sat^2`` (0 for a damping that does not saturate).

    Returns
    -------
    float32
        The field at step n+1. Add ``dt^2 s * forcing_gain(...)`` for a source at this cell.
    """
    u2 = u * u
    r = r_lin + r_nl * min(u2, u2max)
    bdt = bdt0 / (_ONE + u2 * inv_usat2)  # the same expression as in forcing_gain
    return ((_TWO * u - (_ONE - bdt) * u_prev) + (r * r) * lap) / (_ONE + bdt)


def forcing_gain(u, bdt0, inv_usat2):
    """``1 / (1 + b(u) dt)``: how a forcing ``dt^2 s`` at step n enters ``u^{n+1}``."""
    u2 = u * u
    bdt = bdt0 / (_ONE + u2 * inv_usat2)
    return _ONE / (_ONE + bdt)
