"""The CPU LIF drivers' compiled variants agree with each other bit for bit.

The drivers are compiled per uniform / per-neuron parameters and serial / parallel, and the
BPTT backward splits the batch into per-thread chunks (see :mod:`physnn.kernels.lif_cpu`).
None of these choices may change a result; the NumPy oracles in ``test_lif`` and
``test_lif_grad`` pin the values themselves.
"""

from __future__ import annotations

import numpy as np
import pytest

from physnn.kernels import lif_cpu
from physnn.kernels.lif_update import (
    CONV_SNNTORCH,
    CONV_SPIKINGJELLY,
    RESET_SUBTRACT,
    RESET_ZERO,
    SG_ATAN,
    SG_FAST_SIGMOID,
    SG_TRIANGLE,
)

T, B, N = 6, 5, 7


def _params(rng):
    beta = np.full(N, 0.8, np.float32)
    tau = np.full(N, 5.0, np.float32)
    thr = np.full(N, 1.0, np.float32)
    x = rng.normal(0.4, 0.8, size=(T, B, N)).astype(np.float32)
    return x, beta, tau, thr


@pytest.mark.parametrize("conv", [CONV_SNNTORCH, CONV_SPIKINGJELLY])
@pytest.mark.parametrize("reset", [RESET_SUBTRACT, RESET_ZERO])
@pytest.mark.parametrize("parallel", [False, True])
def test_forward_uniform_variant_equals_general(conv, reset, parallel):
    """Uniform / per-neuron builds, and a separate initial state / one stepped in place,
    give the same bits; the caller's initial state is only read."""
    x, beta, tau, thr = _params(np.random.default_rng(1))
    outs = []
    for uni in (0, 1):
        for in_place in (False, True):
            st_in = np.full((B, N), 0.3, np.float32)
            st = st_in if in_place else np.full((B, N), np.nan, np.float32)
            spk = np.empty_like(x)
            mem = np.empty_like(x)
            flags = lif_cpu._lif_variant(reset, conv, uni, parallel)(x, beta, tau, thr, st_in,
                                                                     st, spk, mem, True)
            if not in_place:
                assert (st_in == np.float32(0.3)).all()
            outs.append((spk, mem, st, flags))
    for other in outs[1:]:
        for a, b in zip(outs[0], other, strict=True):
            np.testing.assert_array_equal(a, b)
    assert outs[0][0].any() and outs[0][3] == 0


@pytest.mark.parametrize("parallel", [False, True])
def test_forward_flags_say_which_input_was_not_finite(parallel):
    x, beta, tau, thr = _params(np.random.default_rng(4))
    kernel = lif_cpu._lif_variant(RESET_SUBTRACT, CONV_SNNTORCH, 1, parallel)

    def flags(x, st_in):
        st = np.empty((B, N), np.float32)
        return kernel(x, beta, tau, thr, st_in, st, np.empty_like(x), np.empty((0, 0, 0),
                      np.float32), False)

    ok = np.zeros((B, N), np.float32)
    assert flags(x, ok) == 0
    bad_x = x.copy()
    bad_x[2, 3, 1] = np.inf
    bad_st = ok.copy()
    bad_st[1, 4] = np.nan
    assert flags(bad_x, ok) == lif_cpu.BAD_INPUT
    assert flags(x, bad_st) == lif_cpu.BAD_STATE
    assert flags(bad_x, bad_st) == lif_cpu.BAD_INPUT | lif_cpu.BAD_STATE


def test_uniform_detects_single_valued_parameters():
    assert lif_cpu.uniform(np.full(3, 0.5), np.ones(3)) == 1
    assert lif_cpu.uniform(np.array([0.5, 0.5, 0.6])) == 0
    assert lif_cpu.uniform(np.full(2, np.inf)) == 1  # beta = 1 gives tau = inf
    assert lif_cpu.uniform(np.empty(0)) == 0


@pytest.mark.parametrize("kind", [SG_ATAN, SG_FAST_SIGMOID, SG_TRIANGLE])
@pytest.mark.parametrize("conv", [CONV_SNNTORCH, CONV_SPIKINGJELLY])
def test_bptt_variants_and_chunks_agree(kind, conv):
    rng = np.random.default_rng(2)
    g = rng.normal(size=(T, B, N)).astype(np.float32)
    mem = rng.normal(1.0, 0.5, size=(T, B, N)).astype(np.float32)
    spk = (mem > 1).astype(np.float32)
    _, beta, _, thr = _params(rng)
    results = []
    for uni, parallel, chunks in [(0, False, 1), (1, False, 1), (1, True, 2), (1, True, B),
                                  (0, True, 3)]:
        gx = np.full_like(g, np.nan)
        carry = np.full((B, N), 0.25, np.float32)
        kernel = lif_cpu._bptt_variant(kind, RESET_SUBTRACT, conv, 0, uni, parallel)
        kernel(g, mem, spk, beta, thr, np.float32(2.0), gx, carry, chunks)
        results.append((gx, carry))
    for gx, carry in results[1:]:
        np.testing.assert_array_equal(gx, results[0][0])
        np.testing.assert_array_equal(carry, results[0][1])
    assert np.isfinite(results[0][0]).all()


