"""PyTorch custom ops over the Triton kernels of the fused DLA-L step.

Each op is one kernel launch (see :mod:`.dla_light_kernels` for the
mathematics) registered with :func:`torch.library.custom_op` and a
``register_fake`` implementation, so that the meta device, FakeTensor
tracing and ``torch.compile`` see it as one opaque kernel that reads its
inputs and writes its outputs. Shapes: ``x``, ``r``, ``grad`` are
``[N, C, H, W]`` (any dense memory format, one floating dtype), the
per-sample depthwise kernels ``kx``, ``kr`` are ``[N, C, 9]`` fp32, every
per-channel or per-sample factor is fp32. With ``pre_activation`` the
tensor passed as ``x`` is the block's residual branch ``z`` and the block
output is ``relu(z + r)``, formed inside the kernels.
"""
import importlib
from typing import Optional, Tuple

import torch
from torch import Tensor


KERNELS_MODULE = 'mmdla.ops.dla_light_kernels'


def _kernels():
    """The Triton kernels, imported on first use (so that
    ``TRITON_INTERPRET`` set by then is honoured)."""
    return importlib.import_module(KERNELS_MODULE)


def _full_size(like: Tensor, channels_last: bool) -> Tensor:
    memory_format = (
        torch.channels_last if channels_last else torch.contiguous_format)
    return torch.empty(
        like.shape,
        dtype=like.dtype,
        device=like.device,
        memory_format=memory_format)


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
    """``[2, C]``: per-channel sums of ``o`` and ``o ** 2`` for
    ``o = DW_kx(x) + DW_kr(r)`` (the norm's batch statistics)."""
    return _kernels().output_sums(x, r, kx, kr, pre_activation)


@output_sums.register_fake
def _(x: Tensor, r: Tensor, kx: Tensor, kr: Tensor,
      pre_activation: bool) -> Tensor:
    return _fp32(x, 2, x.shape[1])


@torch.library.custom_op(
    'mmdla::dla_norm_coefficients',
    mutates_args=('running_mean', 'running_var'))
