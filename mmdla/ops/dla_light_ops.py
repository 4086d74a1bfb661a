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

The packed ``[4, C]`` coefficients are read through
:func:`norm_coefficient_rows` and :func:`norm_grad_coefficient_rows`.
"""
import importlib
from typing import NamedTuple, Optional, Tuple

import torch
from torch import Tensor

from .dla_light_tiles import (TAPS, grad_reduce_rows, in_layout_of,
                              output_sums_rows, tap_families)

KERNELS_MODULE = 'mmdla.ops.dla_light_kernels'


def _kernels():
    """The Triton kernels, imported on first use (so that
    ``TRITON_INTERPRET`` set by then is honoured)."""
    return importlib.import_module(KERNELS_MODULE)


class NormCoefficients(NamedTuple):
    """The rows of :func:`norm_coefficients`, each ``[C]`` fp32: the norm
    maps ``o`` to ``alpha * o + shift``."""
    mean: Tensor
    inv_std: Tensor
    alpha: Tensor
    shift: Tensor


class NormGradCoefficients(NamedTuple):
    """The rows of :func:`norm_grad_coefficients`, each ``[C]`` fp32: the
    gradients of the norm's weight and bias, and (under batch statistics)
    ``coef_1``, ``coef_o`` of ``do = alpha * g' + coef_1 + coef_o * o``."""
    weight: Tensor
    bias: Tensor
    coef_1: Tensor
    coef_o: Tensor


def norm_coefficient_rows(coefs: Tensor) -> NormCoefficients:
    return NormCoefficients(*coefs.unbind(0))


def norm_grad_coefficient_rows(grad_coefs: Tensor) -> NormGradCoefficients:
    return NormGradCoefficients(*grad_coefs.unbind(0))


def _fp32(x: Tensor, *shape: int) -> Tensor:
    return x.new_empty(shape, dtype=torch.float32)


@torch.library.custom_op('mmdla::dla_spatial_means', mutates_args=())
def spatial_means(x: Tensor, r: Tensor, pre_activation: bool) -> Tensor:
    """``[N, 2, C]``: the spatial means of ``x`` and ``r``."""
    return _kernels().spatial_means(x, r, pre_activation)


@spatial_means.register_fake
def _(x: Tensor, r: Tensor, pre_activation: bool) -> Tensor:
    return _fp32(x, x.shape[0], 2, x.shape[1])


@torch.library.custom_op('mmdla::dla_output_sums', mutates_args=())
def output_sums(x: Tensor, r: Tensor, kx: Tensor, kr: Tensor,
                pre_activation: bool) -> Tensor:
    """Per-channel sums of ``o`` and ``o ** 2`` for ``o = DW_kx(x) +
    DW_kr(r)`` (the norm's batch statistics), as partial rows ``[R, 2, C]``
    that :func:`norm_coefficients` adds in a fixed order."""
    return _kernels().output_sums(x, r, kx, kr, pre_activation)


@output_sums.register_fake
def _(x: Tensor, r: Tensor, kx: Tensor, kr: Tensor,
      pre_activation: bool) -> Tensor:
    return _fp32(x, output_sums_rows(x), 2, x.shape[1])


@torch.library.custom_op(
    'mmdla::dla_norm_coefficients',
    mutates_args=('running_mean', 'running_var'))
def norm_coefficients(sums: Optional[Tensor], weight: Optional[Tensor],
                      bias: Optional[Tensor], running_mean: Optional[Tensor],
                      running_var: Optional[Tensor], channels: int, count: int,
                      eps: float, momentum: float) -> Tensor:
    """``[4, C]`` (:class:`NormCoefficients`): the norm's ``mean``,
    ``1 / std``, and the affine map ``alpha * o + shift`` it applies.

    From the partial sums of :func:`output_sums` over ``count`` values
    (updating the running statistics, if given, with ``momentum`` as
    :class:`torch.nn.BatchNorm2d` does), or with ``sums=None`` from the
    running statistics.
    """
    like = sums if sums is not None else running_mean
    out = like.new_empty((4, channels), dtype=torch.float32)
    _kernels().norm_coefficients(sums, weight, bias, running_mean, running_var,
                                 count, eps, momentum, out)
    return out


@norm_coefficients.register_fake
def _(sums: Optional[Tensor], weight: Optional[Tensor], bias: Optional[Tensor],
      running_mean: Optional[Tensor], running_var: Optional[Tensor],
      channels: int, count: int, eps: float, momentum: float) -> Tensor:
    like = sums if sums is not None else running_mean
    return like.new_empty((4, channels), dtype=torch.float32)