def test_sltt_backward_uniform_variant_equals_general():
    rng = np.random.default_rng(3)
    g = rng.normal(size=(T, B, N)).astype(np.float32)
    mem = rng.normal(1.0, 0.5, size=(T, B, N)).astype(np.float32)
    _, _, _, thr = _params(rng)
    outs = []
    for uni in (0, 1):
        out = np.empty_like(g)
        lif_cpu.sltt_backward(g, mem, thr, SG_TRIANGLE, np.float32(1.0), out, uni=uni)
        outs.append(out)
    np.testing.assert_array_equal(outs[0], outs[1])
    assert (outs[0] != 0).any()


def test_drivers_accept_zero_neurons():
    x = np.zeros((3, 2, 0), np.float32)
    p = np.zeros(0, np.float32)
    bad = lif_cpu.lif_forward(x, p, p, p, np.zeros((2, 0), np.float32), RESET_SUBTRACT,
                              CONV_SNNTORCH, np.empty_like(x), np.empty_like(x), True)
    assert bad.shape == (2,) and not bad.any()


def test_serial_and_parallel_builds_have_their_own_cache_names():
    """numba's disk cache keys on the name, not on ``parallel``: the two builds must differ."""
    names = {lif_cpu._lif_variant(RESET_SUBTRACT, CONV_SNNTORCH, 1, par).py_func.__name__
             for par in (False, True)}
    assert len(names) == 2


def test_source_tag_follows_the_rules_source(tmp_path):
    import importlib.util

    from physnn.kernels._compile import source_tag

    path = tmp_path / "rules_mod.py"
    tags = []
    for body in ("A = 1\n", "A = 2\n", "A = 1\n"):
        path.write_text(body)
        spec = importlib.util.spec_from_file_location("rules_mod", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        tags.append(source_tag(module))
    assert tags[0] != tags[1] and tags[0] == tags[2]


@pytest.mark.parametrize("module", ["lif_cpu", "grad_cpu"])
def test_drivers_run_serial_on_one_thread_or_a_small_problem(module, monkeypatch):
    """The LIF drivers and the full-BPTT drivers of physnn.torch_ops pick their build by one
    rule (lif_cpu.parallel_pays): parallel only from SERIAL_BELOW neuron-steps up and with
    more than one numba thread."""
    import numba

    from physnn.kernels import grad_cpu

    picked = []
    if module == "grad_cpu":
        real = grad_cpu._variant.__wrapped__
        monkeypatch.setattr(grad_cpu, "_variant", lambda name, parallel, **kw: (
            picked.append(parallel) or real(name, parallel, **kw)))
    else:
        real = lif_cpu._bptt_variant.__wrapped__
        monkeypatch.setattr(lif_cpu, "_bptt_variant", lambda *a: (
            picked.append(a[-1]) or real(*a)))
    big = (1, 2, lif_cpu.SERIAL_BELOW // 2)  # SERIAL_BELOW neuron-steps exactly
    small = (1, 2, 8)

    def backward(shape):
        g = np.zeros(shape, np.float32)
        p = np.full(shape[2], 0.5, np.float32)
        st = np.zeros(shape[1:], np.float32)
        if module == "grad_cpu":
            grad_cpu.lif_grad(g, st, g, g, st, p, p, SG_ATAN, 2.0, RESET_SUBTRACT,
                              CONV_SNNTORCH, False, np.empty_like(g), np.empty_like(st),
                              np.empty_like(st), np.empty_like(st))
        else:
            lif_cpu.lif_bptt(g, g, g, p, p, SG_ATAN, np.float32(2.0), RESET_SUBTRACT,
                             CONV_SNNTORCH, False, np.empty_like(g), st.copy())

    for shape in (big, small):
        backward(shape)
    assert picked == [numba.get_num_threads() > 1, False]
    picked.clear()
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        backward(big)
    finally:
        numba.set_num_threads(threads)
    assert picked == [False]
