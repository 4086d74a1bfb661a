"""The fused DLA-L block step: one autograd function per block.

Given a block's output ``x`` and shortcut ``r`` (``[N, C, H, W]``), the
step computes::

    pooled = stack(mean_hw(x), mean_hw(r))                 # [N, 2, C] fp32
    kx, kr, *state' = kernels_fn(pooled, *state)           # tiny, fp32
    o = DW_kx(x) + DW_kr(r)              # per-sample depthwise 3x3 kernels
    y = x + s[n] * BN(o)                 # s: the DropPath scale

``kernels_fn`` is the dense ``[N, C]`` part (context cell, head gates,
folding the gates into the two 3x3 kernels); it runs under autograd inside
the step, as PyTorch ops or (DLA-L with the DSU) mostly as the ops of
:mod:`.dla_light_gate_ops`. The full-size parts are the ops of
:mod:`.dla_light_ops`.

The module has three sections:

* **Passes**, written once and used by both forms: the dense part in fp32
  (:func:`tap_major_kernels_fn`), the forward's norm statistics
  (:func:`norm_statistics`) and the backward sequence
  grad_reduce -> norm_grad_coefficients -> kernel_grads -> input_grads
  (:func:`backward_passes`).
* **The eager form** (:class:`_FusedLightStep`): forward reads ``x`` and
  ``r`` for the means, (in training) for the norm's batch statistics, and
  once more to write ``y``; ``o`` and ``y`` are not saved. Backward runs
  the passes, with autograd over the tiny graph for the gradients of the
  means, the state and the parameters between the kernels' gradients and
  the input gradients, so that the gradients of ``x`` and ``r`` are each
  written once (the residual, the two convolutions and the means'
  broadcasts together).
* **The traceable form** (:func:`_traceable_light_step`), which
  ``torch.compile`` puts in its graph: the ops with autograd formulas of
  their own, registered here; the gate ops' formulas serve both forms.

Which form runs, if any, is the plan's decision (:mod:`.dla_light_plan`).
"""
import functools
import os
from typing import Callable, List, NamedTuple, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from torch import Tensor
from torch.autograd.function import once_differentiable

from .dla_light_gate_ops import (dsu_combine, dsu_combine_backward,
                                 gate_kernels, gate_kernels_backward)
from .dla_light_layout import (MEAN_R, MEAN_X, MEANS, TAPS, NormCoefficients,
                               NormGradCoefficients, norm_coefficient_rows,
                               norm_grad_coefficient_rows,
                               stacked_norm_coefficients)
from .dla_light_ops import (epilogue, grad_reduce, input_grads, kernel_grads,
                            norm_coefficients, norm_grad_coefficients,
                            output_sums, spatial_means)
from .dla_light_plan import tracing, unsupported_reason
from .dla_light_tiles import in_layout_of

KernelsFn = Callable[..., Sequence[Tensor]]

# ---------------------------------------------------------------------------
# Passes shared by the eager and the traceable form
# ---------------------------------------------------------------------------


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
    return k.float().reshape(-1, c, TAPS).transpose(1,
                                                    2).expand(n, TAPS,
                                                              c).contiguous()


def _dtypes(*tensors: Optional[Tensor]) -> Tuple[Optional[torch.dtype], ...]:
    """The dtypes of the norm's parameters, for their gradients."""
    return tuple(None if t is None else t.dtype for t in tensors)


def tap_major_kernels_fn(kernels_fn: KernelsFn, pooled: Tensor,
                         state: Sequence[Tensor], n: int,
                         c: int) -> Tuple[Tensor, Tensor, List[Tensor]]:
    """``kernels_fn(pooled, *state)``, the dense ``[N, C]`` part, in fp32
    (autocast off: no casts around its tiny products): its kernels
    tap-major ``[N, 9, C]`` and the new state."""
    with torch.autocast(
            'cuda' if pooled.is_cuda else 'cpu', enabled=False):
        kx, kr, *new_state = kernels_fn(pooled, *state)
        return (_tap_major_kernels(kx, n, c), _tap_major_kernels(kr, n, c),
                new_state)


