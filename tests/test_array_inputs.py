"""The array functions (pn.lif, synaptic, alif, lif_backward, sltt_backward) take anything with
``__array__`` on the host (a CPU torch.Tensor: same results as NumPy), refuse a tensor that
requires grad with advice to detach it, and refuse anything else naming the argument."""

from __future__ import annotations

import numpy as np
import pytest

import physnn as pn

torch = pytest.importorskip("torch")


def _x(shape=(12, 3, 4), seed=0):
    return np.random.default_rng(seed).normal(0.4, 0.7, size=shape).astype(np.float32)


class ArrayOnly:
    """Exposes nothing but ``__array__`` (like many array-likes)."""

    def __init__(self, a):
        self._a = a

    def __array__(self, dtype=None, copy=None):
        return self._a if dtype is None else self._a.astype(dtype)


def test_lif_torch_cpu_tensor_equals_numpy():
    x = _x()
    beta = np.linspace(0.6, 0.9, 4, dtype=np.float32)
    s0 = _x((3, 4), seed=1)
    ref_s, ref_st, ref_m = pn.lif(x, beta=beta, state=pn.LIFState(s0), backend="cpu",
                                  record_membrane=True)
    s, st, m = pn.lif(torch.from_numpy(x), beta=torch.from_numpy(beta),
                      state=pn.LIFState(torch.from_numpy(s0)), backend="cpu",
                      record_membrane=True)
    assert ref_s.sum() > 0
    assert isinstance(s, np.ndarray)
    np.testing.assert_array_equal(s, ref_s)
    np.testing.assert_array_equal(st.membrane, ref_st.membrane)
    np.testing.assert_array_equal(m, ref_m)
    s2, _ = pn.lif(ArrayOnly(x), beta=0.8, backend="cpu")
    np.testing.assert_array_equal(s2, pn.lif(x, beta=0.8, backend="cpu")[0])


def test_synaptic_alif_and_backwards_take_torch_tensors():
    x = _x(seed=2)
    xt = torch.from_numpy(x)
    for fn, kw in ((pn.synaptic, dict(alpha=0.7, beta=0.8)), (pn.alif, dict(beta=0.9))):
        np.testing.assert_array_equal(fn(xt, backend="cpu", **kw)[0],
                                      fn(x, backend="cpu", **kw)[0])
    s, _, m = pn.lif(x, beta=0.85, backend="cpu", record_membrane=True)
    g = _x(seed=3)
    ref, ref_st = pn.lif_backward(g, m, s, beta=0.85, backend="cpu")
    got, got_st = pn.lif_backward(torch.from_numpy(g), torch.from_numpy(m), torch.from_numpy(s),
                                  beta=0.85, backend="cpu")
    np.testing.assert_array_equal(got, ref)
    np.testing.assert_array_equal(got_st.membrane, ref_st.membrane)
    np.testing.assert_array_equal(
        pn.sltt_backward(torch.from_numpy(g), torch.from_numpy(m), backend="cpu"),
        pn.sltt_backward(g, m, backend="cpu"))


def test_tensor_requiring_grad_is_refused_with_detach_advice():
    x = torch.from_numpy(_x()).requires_grad_(True)
    with pytest.raises(TypeError, match=r"^x is a tensor that requires grad; pass x\.detach\(\)"):
        pn.lif(x, beta=0.9, backend="cpu")
    beta = torch.tensor(0.9, requires_grad=True)
    with pytest.raises(TypeError, match=r"^beta is a tensor that requires grad"):
        pn.lif(_x(), beta=beta, backend="cpu")
    st = pn.LIFState(torch.zeros(3, 4, requires_grad=True))
    with pytest.raises(TypeError, match=r"^state\.membrane is a tensor that requires grad"):
        pn.lif(_x(), beta=0.9, state=st, backend="cpu")
    g = torch.zeros(12, 3, 4, requires_grad=True)
    with pytest.raises(TypeError, match=r"^grad_spikes is a tensor that requires grad"):
        pn.sltt_backward(g, _x(), backend="cpu")
    # detached, it runs
    s, _ = pn.lif(x.detach(), beta=0.9, backend="cpu")
    assert s.shape == x.shape


@pytest.mark.parametrize("bad", [[[[0.5]]], 3.0, object(), "abc"],
                         ids=["list", "float", "object", "str"])
def test_non_arrays_are_refused_naming_the_argument(bad):
    with pytest.raises(TypeError, match=r"^x must be array-like: .*np\.asarray\(x"):
        pn.lif(bad, beta=0.9, backend="cpu")
    with pytest.raises(TypeError, match=r"^membrane must be array-like"):
        pn.lif_backward(_x(), bad, _x(), beta=0.9, backend="cpu")
    with pytest.raises(TypeError, match=r"^spikes must be array-like"):
        pn.lif_backward(_x(), _x(), bad, beta=0.9, backend="cpu")


def test_torch_dtype_and_contiguity_errors_still_name_x():
    with pytest.raises(TypeError, match=r"^x must be float32 \(or float64\), got dtype int64"):
        pn.lif(torch.ones(3, 2, 2, dtype=torch.int64), beta=0.9, backend="cpu")
    with pytest.raises(ValueError, match=r"^x must be C-contiguous"):
        pn.lif(torch.from_numpy(_x()).transpose(0, 1), beta=0.9, backend="cpu")
