"""The fused DLA-L block step: one autograd function per block.

Given a block's output ``x`` and shortcut ``r`` (``[N, C, H, W]``), the
step computes::

    pooled = stack(mean_hw(x), mean_hw(r))                 # [N, 2, C] fp32
    kx, kr, *state' = kernels_fn(pooled, *state)           # tiny, fp32
    o = DW_kx(x) + DW_kr(r)              # per-sample depthwise 3x3 kernels
    y = x + s[n] * BN(o)                 # s: the DropPath scale

``kernels_fn`` is the dense ``[N, C]`` part (context cell, head gates,
folding the gates into the two 3x3 kernels); it runs under autograd inside
the function, as PyTorch ops or (DLA-L with the DSU) mostly as the fused
ops of :mod:`.dla_light_gate_ops`. The full-size parts are the custom ops of
:mod:`.dla_light_ops`: forward reads ``x`` and ``r`` for the means, (in
training) for the norm's batch statistics, and once more to write ``y``;
``o`` and ``y`` are not saved. Backward runs one reduction pass for the
norm's and the kernels' gradients (under batch statistics it also writes
``o``, a temporary), then autograd over the tiny graph for the gradients of
the means, the state and the parameters, then one pass that writes the
gradients of ``x`` and ``r``, each once (the residual, the two convolutions
and the means' broadcasts together). Under ``torch.compile`` the step takes
a traceable form instead (:func:`_traceable_light_step`).
"""
import functools
import os
from typing import Callable, NamedTuple, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from torch import Tensor
from torch.autograd.function import once_differentiable

from .dla_light_ops import (epilogue, grad_reduce, input_grads, kernel_grads,
                            norm_coefficient_rows, norm_coefficients,
                            norm_epilogue, norm_grad_coefficient_rows,
                            norm_grad_coefficients, output_sums,
                            spatial_means)
from .dla_light_tiles import TAPS, in_layout_of

KernelsFn = Callable[..., Sequence[Tensor]]
FUSED_DTYPES = (torch.float32, torch.float16, torch.bfloat16)
FUSED_MODES = ('auto', True, False)


def _triton_available() -> bool:
    try:
        import triton  # noqa: F401
    except ImportError:
        return False
    return True


def fused_step_supported(x: Tensor, r: Tensor, norm: nn.Module) -> bool:
    """Whether the fused step covers these inputs and this norm.

    Covered: 4-D ``x`` and ``r`` of one shape and one dtype (fp32, fp16,
    bf16), each contiguous in NCHW or channels_last, and a plain
    :class:`torch.nn.BatchNorm2d` (synchronised, group or other norms take
    the PyTorch path).
    """

    def dense(t: Tensor) -> bool:
        return t.is_contiguous() or t.is_contiguous(
            memory_format=torch.channels_last)

    return (type(norm) is nn.BatchNorm2d and x.dim() == 4
            and x.shape == r.shape and x.dtype == r.dtype
            and x.dtype in FUSED_DTYPES and dense(x) and dense(r))


# Device types on which ``fused='auto'`` takes the fused step: those where
# a measurement showed it faster than the PyTorch path. On an H200 (torch
# 2.11, Triton 3.6, 2026-12-04) it trained DLA-L ResNet-50 at 0.195x of
# ResNet-50 against 0.27x for the PyTorch path, so none yet; the next GPU
# measurement (tools/analysis_tools/benchmark_backbone.py --fused
# auto,true,false) decides. The meta device traces what CUDA would run.
AUTO_FUSED_DEVICES: Tuple[str, ...] = ()


def use_fused_step(fused, x: Tensor, r: Tensor, norm: nn.Module) -> bool:
    """Resolve a module's ``fused`` option for one call.

    ``True`` takes the fused step on any device (CUDA, or CPU tensors under
    ``TRITON_INTERPRET=1``), ``False`` never, ``'auto'`` where it was
    measured faster than the PyTorch path (:data:`AUTO_FUSED_DEVICES`; the
    ``meta`` device follows CUDA). Either needs
    :func:`fused_step_supported`. While ``torch.compile`` traces, only
    ``True`` takes it (in its traceable form, see
    :func:`fused_light_step`; not with a cumulative-average norm,
    ``momentum=None``): ``'auto'`` keeps the PyTorch path, which Inductor
    fuses itself, until a GPU measurement compares the two.
    """
    if fused not in FUSED_MODES:
        raise ValueError(f"fused must be one of {FUSED_MODES}, got {fused!r}.")
    if fused is False or not fused_step_supported(x, r, norm):
        return False
    if torch.compiler.is_compiling():
        return fused is True and norm.momentum is not None
    if fused is True:
        return True
    device = 'cuda' if x.device.type == 'meta' else x.device.type
    return device in AUTO_FUSED_DEVICES and (device != 'cuda'
                                             or _triton_available())