def uses_batch_stats(norm: nn.BatchNorm2d) -> bool:
    """The norm normalises with the batch's statistics (else with its
    running ones)."""
    return norm.training or norm.running_mean is None


def norm_statistics(x: Tensor, r: Tensor, kx: Tensor, kr: Tensor,
                    norm: nn.BatchNorm2d, weight: Optional[Tensor],
                    bias: Optional[Tensor], pre_activation: bool) -> Tensor:
    """The forward's norm coefficients ``[COEF_ROWS, C]``
    (:class:`~.dla_light_layout.NormCoefficients`), with the affine map of
    ``weight`` and ``bias`` (None: none).

    Under batch statistics: from the sums of ``o = DW_kx(x) + DW_kr(r)``,
    counting the step and updating the running statistics as
    :class:`torch.nn.BatchNorm2d` does; else from the running statistics.
    No gradient flows through it: the callers' backward formulas account
    for the batch statistics.
    """
    n, c, h, w = x.shape
    batch_stats = uses_batch_stats(norm)
    sums, momentum = None, None
    if batch_stats:
        sums = output_sums(x, r, kx, kr, pre_activation)
        momentum = _running_stats_momentum(norm)
    # running statistics: read in eval mode, updated with a momentum
    running = momentum is not None or not batch_stats
    return norm_coefficients(sums, weight, bias,
                             norm.running_mean if running else None,
                             norm.running_var if running else None, c,
                             n * h * w, norm.eps, momentum or 0.0)


def backward_passes(
    grad: Tensor, x: Tensor, r: Tensor, kx: Tensor, kr: Tensor, scale: Tensor,
    coefs: Tensor, batch_stats: bool, pre_activation: bool,
    means_grad: Callable[[Tensor, Tensor], Tensor]
) -> Tuple[Tensor, Tensor, Tensor, Tensor, NormGradCoefficients]:
    """The backward kernels of the step, in sequence.

    One reduction pass (the norm's and the kernels' sums; under batch
    statistics it also writes ``o``), the norm's gradient coefficients,
    the kernels' gradients ``dkx``, ``dkr`` ``[N, 9, C]``, then
    ``means_grad(dkx, dkr)``: the gradient of the spatial means ``[N, 2,
    C]`` that :func:`~.dla_light_ops.input_grads` adds to ``dx`` and
    ``dr`` as it writes them.

    Returns:
        tuple: ``dx``, ``dr`` (``x``'s layout, ``grad``'s dtype), ``dkx``,
        ``dkr`` and the norm's gradient rows.
    """
    n, c, h, w = x.shape
    grad = in_layout_of(grad, x)  # once for the two passes that read it
    o, sums, taps = grad_reduce(grad, x, r, kx, kr, scale, batch_stats,
                                pre_activation)
    grad_coefs = norm_grad_coefficients(sums, coefs, n * h * w, batch_stats)
    batch_coefs = grad_coefs if batch_stats else None
    dkx, dkr = kernel_grads(taps, coefs, batch_coefs, n)
    pooled_grad = means_grad(dkx, dkr)
    dx, dr = input_grads(grad, o if batch_stats else None, x, r, scale, coefs,
                         batch_coefs, kx, kr, pooled_grad, pre_activation)
    return dx, dr, dkx, dkr, norm_grad_coefficient_rows(grad_coefs)