@torch.library.custom_op('mmdla::dla_norm_grad_coefficients', mutates_args=())
def norm_grad_coefficients(grad_sums: Tensor, coefs: Tensor, count: int,
                           batch_stats: bool) -> Tensor:
    """``[4, C]`` (:class:`NormGradCoefficients`) from the partial sums
    ``[sum g', sum g' o]`` of :func:`grad_reduce` and the forward's
    :func:`norm_coefficients`."""
    out = torch.empty_like(coefs)
    _kernels().norm_grad_coefficients(grad_sums, coefs, count, batch_stats,
                                      out)
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
    _kernels().epilogue(x, r, kx, kr, alpha, beta, scale, pre_activation, y)
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
    sums, taps = _kernels().grad_reduce(grad, x, r, kx, kr, scale,
                                        batch_stats, pre_activation, o)
    return o, sums, taps


@grad_reduce.register_fake
def _(grad: Tensor, x: Tensor, r: Tensor, kx: Tensor, kr: Tensor,
      scale: Tensor, batch_stats: bool,
      pre_activation: bool) -> Tuple[Tensor, Tensor, Tensor]:
    rows, c = grad_reduce_rows(x), x.shape[1]
    o = torch.empty_like(x) if batch_stats else x.new_empty(0)
    return (o, _fp32(x, rows, 2, c),
            _fp32(x, rows, tap_families(batch_stats) * TAPS, c))


@torch.library.custom_op('mmdla::dla_kernel_grads', mutates_args=())
def kernel_grads(taps: Tensor, coefs: Tensor, grad_coefs: Optional[Tensor],
                 batch: int) -> Tuple[Tensor, Tensor]:
    """``dkx``, ``dkr`` ``[N, 9, C]`` for ``do = alpha[c] * g' (+ coef_1[c]
    + coef_o[c] * o)``, from the tap sums of :func:`grad_reduce` of a batch
    of ``N = batch`` (the terms in brackets given ``grad_coefs``, under
    batch statistics)."""
    c = coefs.shape[1]
    dkx, dkr = _fp32(taps, batch, TAPS, c), _fp32(taps, batch, TAPS, c)
    _kernels().kernel_grads(taps, coefs, grad_coefs, batch, dkx, dkr)
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
    _kernels().input_grads(grad, o, x, r, scale, coefs, grad_coefs, kx, kr,
                           pooled_grad, pre_activation, dx, dr)
    return dx, dr


@input_grads.register_fake
def _(grad: Tensor, o: Optional[Tensor], x: Tensor, r: Tensor, scale: Tensor,
      coefs: Tensor, grad_coefs: Optional[Tensor], kx: Tensor, kr: Tensor,
      pooled_grad: Tensor, pre_activation: bool) -> Tuple[Tensor, Tensor]:
    return (torch.empty_like(x, dtype=grad.dtype),
            torch.empty_like(x, dtype=grad.dtype))


def _epilogue_setup_context(ctx, inputs, output) -> None:
    x, r, kx, kr, alpha, beta, scale, pre_activation = inputs
    ctx.save_for_backward(x, r, kx, kr, alpha, scale)
    ctx.pre_activation = pre_activation


def _epilogue_backward(ctx, grad: Tensor):
    """Gradients of :func:`epilogue` by its own kernels: one reduction pass
    (kernels, ``alpha``, ``beta``), one write pass (``x``, ``r``)."""
    x, r, kx, kr, alpha, scale = ctx.saved_tensors
    pre_act = ctx.pre_activation
    grad = in_layout_of(grad, x)  # once for the two passes that read it
    # the coefficients of an affine map: only the ``alpha`` row is read
    coefs = torch.stack((alpha, alpha, alpha, alpha))
    _, sums, taps = grad_reduce(grad, x, r, kx, kr, scale, False, pre_act)
    dkx, dkr = kernel_grads(taps, coefs, None, x.shape[0])
    sum_g, sum_go = sums.sum(0)
    pooled_grad = alpha.new_zeros(x.shape[0], 2, x.shape[1])
    dx, dr = input_grads(grad, None, x, r, scale, coefs, None, kx, kr,
                         pooled_grad, pre_act)
    return dx, dr, dkx, dkr, sum_go, sum_g, None, None


epilogue.register_autograd(
    _epilogue_backward, setup_context=_epilogue_setup_context)