@functools.lru_cache(maxsize=64)
def _ones(n: int, device: torch.device) -> Tensor:
    """A read-only ``[n]`` fp32 tensor of ones (the scale of a step without
    DropPath), made once per size and device."""
    return torch.ones(n, device=device)


def _running_stats_momentum(norm: nn.BatchNorm2d) -> Optional[float]:
    """Count the step as :class:`torch.nn.BatchNorm2d` does and return the
    momentum of its running statistics' update (None: no update)."""
    if not (norm.training and norm.track_running_stats):
        return None
    norm.num_batches_tracked.add_(1)
    if norm.momentum is None:  # cumulative moving average
        return 1.0 / float(norm.num_batches_tracked)
    return norm.momentum


def _tap_major_kernels(k: Tensor, n: int, c: int) -> Tensor:
    """``[N or 1, C, 3, 3]`` -> contiguous fp32 ``[N, 9, C]`` (the layout
    of the kernels' taps in :mod:`.dla_light_ops`); tap-major kernels pass
    unchanged."""
    if k.dim() == 3:
        return k
    return k.float().reshape(-1, c, TAPS).transpose(1, 2).expand(
        n, TAPS, c).contiguous()


class _StepSpec(NamedTuple):
    """What :class:`_FusedLightStep` needs besides its tensors."""
    kernels_fn: KernelsFn
    norm: nn.BatchNorm2d
    num_state: int
    build_graph: bool
    pre_activation: bool


# The tensors of ``_FusedLightStep.apply(spec, *TENSOR_ARGS, *state,
# *params)``, named for ``ctx.needs_input_grad``.
TENSOR_ARGS = ('x', 'r', 'scale', 'weight', 'bias')