# ---------------------------------------------------------------------------
# The eager form
# ---------------------------------------------------------------------------


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
                weight: Optional[Tensor], bias: Optional[Tensor], *tensors:
                Tensor):
        n, c = x.shape[:2]
        norm, pre_act = spec.norm, spec.pre_activation
        state = tensors[:spec.num_state]
        pooled = spatial_means(x, r, pre_act)
        with torch.set_grad_enabled(spec.build_graph):
            pooled_in = pooled.detach().requires_grad_()
            state_in = tuple(s.detach().requires_grad_(s.requires_grad)
                             for s in state)
            kx_graph, kr_graph, new_state = tap_major_kernels_fn(
                spec.kernels_fn, pooled_in, state_in, n, c)
        kx, kr = kx_graph.detach(), kr_graph.detach()
        coefs = norm_statistics(x, r, kx, kr, norm, weight, bias, pre_act)
        rows = norm_coefficient_rows(coefs)
        y = epilogue(x, r, kx, kr, rows.alpha, rows.shift, scale, pre_act)
        ctx.save_for_backward(x, r, kx, kr, scale, coefs)
        ctx.set_materialize_grads(False)  # no zeros for unused state
        ctx.tiny_graph = (pooled_in, state_in, kx_graph, kr_graph, new_state)
        ctx.tiny_params = tensors[spec.num_state:]
        ctx.batch_stats, ctx.pre_act = uses_batch_stats(norm), pre_act
        ctx.param_dtypes = _dtypes(weight, bias)
        return (y, *(s.detach() for s in new_state))

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_y: Optional[Tensor], *grad_state: Tensor):
        x, r, kx, kr, scale, coefs = ctx.saved_tensors
        pooled_in, state_in, kx_graph, kr_graph, new_state = ctx.tiny_graph
        del ctx.tiny_graph
        needs = dict(zip(('spec', ) + TENSOR_ARGS, ctx.needs_input_grad))
        rest = ctx.needs_input_grad[1 + len(TENSOR_ARGS):]
        params = rest[len(state_in):]
        inputs = [pooled_in] + [s for s in state_in if s.requires_grad]
        inputs += [p for p, need in zip(ctx.tiny_params, params) if need]
        tiny_grads = []

        def means_grad(dkx: Tensor, dkr: Tensor) -> Tensor:
            """The tiny graph: kernels and new state -> means, state,
            parameters."""
            outputs, grads = [kx_graph, kr_graph], [dkx, dkr]
            for s, g in zip(new_state, grad_state):
                if s.requires_grad and g is not None:
                    outputs.append(s)
                    grads.append(g)
            tiny_grads.extend(
                torch.autograd.grad(outputs, inputs, grads, allow_unused=True))
            if tiny_grads[0] is None:
                return torch.zeros_like(pooled_in)
            return tiny_grads[0]

        grad_y = torch.zeros_like(x) if grad_y is None else grad_y
        dx, dr, _, _, norm_grads = backward_passes(grad_y, x, r, kx, kr, scale,
                                                   coefs, ctx.batch_stats,
                                                   ctx.pre_act, means_grad)
        tiny_rest = iter(tiny_grads[1:])
        state_grads = [
            next(tiny_rest) if s.requires_grad else None for s in state_in
        ]
        param_grads = [next(tiny_rest) if need else None for need in params]
        weight_dtype, bias_dtype = ctx.param_dtypes
        grad_weight = (
            norm_grads.weight.to(weight_dtype) if needs['weight'] else None)
        grad_bias = norm_grads.bias.to(bias_dtype) if needs['bias'] else None
        return (None, dx, dr, None, grad_weight, grad_bias, *state_grads,
                *param_grads)


# ---------------------------------------------------------------------------
# The traceable form, and the autograd formulas of the ops
# ---------------------------------------------------------------------------


