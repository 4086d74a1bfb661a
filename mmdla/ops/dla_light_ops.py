"""PyTorch custom ops over the Triton kernels of the fused DLA-L step.

Each op is registered with :func:`torch.library.custom_op` and a
``register_fake`` implementation, so that the meta device, FakeTensor
tracing and ``torch.compile`` see it as one opaque kernel that reads its
inputs and writes its outputs (see :mod:`.dla_light_kernels` for the
mathematics, the layouts and the deterministic reductions). Shapes: ``x``,
``r``, ``grad`` are ``[N, C, H, W]`` (dense NCHW or channels_last, one
floating dtype); the per-sample depthwise kernels ``kx``, ``kr`` are
``[N, 9, C]`` fp32 (tap-major); every per-channel or per-sample factor is
fp32. With ``pre_activation`` the tensor passed as ``x`` is the block's
residual branch ``z`` and the block output is ``relu(z + r)``, formed
inside the kernels.

The rows of the small buffers (partial sums, coefficients, tap sums)
follow :mod:`.dla_light_layout`. This module registers the ops and nothing
else: their autograd formulas are the fused step's
(:mod:`.dla_light_step`). Each op imports the kernels when it first runs,
so that ``TRITON_INTERPRET`` set by then is honoured.
"""
from typing import Optional, Tuple

import torch
from torch import Tensor

from .dla_light_layout import COEF_ROWS, MEANS, SUMS, TAPS, tap_families
from .dla_light_tiles import grad_reduce_rows, output_sums_rows


def _fp32(x: Tensor, *shape: int) -> Tensor:
    return x.new_empty(shape, dtype=torch.float32)


@torch.library.custom_op('mmdla::dla_spatial_means', mutates_args=())
def spatial_means(x: Tensor, r: Tensor, pre_activation: bool) -> Tensor:
    """``[N, 2, C]``: the spatial means of ``x`` and ``r``."""
    from . import dla_light_kernels
    return dla_light_kernels.spatial_means(x, r, pre_activation)


@spatial_means.register_fake
def _(x: Tensor, r: Tensor, pre_activation: bool) -> Tensor:
    return _fp32(x, x.shape[0], MEANS, x.shape[1])


@torch.library.custom_op('mmdla::dla_output_sums', mutates_args=())
def output_sums(x: Tensor, r: Tensor, kx: Tensor, kr: Tensor,
                pre_activation: bool) -> Tensor:
    """Per-channel sums of ``o`` and ``o ** 2`` for ``o = DW_kx(x) +
    DW_kr(r)`` (the norm's batch statistics), as partial rows ``[R, 2, C]``
    that :func:`norm_coefficients` adds in a fixed order."""
    from . import dla_light_kernels
    return dla_light_kernels.output_sums(x, r, kx, kr, pre_activation)


@output_sums.register_fake
def _(x: Tensor, r: Tensor, kx: Tensor, kr: Tensor,
      pre_activation: bool) -> Tensor:
    return _fp32(x, output_sums_rows(x), SUMS, x.shape[1])


@torch.library.custom_op(
    'mmdla::dla_norm_coefficients',
    mutates_args=('running_mean', 'running_var'))
def norm_coefficients(sums: Optional[Tensor], weight: Optional[Tensor],
                      bias: Optional[Tensor], running_mean: Optional[Tensor],
                      running_var: Optional[Tensor], channels: int, count: int,
                      eps: float, momentum: float) -> Tensor:
    """``[COEF_ROWS, C]`` (:class:`~.dla_light_layout.NormCoefficients`):
    the norm's ``mean``,
    ``1 / std``, and the affine map ``alpha * o + shift`` it applies.

    From the partial sums of :func:`output_sums` over ``count`` values
    (updating the running statistics, if given, with ``momentum`` as
    :class:`torch.nn.BatchNorm2d` does), or with ``sums=None`` from the
    running statistics.
    """
    like = sums if sums is not None else running_mean
    out = like.new_empty((COEF_ROWS, channels), dtype=torch.float32)
    from . import dla_light_kernels
    dla_light_kernels.norm_coefficients(sums, weight, bias, running_mean,
                                        running_var, count, eps, momentum, out)
    return out


@norm_coefficients.register_fake
def _(sums: Optional[Tensor], weight: Optional[Tensor], bias: Optional[Tensor],
      running_mean: Optional[Tensor], running_var: Optional[Tensor],
      channels: int, count: int, eps: float, momentum: float) -> Tensor:
    like = sums if sums is not None else running_mean
    return like.new_empty((COEF_ROWS, channels), dtype=torch.float32)


@torch.library.custom_op('mmdla::dla_norm_grad_coefficients', mutates_args=())
def norm_grad_coefficients(grad_sums: Tensor, coefs: Tensor, count: int,
                           batch_stats: bool) -> Tensor:
    """``[COEF_ROWS, C]``
    (:class:`~.dla_light_layout.NormGradCoefficients`) from the partial sums
    ``[sum g', sum g' o]`` of :func:`grad_reduce` and the forward's
    :func:`norm_coefficients`."""
    out = torch.empty_like(coefs)
    from . import dla_light_kernels
    dla_light_kernels.norm_grad_coefficients(grad_sums, coefs, count,
                                             batch_stats, out)
    return out


@norm_grad_coefficients.register_fake
def _(grad_sums: Tensor, coefs: Tensor, count: int,
      batch_stats: bool) -> Tensor:
    return torch.empty_like(coefs)


