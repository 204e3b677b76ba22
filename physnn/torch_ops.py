"""PyTorch interop: the LIF kernels as a ``torch.autograd.Function`` (needs the ``ref`` extra).

Tensors are handed to the kernels without copies: CPU tensors through ``Tensor.numpy()``,
CUDA tensors through ``__cuda_array_interface__``. Both the kernels and PyTorch use the
legacy default CUDA stream unless told otherwise, so their work is ordered.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from .spiking import lif, lif_backward
from .surrogate import Surrogate, get_surrogate

__all__ = ["lif_spikes"]


def _import_torch():
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError(
            "physnn.torch_ops needs PyTorch: install the reference extra, e.g. "
            "`pip install torch==2.13.0 'physnn[ref]'`"
        ) from exc
    return torch


def _to_kernel(t):
    t = t.detach().contiguous()
    return t if t.is_cuda else t.numpy()


def _to_torch(a, like):
    torch = _import_torch()
    if like.is_cuda:
        return torch.as_tensor(a, device=like.device)
    return torch.from_numpy(np.ascontiguousarray(a))


@functools.cache
def _lif_function():
    """The autograd Function, defined once (PyTorch is imported on first use only)."""
    torch = _import_torch()

    class _LIF(torch.autograd.Function):
        @staticmethod
        def forward(ctx, inp, cfg):
            beta, threshold, _, reset, convention, _ = cfg
            backend = "cuda" if inp.is_cuda else "cpu"
            spikes, _, mem = lif(_to_kernel(inp), beta=beta, threshold=threshold, reset=reset,
                                 convention=convention, backend=backend,
                                 spike_dtype=np.float32, record_membrane=True)
            s_t, m_t = _to_torch(spikes, inp), _to_torch(mem, inp)
            ctx.save_for_backward(m_t, s_t)
            ctx.backend, ctx.cfg = backend, cfg
            return s_t

        @staticmethod
        def backward(ctx, grad):
            beta, threshold, sg, reset, convention, detach_reset = ctx.cfg
            m_t, s_t = ctx.saved_tensors
            grad_x, _ = lif_backward(_to_kernel(grad), _to_kernel(m_t), _to_kernel(s_t),
                                     beta=beta, threshold=threshold, surrogate=sg, reset=reset,
                                     convention=convention, detach_reset=detach_reset,
                                     backend=ctx.backend)
            return _to_torch(grad_x, grad), None

    return _LIF


def lif_spikes(
    x: Any,
    *,
    beta: float,
    threshold: float = 1.0,
    surrogate: str | Surrogate = "atan",
    reset: str = "subtract",
    convention: str = "snntorch",
    detach_reset: bool = False,
) -> Any:
    r"""Differentiable LIF layer for PyTorch: float32 spikes ``(T, batch, *features)`` from
    input currents of the same shape, with the surrogate-gradient BPTT of
    :func:`physnn.lif_backward` as its backward pass.

    Parameters
    ----------
    x : torch.Tensor, float32, shape (T, batch, *features), on the CPU or a CUDA device
    beta, threshold, reset, convention, detach_reset
        As in :func:`physnn.lif` / :func:`physnn.lif_backward`.
    surrogate : str or Surrogate

    Returns
    -------
    torch.Tensor, float32, same shape and device as ``x``
    """
    torch = _import_torch()
    cfg = (beta, threshold, get_surrogate(surrogate), reset, convention, detach_reset)
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    return _lif_function().apply(x, cfg)