@torch.library.custom_op('mmdla::dla_norm_epilogue', mutates_args=())
def norm_epilogue(x: Tensor, r: Tensor, kx: Tensor, kr: Tensor, scale: Tensor,
                  statistics: Tensor, weight: Optional[Tensor],
                  bias: Optional[Tensor],
                  batch_stats: bool) -> Tuple[Tensor, Tensor]:
    """``y = x + scale[n] * BN(o)`` with ``o = DW_kx(x) + DW_kr(r)``, and
    the norm's coefficients ``[COEF_ROWS, C]``, as one op with its own
    autograd formula (the traceable form's epilogue).

    ``statistics`` are :func:`norm_statistics` without the affine map
    (rows ``mean``, ``inv_std`` read): of the batch with ``batch_stats``
    (and the gradient then flows through them), else the running
    statistics.
    """
    mean, inv_std = norm_coefficient_rows(statistics)[:2]
    alpha = inv_std if weight is None else inv_std * weight.float()
    shift = -mean * alpha
    if bias is not None:
        shift = shift + bias.float()
    coefs = stacked_norm_coefficients(
        NormCoefficients(mean, inv_std, alpha, shift))
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
    ctx.param_dtypes = _dtypes(weight, bias)
    ctx.set_materialize_grads(False)


def _norm_epilogue_backward(ctx, grad_y: Optional[Tensor],
                            grad_coefs: Optional[Tensor]):
    """The backward passes without the means' gradients (they reach ``x``
    and ``r`` through :func:`spatial_means`'s formula)."""
    x, r, kx, kr, scale, coefs = ctx.saved_tensors
    n, c = x.shape[:2]

    def no_means_grad(dkx: Tensor, dkr: Tensor) -> Tensor:
        return x.new_zeros((n, MEANS, c), dtype=torch.float32)

    dx, dr, dkx, dkr, norm_grads = backward_passes(grad_y, x, r, kx, kr, scale,
                                                   coefs, ctx.batch_stats,
                                                   False, no_means_grad)
    weight_dtype, bias_dtype = ctx.param_dtypes
    return (dx, dr, dkx, dkr, None, None, None
            if weight_dtype is None else norm_grads.weight.to(weight_dtype),
            None if bias_dtype is None else norm_grads.bias.to(bias_dtype),
            None)


norm_epilogue.register_autograd(
    _norm_epilogue_backward, setup_context=_norm_epilogue_setup_context)


def _spatial_means_setup_context(ctx, inputs, output) -> None:
    x, r, pre_activation = inputs
    ctx.shape, ctx.dtype, ctx.pre_activation = x.shape, x.dtype, pre_activation


def _spatial_means_backward(ctx, grad: Tensor):
    """The means' gradients as broadcast views (no full-size tensor is
    written; autograd or Inductor adds them where they meet others)."""
    if ctx.pre_activation:
        raise NotImplementedError(
            'the spatial means of relu(z + r) have no autograd formula; '
            'the eager fused step differentiates them itself.')
    h, w = ctx.shape[-2:]
    grad = (grad / (h * w)).to(ctx.dtype)[..., None, None]
    return (grad[:, MEAN_X].expand(ctx.shape),
            grad[:, MEAN_R].expand(ctx.shape), None)


spatial_means.register_autograd(
    _spatial_means_backward, setup_context=_spatial_means_setup_context)


def _dsu_combine_setup_context(ctx, inputs, output) -> None:
    x_proj, row, h_proj, c = inputs
    ctx.save_for_backward(x_proj, h_proj, c)
    ctx.row = row
    ctx.set_materialize_grads(False)  # an unused output: no zeros


def _dsu_combine_autograd(ctx, grad_h: Optional[Tensor],
                          grad_c: Optional[Tensor]):
    x_proj, h_proj, c = ctx.saved_tensors
    grad_x_proj, grad_h_proj, grad_c_prev = dsu_combine_backward(
        x_proj, ctx.row, h_proj, c, grad_h, grad_c)
    return grad_x_proj, None, grad_h_proj, grad_c_prev


dsu_combine.register_autograd(
    _dsu_combine_autograd, setup_context=_dsu_combine_setup_context)


def _gate_kernels_setup_context(ctx, inputs, output) -> None:
    *tensors, head_dim = inputs
    ctx.save_for_backward(*tensors, output[2])
    ctx.head_dim = head_dim
    ctx.set_materialize_grads(False)  # the gates a: no zeros