@torch.library.custom_op('mmdla::dla_epilogue', mutates_args=())
def epilogue(x: Tensor, r: Tensor, kx: Tensor, kr: Tensor, alpha: Tensor,
             beta: Tensor, scale: Tensor, pre_activation: bool) -> Tensor:
    """``y = x + scale[n] * (alpha[c] * o + beta[c])``, in ``x``'s dtype
    and memory format; ``o = DW_kx(x) + DW_kr(r)`` is not stored."""
    y = torch.empty_like(x)
    from . import dla_light_kernels
    dla_light_kernels.epilogue(x, r, kx, kr, alpha, beta, scale,
                               pre_activation, y)
    return y


@epilogue.register_fake
def _(x: Tensor, r: Tensor, kx: Tensor, kr: Tensor, alpha: Tensor,
      beta: Tensor, scale: Tensor, pre_activation: bool) -> Tensor:
    return torch.empty_like(x)


@torch.library.custom_op('mmdla::dla_grad_reduce', mutates_args=())
def grad_reduce(grad: Tensor, x: Tensor, r: Tensor, kx: Tensor, kr: Tensor,
                scale: Tensor, batch_stats: bool,
                pre_activation: bool) -> Tuple[Tensor, Tensor, Tensor]:
    """The backward reduction pass, one partial row per tile and sample.

    With ``g' = scale[n] * grad``, returns ``o`` (under ``batch_stats``, in
    ``x``'s dtype and format, for :func:`input_grads`; else empty), the
    norm's partial sums ``[sum g', sum g' o]`` ``[R, 2, C]`` and the tap
    sums ``[R, F * 9, C]`` for :func:`kernel_grads`.
    """
    o = torch.empty_like(x) if batch_stats else x.new_empty(0)
    from . import dla_light_kernels
    sums, taps = dla_light_kernels.grad_reduce(grad, x, r, kx, kr, scale,
                                               batch_stats, pre_activation, o)
    return o, sums, taps


@grad_reduce.register_fake
def _(grad: Tensor, x: Tensor, r: Tensor, kx: Tensor, kr: Tensor,
      scale: Tensor, batch_stats: bool,
      pre_activation: bool) -> Tuple[Tensor, Tensor, Tensor]:
    rows, c = grad_reduce_rows(x), x.shape[1]
    o = torch.empty_like(x) if batch_stats else x.new_empty(0)
    return (o, _fp32(x, rows, SUMS,
                     c), _fp32(x, rows,
                               tap_families(batch_stats) * TAPS, c))


@torch.library.custom_op('mmdla::dla_kernel_grads', mutates_args=())
def kernel_grads(taps: Tensor, coefs: Tensor, grad_coefs: Optional[Tensor],
                 batch: int) -> Tuple[Tensor, Tensor]:
    """``dkx``, ``dkr`` ``[N, 9, C]`` for ``do = alpha[c] * g' (+ coef_1[c]
    + coef_o[c] * o)``, from the tap sums of :func:`grad_reduce` of a batch
    of ``N = batch`` (the terms in brackets given ``grad_coefs``, under
    batch statistics)."""
    c = coefs.shape[1]
    dkx, dkr = _fp32(taps, batch, TAPS, c), _fp32(taps, batch, TAPS, c)
    from . import dla_light_kernels
    dla_light_kernels.kernel_grads(taps, coefs, grad_coefs, batch, dkx, dkr)
    return dkx, dkr


@kernel_grads.register_fake
def _(taps: Tensor, coefs: Tensor, grad_coefs: Optional[Tensor],
      batch: int) -> Tuple[Tensor, Tensor]:
    c = coefs.shape[1]
    return _fp32(taps, batch, TAPS, c), _fp32(taps, batch, TAPS, c)


@torch.library.custom_op('mmdla::dla_input_grads', mutates_args=())
def input_grads(grad: Tensor, o: Optional[Tensor], x: Tensor, r: Tensor,
                scale: Tensor, coefs: Tensor, grad_coefs: Optional[Tensor],
                kx: Tensor, kr: Tensor, pooled_grad: Tensor,
                pre_activation: bool) -> Tuple[Tensor, Tensor]:
    """The gradients of ``x`` and ``r``, each written once::

        do = alpha[c] * scale[n] * grad (+ coef_1[c] + coef_o[c] * o)
        dx = grad + DW_kx^T(do) + pooled_grad[:, 0] / (H * W)
        dr = DW_kr^T(do) + pooled_grad[:, 1] / (H * W)

    (``o`` and ``grad_coefs`` under batch statistics). ``pooled_grad``
    ``[N, 2, C]`` holds the gradients of the spatial means. With
    ``pre_activation`` (``x`` is the residual branch ``z``), ``dx``
    continues through ``relu(z + r)`` to ``z`` and is added to ``dr``. Both
    are written in ``grad``'s dtype and ``x``'s memory format.
    """
    dx = torch.empty_like(x, dtype=grad.dtype)
    dr = torch.empty_like(x, dtype=grad.dtype)
    from . import dla_light_kernels
    dla_light_kernels.input_grads(grad, o, x, r, scale, coefs, grad_coefs, kx,
                                  kr, pooled_grad, pre_activation, dx, dr)
    return dx, dr


@input_grads.register_fake
def _(grad: Tensor, o: Optional[Tensor], x: Tensor, r: Tensor, scale: Tensor,
      coefs: Tensor, grad_coefs: Optional[Tensor], kx: Tensor, kr: Tensor,
      pooled_grad: Tensor, pre_activation: bool) -> Tuple[Tensor, Tensor]:
    return (torch.empty_like(x, dtype=grad.dtype),
            torch.empty_like(x, dtype=grad.dtype))
