"""The Conv2d data-movement kernels against their NumPy oracles (and col2im as the adjoint)."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from physnn.kernels import conv_cpu

CASES = [(1, 0, (5, 6)), (2, 1, (6, 5)), (1, 1, (4, 4)), (3, 2, (7, 9))]


def im2col_oracle(a, k, s, p):
    ap = np.pad(a, ((0, 0), (0, 0), (p, p), (p, p)))
    ho, wo = ((n + 2 * p - k) // s + 1 for n in a.shape[2:])
    win = sliding_window_view(ap, (k, k), axis=(2, 3))[:, :, ::s, ::s][:, :, :ho, :wo]
    return win.transpose(0, 2, 3, 1, 4, 5).reshape(a.shape[0] * ho * wo, -1), ho, wo


@pytest.mark.parametrize("s,p,hw", CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8])
def test_im2col_equals_the_numpy_oracle(s, p, hw, dtype):
    rng = np.random.default_rng(0)
    a = (rng.uniform(0, 3, size=(3, 2, *hw))).astype(dtype)
    want, ho, wo = im2col_oracle(a, 3, s, p)
    got = np.full(want.shape, np.nan, np.result_type(dtype, np.float32))
    conv_cpu.im2col(a, 3, s, p, ho, wo, got)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("s,p,hw", CASES)
def test_col2im_is_the_adjoint_of_im2col(s, p, hw):
    rng = np.random.default_rng(1)
    a = rng.normal(size=(2, 3, *hw))
    cols, ho, wo = im2col_oracle(a, 3, s, p)
    g = rng.normal(size=cols.shape)
    back = np.full(a.shape, np.nan)  # the kernel must zero it
    conv_cpu.col2im(g, 3, s, p, ho, wo, back)
    np.testing.assert_allclose(np.sum(cols * g), np.sum(a * back), rtol=1e-12)
    # oracle: scatter-add each column entry at the pixel it was read from
    ap = np.zeros((2, 3, hw[0] + 2 * p, hw[1] + 2 * p))
    g6 = g.reshape(2, ho, wo, 3, 3, 3)
    for u in range(3):
        for v in range(3):
            ap[:, :, u:u + s * (ho - 1) + 1:s, v:v + s * (wo - 1) + 1:s] += \
                g6[..., u, v].transpose(0, 3, 1, 2)
    np.testing.assert_allclose(back, ap[:, :, p:p + hw[0], p:p + hw[1]], rtol=1e-12)


def test_layout_transposes():
    rng = np.random.default_rng(2)
    z = rng.normal(size=(2 * 3 * 4, 5)).astype(np.float32)
    bias = rng.normal(size=5).astype(np.float32)
    out = np.empty((2, 5, 3, 4), np.float32)
    conv_cpu.rows_to_nchw(z, bias, out)
    np.testing.assert_array_equal(out, (z.reshape(2, 3, 4, 5) + bias).transpose(0, 3, 1, 2))
    rows = np.empty_like(z)
    conv_cpu.nchw_to_rows(out - bias[:, None, None], rows)
    np.testing.assert_allclose(rows, z, atol=1e-6)