def _gate_kernels_autograd(ctx, grad_kx: Optional[Tensor],
                           grad_kr: Optional[Tensor],
                           grad_a: Optional[Tensor]):
    *tensors, a = ctx.saved_tensors
    n, c = a.shape
    grad_kx = a.new_zeros(n, TAPS, c) if grad_kx is None else grad_kx
    grad_kr = a.new_zeros(n, TAPS, c) if grad_kr is None else grad_kr
    grads = gate_kernels_backward(*tensors, a, grad_kx, grad_kr, ctx.head_dim)
    return (*grads, None)


gate_kernels.register_autograd(
    _gate_kernels_autograd, setup_context=_gate_kernels_setup_context)


def _traceable_light_step(x: Tensor, r: Tensor, kernels_fn: KernelsFn,
                          state: Tuple[Tensor, ...], norm: nn.BatchNorm2d,
                          scale: Tensor) -> Tuple[Tensor, Tuple[Tensor, ...]]:
    """The step as ops with their own autograd formulas, which
    ``torch.compile`` traces into its graph (the tiny ``[N, C]`` part
    between them as ordinary PyTorch, fused by Inductor): the spatial
    means, ``kernels_fn`` and :func:`norm_epilogue`. Unlike the eager form,
    its backward writes the gradients of ``x`` and ``r`` and then adds the
    means' broadcast gradients to them."""
    n, c = x.shape[:2]
    pooled = spatial_means(x, r, False)
    kx, kr, new_state = tap_major_kernels_fn(kernels_fn, pooled, state, n, c)
    # mean and 1 / std; the affine map is applied inside norm_epilogue
    statistics = norm_statistics(x.detach(), r.detach(), kx.detach(),
                                 kr.detach(), norm, None, None, False)
    y, _ = norm_epilogue(x, r, kx, kr, scale, statistics, norm.weight,
                         norm.bias, uses_batch_stats(norm))
    return y, tuple(new_state)


# ---------------------------------------------------------------------------
# The entry point
# ---------------------------------------------------------------------------


def fused_light_step(
        x: Tensor,
        r: Tensor,
        kernels_fn: KernelsFn,
        state: Sequence[Tensor],
        params: Sequence[Tensor],
        norm: nn.BatchNorm2d,
        sample_scale: Optional[Tensor] = None,
        pre_activation: bool = False,
        traceable: Optional[bool] = None) -> Tuple[Tensor, Tuple[Tensor, ...]]:
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
        traceable (bool, optional): Take the traceable form (see
            :func:`_traceable_light_step`), without ``pre_activation``, as
            :class:`~.dla_light_plan.StepPlan` ``path`` says. Defaults to
            whether ``torch.compile`` is tracing.

    Returns:
        tuple[Tensor, tuple[Tensor, ...]]: ``y`` ``[N, C, H, W]`` (dtype and
        memory format of ``x``) and the new state.

    Raises:
        ValueError: For inputs or a norm the step does not cover.
        RuntimeError: For inputs on a device other than CUDA (or ``meta``),
            unless ``TRITON_INTERPRET=1`` runs the kernels in Triton's
            interpreter.
    """
    unsupported = unsupported_reason(x, r, norm)
    if unsupported:
        raise ValueError(
            'The fused DLA-L step covers 4-D x and shortcut of one shape '
            'and dtype (fp32, fp16, bf16), NCHW or channels_last, with an '
            f'nn.BatchNorm2d norm; got x {tuple(x.shape)} {x.dtype}, '
            f'shortcut {tuple(r.shape)} {r.dtype}, norm '
            f'{type(norm).__name__} ({unsupported}). Use the PyTorch path '
            'for these.')
    r = in_layout_of(r, x)  # once for every kernel that reads both
    if tracing() if traceable is None else traceable:
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
    spec = _StepSpec(kernels_fn, norm, len(state), build_graph, pre_activation)
    y, *new_state = _FusedLightStep.apply(spec, x, r, sample_scale.float(),
                                          norm.weight, norm.bias, *state,
                                          *params)
    return y, tuple(new_state)
