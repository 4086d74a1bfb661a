"""PyTorch custom ops over the Triton kernels of the ``[N, C]`` part of the
fused DLA-L step (see :mod:`.dla_light_gate_kernels` for the mathematics).

Each op and its backward is one custom op with a fake implementation, so
that the meta device and ``torch.compile`` see one kernel each way. Every
tensor is fp32 and contiguous along its last dimension. This module
registers the ops and nothing else: the autograd formulas that pair each op
with its backward are the fused step's (:mod:`.dla_light_step`). Each op
imports the kernels when it first runs, so that ``TRITON_INTERPRET`` set by
then is honoured.
"""
from typing import Optional, Tuple

import torch
from torch import Tensor

from .dla_light_layout import TAPS


@torch.library.custom_op('mmdla::dsu_combine', mutates_args=())
def dsu_combine(x_proj: Tensor, row: int, h_proj: Tensor,
                c: Tensor) -> Tuple[Tensor, Tensor]:
    """The element-wise step of the Dynamic Sharing Unit: new ``(h, c)``
    ``[N, C]`` from the input projection ``x_proj[:, row]`` (of ``x_proj``
    ``[N, R, 3C]``, the projections of ``R`` inputs), the hidden projection
    ``[N, 3C]`` and the cell state ``c`` ``[N, C]``."""
    h_new, c_new = torch.empty_like(c), torch.empty_like(c)
    from . import dla_light_gate_kernels
    dla_light_gate_kernels.dsu_combine(x_proj.contiguous(), row,
                                       h_proj.contiguous(), c.contiguous(),
                                       h_new, c_new)
    return h_new, c_new


@dsu_combine.register_fake
def _(x_proj: Tensor, row: int, h_proj: Tensor,
      c: Tensor) -> Tuple[Tensor, Tensor]:
    return torch.empty_like(c), torch.empty_like(c)


@torch.library.custom_op('mmdla::dsu_combine_backward', mutates_args=())
def dsu_combine_backward(
        x_proj: Tensor, row: int, h_proj: Tensor, c: Tensor,
        grad_h: Optional[Tensor],
        grad_c: Optional[Tensor]) -> Tuple[Tensor, Tensor, Tensor]:
    """The gradients of :func:`dsu_combine` (``None``: a zero output
    gradient): of ``x_proj`` (zero but in row ``row``), ``h_proj`` and
    ``c``."""
    grad_x_proj = torch.empty_like(
        x_proj, memory_format=torch.contiguous_format)
    grad_h_proj = torch.empty_like(
        h_proj, memory_format=torch.contiguous_format)
    grad_c_prev = torch.empty_like(c)
    from . import dla_light_gate_kernels
    dla_light_gate_kernels.dsu_combine_backward(
        x_proj.contiguous(), row, h_proj.contiguous(), c.contiguous(),
        None if grad_h is None else grad_h.contiguous(),
        None if grad_c is None else grad_c.contiguous(), grad_x_proj,
        grad_h_proj, grad_c_prev)
    return grad_x_proj, grad_h_proj, grad_c_prev


@dsu_combine_backward.register_fake
def _(x_proj: Tensor, row: int, h_proj: Tensor, c: Tensor,
      grad_h: Optional[Tensor],
      grad_c: Optional[Tensor]) -> Tuple[Tensor, Tensor, Tensor]:
    return (torch.empty_like(x_proj, memory_format=torch.contiguous_format),
            torch.empty_like(h_proj, memory_format=torch.contiguous_format),
            torch.empty_like(c))


@torch.library.custom_op('mmdla::dla_gate_kernels', mutates_args=())
def gate_kernels(pooled: Tensor, gate_d: Tensor, q_kernel: Tensor,
                 k_kernel: Tensor, value: Tensor, update: Tensor, lam: Tensor,
                 head_dim: int) -> Tuple[Tensor, Tensor, Tensor]:
    """DLA-L's gates folded into the two depthwise kernels.

    Args:
        pooled (Tensor): ``GAP(x)`` in row 0 of ``[N, R, C]`` (e.g. the
            stacked means of ``x`` and ``r``).
        gate_d (Tensor): The update gate ``d``, ``[N, C]``.
        q_kernel, k_kernel (Tensor): MRLA-light's query and key kernels
            ``[K]`` (1-D over the channels).
        value, update (Tensor): The depthwise kernels ``[C, 1, 3, 3]``.
        lam (Tensor): ``lambda_t``, ``[C, 1, 1]``.
        head_dim (int): Channels per head (a power of 2 dividing ``C``).

    Returns:
        tuple[Tensor, Tensor, Tensor]: ``kx``, ``kr`` ``[N, 9, C]`` and the
        head gates ``a`` per channel ``[N, C]`` (for the backward pass).
    """
    n, _, c = pooled.shape
    kx, kr = pooled.new_empty(n, TAPS, c), pooled.new_empty(n, TAPS, c)
    a = pooled.new_empty(n, c)
    from . import dla_light_gate_kernels
    dla_light_gate_kernels.gate_kernels(pooled.contiguous(),
                                        gate_d.contiguous(),
                                        q_kernel.contiguous(),
                                        k_kernel.contiguous(),
                                        value.contiguous(),
                                        update.contiguous(), lam.contiguous(),
                                        head_dim, kx, kr, a)
    return kx, kr, a


@gate_kernels.register_fake
def _(pooled: Tensor, gate_d: Tensor, q_kernel: Tensor, k_kernel: Tensor,
      value: Tensor, update: Tensor, lam: Tensor,
      head_dim: int) -> Tuple[Tensor, Tensor, Tensor]:
    n, _, c = pooled.shape
    return (pooled.new_empty(n, TAPS,
                             c), pooled.new_empty(n, TAPS,
                                                  c), pooled.new_empty(n, c))


@torch.library.custom_op('mmdla::dla_gate_kernels_backward', mutates_args=())
def gate_kernels_backward(
    pooled: Tensor, gate_d: Tensor, q_kernel: Tensor, k_kernel: Tensor,
    value: Tensor, update: Tensor, lam: Tensor, a: Tensor, grad_kx: Tensor,
    grad_kr: Tensor, head_dim: int
) -> Tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    """The gradients of :func:`gate_kernels` with respect to ``pooled``,
    ``gate_d``, ``q_kernel``, ``k_kernel``, ``value``, ``update`` and
    ``lam``."""
    grads = tuple(
        torch.empty_like(t)
        for t in (pooled, gate_d, q_kernel, k_kernel, value, update, lam))
    from . import dla_light_gate_kernels
    dla_light_gate_kernels.gate_kernels_backward(pooled.contiguous(),
                                                 gate_d.contiguous(),
                                                 q_kernel.contiguous(),
                                                 k_kernel.contiguous(),
                                                 value.contiguous(),
                                                 update.contiguous(),
                                                 lam.contiguous(), a,
                                                 grad_kx.contiguous(),
                                                 grad_kr.contiguous(),
                                                 head_dim, grads)
    return grads


@gate_kernels_backward.register_fake
def _(
    pooled: Tensor, gate_d: Tensor, q_kernel: Tensor, k_kernel: Tensor,
    value: Tensor, update: Tensor, lam: Tensor, a: Tensor, grad_kx: Tensor,
    grad_kr: Tensor, head_dim: int
) -> Tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    return tuple(
        torch.empty_like(t)
        for t in (pooled, gate_d, q_kernel, k_kernel, value, update, lam))