class _FusedLightStep(torch.autograd.Function):

    @staticmethod
    def forward(ctx, spec: _StepSpec, x: Tensor, r: Tensor, scale: Tensor,
                weight: Optional[Tensor], bias: Optional[Tensor],
                *tensors: Tensor):
        n, c, h, w = x.shape
        norm, pre_act = spec.norm, spec.pre_activation
        state = tensors[:spec.num_state]
        pooled = spatial_means(x, r, pre_act)
        # the dense [N, C] part in fp32: no casts around its tiny products
        autocast_off = torch.autocast(
            'cuda' if x.is_cuda else 'cpu', enabled=False)
        with torch.set_grad_enabled(spec.build_graph), autocast_off:
            pooled_in = pooled.detach().requires_grad_()
            state_in = tuple(s.detach().requires_grad_(s.requires_grad)
                             for s in state)
            kx, kr, *new_state = spec.kernels_fn(pooled_in, *state_in)
            kx, kr = _tap_major_kernels(kx, n, c), _tap_major_kernels(kr, n, c)
        batch_stats = norm.training or norm.running_mean is None
        count = n * h * w
        sums, momentum = None, None
        if batch_stats:
            sums = output_sums(x, r, kx.detach(), kr.detach(), pre_act)
            momentum = _running_stats_momentum(norm)
        # running statistics: read in eval mode, updated with a momentum
        running = momentum is not None or not batch_stats
        coefs = norm_coefficients(sums, weight, bias,
                                  norm.running_mean if running else None,
                                  norm.running_var if running else None, c,
                                  count, norm.eps, momentum or 0.0)
        rows = norm_coefficient_rows(coefs)
        y = epilogue(x, r, kx.detach(), kr.detach(), rows.alpha, rows.shift,
                     scale, pre_act)
        ctx.save_for_backward(x, r, kx.detach(), kr.detach(), scale, coefs)
        ctx.set_materialize_grads(False)  # no zeros for unused state
        ctx.tiny_graph = (pooled_in, state_in, kx, kr, new_state)
        ctx.tiny_params = tensors[spec.num_state:]
        ctx.batch_stats, ctx.count, ctx.pre_act = batch_stats, count, pre_act
        ctx.param_dtypes = (None if weight is None else weight.dtype,
                            None if bias is None else bias.dtype)
        return (y, *(s.detach() for s in new_state))

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_y: Optional[Tensor], *grad_state: Tensor):
        x, r, kx, kr, scale, coefs = ctx.saved_tensors
        # the layout of x, once for the two passes that read it
        grad_y = torch.zeros_like(x) if grad_y is None else in_layout_of(
            grad_y, x)
        pooled_in, state_in, kx_graph, kr_graph, new_state = ctx.tiny_graph
        del ctx.tiny_graph
        batch_stats, pre_act = ctx.batch_stats, ctx.pre_act
        needs = dict(zip(('spec', ) + TENSOR_ARGS, ctx.needs_input_grad))
        o, sums, taps = grad_reduce(grad_y, x, r, kx, kr, scale, batch_stats,
                                    pre_act)
        grad_coefs = norm_grad_coefficients(sums, coefs, ctx.count,
                                            batch_stats)
        batch_coefs = grad_coefs if batch_stats else None
        dkx, dkr = kernel_grads(taps, coefs, batch_coefs, x.shape[0])
        # the tiny graph: kernels and new state -> means, state, parameters
        rest = ctx.needs_input_grad[1 + len(TENSOR_ARGS):]
        params = rest[len(state_in):]
        outputs, grads = [kx_graph, kr_graph], [dkx, dkr]
        for s, g in zip(new_state, grad_state):
            if s.requires_grad and g is not None:
                outputs.append(s)
                grads.append(g)
        inputs = [pooled_in] + [s for s in state_in if s.requires_grad]
        inputs += [p for p, need in zip(ctx.tiny_params, params) if need]
        tiny_grads = torch.autograd.grad(
            outputs, inputs, grads, allow_unused=True)
        pooled_grad = tiny_grads[0]
        if pooled_grad is None:
            pooled_grad = torch.zeros_like(pooled_in)
        tiny_rest = iter(tiny_grads[1:])
        state_grads = [
            next(tiny_rest) if s.requires_grad else None for s in state_in
        ]
        param_grads = [next(tiny_rest) if need else None for need in params]
        dx, dr = input_grads(grad_y, o if batch_stats else None, x, r, scale,
                             coefs, batch_coefs, kx, kr, pooled_grad, pre_act)
        norm_grads = norm_grad_coefficient_rows(grad_coefs)
        weight_dtype, bias_dtype = ctx.param_dtypes
        grad_weight = (norm_grads.weight.to(weight_dtype)
                       if needs['weight'] else None)
        grad_bias = norm_grads.bias.to(bias_dtype) if needs['bias'] else None
        return (None, dx, dr, None, grad_weight, grad_bias, *state_grads,
                *param_grads)


