"""Naive NumPy references of the LIF-family kernels (the oracle the kernels are tested
against). Written from the equations in physnn.spiking, step by step, in the dtype of x."""

from __future__ import annotations

import numpy as np


def lif(x, beta, thr, reset="subtract", convention="snntorch", state=None):
    T = x.shape[0]
    dt = x.dtype.type
    beta = np.asarray(beta, dtype=x.dtype)
    thr = np.asarray(thr, dtype=x.dtype)
    st = np.zeros(x.shape[1:], x.dtype) if state is None else np.array(state, dtype=x.dtype)
    spikes = np.zeros(x.shape, np.uint8)
    mem = np.zeros(x.shape, x.dtype)
    if convention == "snntorch":
        for t in range(T):
            r = (st > thr).astype(x.dtype)
            if reset == "zero":
                u = beta * ((dt(1) - r) * st) + x[t]
            else:
                u = beta * st + x[t]
                if reset == "subtract":
                    u = u - r * thr
            spikes[t] = u > thr
            mem[t] = u
            st = u
    else:
        tau = (1.0 / (1.0 - np.asarray(beta, np.float64))).astype(x.dtype)
        for t in range(T):
            h = st - st / tau + x[t]
            s = (h >= thr).astype(x.dtype)
            if reset == "subtract":
                v = h - s * thr
            elif reset == "zero":
                v = np.where(s > 0, dt(0), h)
            else:
                v = h
            spikes[t] = s
            mem[t] = h
            st = v
    return spikes, st, mem


def synaptic(x, alpha, beta, thr, reset="subtract", syn=None, mem=None):
    T = x.shape[0]
    alpha = np.asarray(alpha, dtype=x.dtype)
    beta = np.asarray(beta, dtype=x.dtype)
    thr = np.asarray(thr, dtype=x.dtype)
    sy = np.zeros(x.shape[1:], x.dtype) if syn is None else np.array(syn, x.dtype)
    me = np.zeros(x.shape[1:], x.dtype) if mem is None else np.array(mem, x.dtype)
    spikes = np.zeros(x.shape, np.uint8)
    rec = np.zeros(x.shape, x.dtype)
    for t in range(T):
        r = (me > thr).astype(x.dtype)
        sy = alpha * sy + x[t]
        u = beta * me + sy
        if reset == "subtract":
            u = u - r * thr
        elif reset == "zero":
            u = u - u * r
        me = u
        spikes[t] = me > thr
        rec[t] = me
    return spikes, (sy, me), rec


def alif(x, beta, thr, gamma, rho, reset="subtract", v=None, a=None):
    T = x.shape[0]
    f = x.dtype.type
    beta, thr, gamma, rho = (np.asarray(p, dtype=x.dtype) for p in (beta, thr, gamma, rho))
    v = np.zeros(x.shape[1:], x.dtype) if v is None else np.array(v, x.dtype)
    a = np.zeros(x.shape[1:], x.dtype) if a is None else np.array(a, x.dtype)
    spikes = np.zeros(x.shape, np.uint8)
    rec = np.zeros(x.shape, x.dtype)
    for t in range(T):
        h = beta * v + x[t]
        theta = thr + gamma * a
        s = h >= theta
        if reset == "subtract":
            v = np.where(s, h - theta, h)
        elif reset == "zero":
            v = np.where(s, f(0), h)
        else:
            v = h
        a = rho * a + s.astype(x.dtype)
        spikes[t] = s
        rec[t] = h
    return spikes, (v, a), rec