def norm_coefficients(sums: Optional[Tensor], weight: Optional[Tensor],
                      bias: Optional[Tensor], running_mean: Optional[Tensor],
                      running_var: Optional[Tensor], channels: int, count: int,
                      eps: float, momentum: float) -> Tensor:
    """``[4, C]``: the norm's ``mean``, ``1 / std``, and the affine map
    ``alpha * o + shift`` it applies.

    From the batch's :func:`output_sums` over ``count`` values (updating
    the running statistics, if given, with ``momentum`` as
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
    """``[4, C]``: the gradients of the norm's weight and bias and, with
    ``batch_stats``, ``coef_1`` and ``coef_o`` of the gradient of ``o``
    (see :func:`kernel_grads_from_taps`), from the sums
    ``[sum g', sum g' o]`` of the backward reduction and the forward's
    :func:`norm_coefficients`."""
    out = torch.zeros_like(coefs)
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
                scale: Tensor,
                pre_activation: bool) -> Tuple[Tensor, Tensor, Tensor]:
    """The backward reduction pass under batch statistics.

    With ``g' = scale[n] * grad``, returns ``o`` (in ``x``'s dtype and
    format, for :func:`input_grads`), the norm's per-channel sums
    ``[sum g', sum g' o]`` ``[2, C]`` and per-sample tap sums
    ``[N, C, 54]`` (for :func:`kernel_grads_from_taps`).
    """
    o = torch.empty_like(x)
    sums, taps = _kernels().grad_reduce(grad, x, r, kx, kr, scale,
                                        pre_activation, o)
    return o, sums, taps


@grad_reduce.register_fake
def _(grad: Tensor, x: Tensor, r: Tensor, kx: Tensor, kr: Tensor,
      scale: Tensor, pre_activation: bool) -> Tuple[Tensor, Tensor, Tensor]:
    n, c = x.shape[:2]
    return torch.empty_like(x), _fp32(x, 2, c), _fp32(x, n, c, 54)


@torch.library.custom_op('mmdla::dla_kernel_grads_from_taps', mutates_args=())
def kernel_grads_from_taps(taps: Tensor, coef_g: Tensor, coef_1: Tensor,
                           coef_o: Tensor) -> Tuple[Tensor, Tensor]:
    """``dkx``, ``dkr`` ``[N, C, 9]`` for the gradient of ``o``
    ``do = coef_g[c] * g' + coef_1[c] + coef_o[c] * o``, from the tap sums
    of :func:`grad_reduce`."""
    n, c = taps.shape[:2]
    dkx, dkr = _fp32(taps, n, c, 9), _fp32(taps, n, c, 9)
    _kernels().kernel_grads_from_taps(taps, coef_g, coef_1, coef_o, dkx, dkr)
    return dkx, dkr


@kernel_grads_from_taps.register_fake
def _(taps: Tensor, coef_g: Tensor, coef_1: Tensor,
      coef_o: Tensor) -> Tuple[Tensor, Tensor]:
    n, c = taps.shape[:2]
    return _fp32(taps, n, c, 9), _fp32(taps, n, c, 9)


@torch.library.custom_op('mmdla::dla_kernel_grads', mutates_args=())
def kernel_grads(grad: Tensor, x: Tensor, r: Tensor, kx: Tensor, kr: Tensor,
                 scale: Tensor, coef_g: Tensor, sum_affine: bool,
                 pre_activation: bool) -> Tuple[Tensor, Tensor, Tensor]:
    """The backward reduction pass of an affine norm.

    For the gradient of ``o`` ``do = coef_g[c] * scale[n] * grad``,
    returns ``dkx``, ``dkr`` ``[N, C, 9]`` and, with ``sum_affine``, the
    norm's sums ``[sum g', sum g' o]`` ``[2, C]`` (else zeros).
    """
    return _kernels().kernel_grads(grad, x, r, kx, kr, scale, coef_g,
                                   sum_affine, pre_activation)


@kernel_grads.register_fake
def _(grad: Tensor, x: Tensor, r: Tensor, kx: Tensor, kr: Tensor,
      scale: Tensor, coef_g: Tensor, sum_affine: bool,
      pre_activation: bool) -> Tuple[Tensor, Tensor, Tensor]:
    return (torch.empty_like(kx), torch.empty_like(kr),
            _fp32(x, 2, x.shape[1]))


@torch.library.custom_op('mmdla::dla_input_grads', mutates_args=())
def input_grads(grad: Tensor, o: Optional[Tensor], scale: Tensor,
                coef_g: Tensor, coef_1: Optional[Tensor],
                coef_o: Optional[Tensor], kx: Tensor, kr: Tensor,
                pooled_grad: Tensor, x: Optional[Tensor], r: Optional[Tensor],
                channels_last: bool) -> Tuple[Tensor, Tensor]:
    """The gradients of ``x`` and ``r``, each written once::

        do = coef_g[c] * scale[n] * grad (+ coef_1[c] + coef_o[c] * o)
        dx = grad + DW_kx^T(do) + pooled_grad[:, 0] / (H * W)
        dr = DW_kr^T(do) + pooled_grad[:, 1] / (H * W)

    (``o``, ``coef_1``, ``coef_o`` under batch statistics). ``pooled_grad``
    ``[N, 2, C]`` holds the gradients of the spatial means. Given the
    residual branch ``x`` (``z``) and ``r`` (pre-activation), ``dx``
    continues through ``relu(z + r)`` to ``z`` and is added to ``dr``. Both
    are written in ``grad``'s dtype, in channels_last or contiguous memory
    format.
    """
    dx = _full_size(grad, channels_last)
    dr = _full_size(grad, channels_last)
    _kernels().input_grads(grad, o, scale, coef_g, coef_1, coef_o, kx, kr,
                           pooled_grad, x, r, dx, dr)
    return dx, dr


@input_grads.register_fake
def _(grad: Tensor, o: Optional[Tensor], scale: Tensor, coef_g: Tensor,
      coef_1: Optional[Tensor], coef_o: Optional[Tensor], kx: Tensor,
      kr: Tensor, pooled_grad: Tensor, x: Optional[Tensor],
      r: Optional[Tensor], channels_last: bool) -> Tuple[Tensor, Tensor]:
    return _full_size(grad, channels_last), _full_size(grad, channels_last)


def _epilogue_setup_context(ctx, inputs, output) -> None:
    x, r, kx, kr, alpha, beta, scale, pre_activation = inputs
    ctx.save_for_backward(x, r, kx, kr, alpha, scale)
    ctx.pre_activation = pre_activation
    ctx.channels_last = not x.is_contiguous()


def _epilogue_backward(ctx, grad: Tensor):
    """Gradients of :func:`epilogue` by its own kernels: one reduction pass
    (kernels, ``alpha``, ``beta``), one write pass (``x``, ``r``)."""
    x, r, kx, kr, alpha, scale = ctx.saved_tensors
    pre_act = ctx.pre_activation
    dkx, dkr, sums = kernel_grads(grad, x, r, kx, kr, scale, alpha, True,
                                  pre_act)
    pooled_grad = alpha.new_zeros(x.shape[0], 2, x.shape[1])
    dx, dr = input_grads(grad, None, scale, alpha, None, None, kx, kr,
                         pooled_grad, x if pre_act else None,
                         r if pre_act else None, ctx.channels_last)
    return dx, dr, dkx, dkr, sums[1], sums[0], None, None


epilogue.register_autograd(
    _epilogue_backward, setup_context=_epilogue_setup_context)