def _traceable_light_step(x: Tensor, r: Tensor, kernels_fn: KernelsFn,
                          state: Tuple[Tensor, ...], norm: nn.BatchNorm2d,
                          scale: Tensor) -> Tuple[Tensor, Tuple[Tensor, ...]]:
    """The step as custom ops with their own autograd formulas, which
    ``torch.compile`` traces into its graph (the tiny ``[N, C]`` part
    between them as ordinary PyTorch, fused by Inductor): the spatial
    means, ``kernels_fn`` and :func:`norm_epilogue`. Unlike
    :class:`_FusedLightStep`, its backward writes the gradients of ``x``
    and ``r`` and then adds the means' broadcast gradients to them."""
    n, c = x.shape[:2]
    pooled = spatial_means(x, r, False)
    with torch.autocast('cuda' if x.is_cuda else 'cpu', enabled=False):
        kx, kr, *new_state = kernels_fn(pooled, *state)
        kx, kr = _tap_major_kernels(kx, n, c), _tap_major_kernels(kr, n, c)
    batch_stats = norm.training or norm.running_mean is None
    sums, momentum = None, None
    if batch_stats:
        # no gradient flows through the sums: norm_epilogue's formula
        # accounts for the batch statistics
        sums = output_sums(x.detach(), r.detach(), kx.detach(), kr.detach(),
                           False)
        momentum = _running_stats_momentum(norm)
    running = momentum is not None or not batch_stats
    # mean and 1 / std (of the batch, updating the running statistics, or
    # the running ones); the affine map is applied inside norm_epilogue
    statistics = norm_coefficients(sums, None, None,
                                   norm.running_mean if running else None,
                                   norm.running_var if running else None, c,
                                   x.numel() // c, norm.eps, momentum or 0.0)
    y, _ = norm_epilogue(x, r, kx, kr, scale, statistics, norm.weight,
                         norm.bias, batch_stats)
    return y, tuple(new_state)


def fused_light_step(
        x: Tensor,
        r: Tensor,
        kernels_fn: KernelsFn,
        state: Sequence[Tensor],
        params: Sequence[Tensor],
        norm: nn.BatchNorm2d,
        sample_scale: Optional[Tensor] = None,
        pre_activation: bool = False) -> Tuple[Tensor, Tuple[Tensor, ...]]:
    """One DLA-L block step through the fused kernels.

    Args:
        x (Tensor): Block output, ``[N, C, H, W]``.
        r (Tensor): The block's shortcut, ``[N, C, H, W]``.
        kernels_fn (callable): ``(pooled, *state)`` -> ``(kx, kr,
            *new_state)``: from the spatial means of ``x`` and ``r``
            stacked as ``pooled`` ``[N, 2, C]`` (fp32), the per-sample
            depthwise kernels applied to ``x`` and ``r``, ``[N, C, 3, 3]``
            (or ``[1, C, 3, 3]``, or tap-major fp32 ``[N, 9, C]``), and the
            new state. Evaluated once, under
            autograd and in fp32 (autocast off), inside the step.
        state (Sequence[Tensor]): Tensors that ``kernels_fn`` reads besides
            the means (e.g. the context carried from the previous block).
        params (Sequence[Tensor]): The parameters ``kernels_fn`` reads;
            their gradients are computed in the step's backward.
        norm (nn.BatchNorm2d): The attention norm (batch statistics in
            training, its running statistics folded into the kernel in eval
            mode), see :func:`fused_step_supported`.
        sample_scale (Tensor, optional): DropPath's per-sample scale of the
            normalised branch, ``[N]`` (0 or ``1 / keep_prob``).
        pre_activation (bool): ``x`` is the block's residual branch ``z``
            and the block output ``relu(z + r)`` is formed inside the
            kernels (the block's residual add and ReLU fused into the step;
            gradients go to ``z`` and ``r``). Defaults to False.

    Returns:
        tuple[Tensor, tuple[Tensor, ...]]: ``y`` ``[N, C, H, W]`` (dtype and
        memory format of ``x``) and the new state.

    While ``torch.compile`` traces, the step takes a traceable form (custom
    ops with their own autograd formulas around ``kernels_fn``, see
    :func:`_traceable_light_step`), without ``pre_activation``.

    Raises:
        ValueError: For inputs or a norm the step does not cover.
        RuntimeError: For inputs on a device other than CUDA (or ``meta``),
            unless ``TRITON_INTERPRET=1`` runs the kernels in Triton's
            interpreter.
    """
    if not fused_step_supported(x, r, norm):
        raise ValueError(
            'The fused DLA-L step covers 4-D x and shortcut of one shape '
            'and dtype (fp32, fp16, bf16), NCHW or channels_last, with an '
            f'nn.BatchNorm2d norm; got x {tuple(x.shape)} {x.dtype}, '
            f'shortcut {tuple(r.shape)} {r.dtype}, norm '
            f'{type(norm).__name__}. Use the PyTorch path for these.')
    r = in_layout_of(r, x)  # once for every kernel that reads both
    if torch.compiler.is_compiling():
        if pre_activation:
            raise ValueError('under torch.compile the fused step does not '
                             'form the block output (pre_activation).')
        if sample_scale is None:
            sample_scale = torch.ones(x.shape[0], device=x.device)
        return _traceable_light_step(x, r, kernels_fn, tuple(state), norm,
                                     sample_scale.float())
    if x.device.type not in (
            'cuda', 'meta') and os.environ.get('TRITON_INTERPRET') != '1':
        raise RuntimeError(
            'fused=True (model.backbone.fused) runs the DLA-L step in '
            'Triton kernels, which need a CUDA GPU, but the input is on the '
            f"{x.device.type}. Set fused='auto' (the fused step on the "
            'devices where it is measured faster, else the PyTorch path) or '
            'fused=False, e.g. --cfg-options model.backbone.fused=auto; to '
            "run the kernels on the CPU in Triton's interpreter (slow, for "
            'tests), set TRITON_INTERPRET=1.')
    if sample_scale is None:
        sample_scale = _ones(x.shape[0], x.device)
    state, params = tuple(state), tuple(params)
    build_graph = torch.is_grad_enabled()
    spec = _StepSpec(kernels_fn, norm, len(state), build_graph,
                     pre_activation)
    y, *new_state = _FusedLightStep.apply(spec, x, r, sample_scale.float(),
                                          norm.weight, norm.bias, *state,
                                          *params)
    return y, tuple(new_state)