def _spatial_means_setup_context(ctx, inputs, output) -> None:
    x, r, pre_activation = inputs
    ctx.shape, ctx.dtype, ctx.pre_activation = x.shape, x.dtype, pre_activation


def _spatial_means_backward(ctx, grad: Tensor):
    """The means' gradients as broadcast views (no full-size tensor is
    written; autograd or Inductor adds them where they meet others)."""
    if ctx.pre_activation:
        raise NotImplementedError(
            'the spatial means of relu(z + r) have no autograd formula; '
            'fused_light_step differentiates them itself.')
    h, w = ctx.shape[-2:]
    grad = (grad / (h * w)).to(ctx.dtype)[..., None, None]
    return grad[:, 0].expand(ctx.shape), grad[:, 1].expand(ctx.shape), None


spatial_means.register_autograd(
    _spatial_means_backward, setup_context=_spatial_means_setup_context)


@torch.library.custom_op('mmdla::dla_norm_epilogue', mutates_args=())
def norm_epilogue(x: Tensor, r: Tensor, kx: Tensor, kr: Tensor, scale: Tensor,
                  statistics: Tensor, weight: Optional[Tensor],
                  bias: Optional[Tensor],
                  batch_stats: bool) -> Tuple[Tensor, Tensor]:
    """``y = x + scale[n] * BN(o)`` with ``o = DW_kx(x) + DW_kr(r)`` and the
    norm's coefficients ``[4, C]``, as one op with its own autograd formula,
    for graphs that ``torch.compile`` traces (see
    :func:`mmdla.ops.fused_light_step`).

    ``statistics`` are :func:`norm_coefficients` without the affine map
    (rows ``mean``, ``inv_std``): of the batch with ``batch_stats`` (and
    the gradient then flows through them), else the running statistics.
    """
    mean, inv_std = norm_coefficient_rows(statistics)[:2]
    alpha = inv_std if weight is None else inv_std * weight.float()
    shift = -mean * alpha
    if bias is not None:
        shift = shift + bias.float()
    coefs = torch.stack((mean, inv_std, alpha, shift))
    return epilogue(x, r, kx, kr, alpha, shift, scale, False), coefs


@norm_epilogue.register_fake
def _(x: Tensor, r: Tensor, kx: Tensor, kr: Tensor, scale: Tensor,
      statistics: Tensor, weight: Optional[Tensor], bias: Optional[Tensor],
      batch_stats: bool) -> Tuple[Tensor, Tensor]:
    return torch.empty_like(x), torch.empty_like(statistics)


def _norm_epilogue_setup_context(ctx, inputs, output) -> None:
    x, r, kx, kr, scale, _, weight, bias, batch_stats = inputs
    ctx.save_for_backward(x, r, kx, kr, scale, output[1])
    ctx.batch_stats = batch_stats
    ctx.param_dtypes = (None if weight is None else weight.dtype,
                        None if bias is None else bias.dtype)
    ctx.set_materialize_grads(False)


def _norm_epilogue_backward(ctx, grad_y: Optional[Tensor],
                            grad_coefs: Optional[Tensor]):
    """The backward kernels of the fused step, without the means' gradients
    (they reach ``x`` and ``r`` through :func:`spatial_means`)."""
    x, r, kx, kr, scale, coefs = ctx.saved_tensors
    n, c, h, w = x.shape
    batch_stats = ctx.batch_stats
    grad_y = in_layout_of(grad_y, x)  # once for the two passes
    o, sums, taps = grad_reduce(grad_y, x, r, kx, kr, scale, batch_stats,
                                False)
    grad_norm = norm_grad_coefficients(sums, coefs, n * h * w, batch_stats)
    batch_coefs = grad_norm if batch_stats else None
    dkx, dkr = kernel_grads(taps, coefs, batch_coefs, n)
    dx, dr = input_grads(grad_y, o if batch_stats else None, x, r, scale,
                         coefs, batch_coefs, kx, kr,
                         x.new_zeros((n, 2, c), dtype=torch.float32), False)
    rows = norm_grad_coefficient_rows(grad_norm)
    weight_dtype, bias_dtype = ctx.param_dtypes
    return (dx, dr, dkx, dkr, None, None,
            None if weight_dtype is None else rows.weight.to(weight_dtype),
            None if bias_dtype is None else rows.bias.to(bias_dtype), None)


norm_epilogue.register_autograd(
    _norm_epilogue_backward, setup_context=_norm_epilogue_setup_context)
