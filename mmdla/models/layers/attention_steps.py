"""Layer attention steps: what a DLA stage does after each of its blocks.

Block ``t`` of a stage returns its output ``x_t`` and its shortcut ``r_t``;
the stage's step then applies the layer attention and hands a carry to the
next block::

    x_t, carry_t = step(t, x_t, r_t, carry_{t-1})      # carry_{-1} = None

Every kind of layer attention is one class, registered in mmdla's
``MODELS`` and chosen by name (``ResNetDLA(layer_attention=...)``, or the
shorthands ``variant`` and ``dual_path``):

================  =========================================  ==============
step              per block ``t``                            carry
================  =========================================  ==============
``DLALightStep``  DLA-L: context path, update path on        ``Context``
                  ``r_t``, MRLA-light with ``prev = r'_t``
``DLABaseStep``   DLA-B: context path, update path over      ``(Context,
                  the stored keys and values, MRLA-base      keys, values)``
``MRLALightStep`` static MRLA-light, ``prev = o_{t-1}``      ``o_t``
``MRLABaseStep``  static MRLA-base over the stale keys and   ``(keys,
                  values                                     values)``
================  =========================================  ==============

The DLA equations (Wang et al., arXiv 2406.13392), with ``cell`` the
stage's context cell (the DSU by default) and ``GAP`` the spatial mean::

    (h_t, c_t) = cell(GAP(x_t), (h_{t-1}, c_{t-1}))    # context path
    # DLA-L: update path on the shortcut, then MRLA-light
    d_t = cell(GAP(r_t), (h_t, c_t)).h
    o_t = MRLALight_t(x_t, prev=r_t * d_t + DWConv(r_t))
    x_t = x_t + DropPath(Norm_t(o_t))
    # DLA-B: the update path re-gates every stored key and value, then
    # MRLA-base attends over them
    k_i *= cell(k_i, (h_t, c_t)).h;  v_i *= cell(GAP(v_i), (h_t, c_t)).h
    x_t = x_t + DropPath(ReLU(Norm_t(MRLABase(q_t, k_<=t, v_<=t))))

A new kind of layer attention is a new subclass of
:class:`LayerAttentionStep` registered in ``MODELS``.

**Identity start.** :meth:`LayerAttentionStep.init_identity` zeroes the
weight and bias of every attention norm, so that each step returns its
``x_t`` unchanged and the backbone computes its plain ResNet (used to start
from ResNet weights, see ``ResNetDLA(zero_init_attention=True)``). In the
first backward pass only these weights and biases receive gradients:
everything before a norm reaches the output through the norm's weight, which
is zero. Once the first optimiser step has moved the norms' weights, the
attention kernels, ``lambda_t``, the update kernel and the context cell
receive their gradients too, from the second step on. The ReLU of the
MRLA-base steps is :func:`relu_passing_zero` so that the gradient crosses it
at exactly zero.
"""
from typing import NamedTuple, Optional, Tuple, Union

import torch
import torch.nn as nn
from mmcv.cnn import build_norm_layer
from mmcv.cnn.bricks import DropPath
from mmengine.model import BaseModule, ModuleList

from mmdla.ops import (PYTORCH, TRACEABLE, StepPlan, check_fused_mode,
                       fused_light_step, gate_kernels, plan_fused_step)
from mmdla.registry import MODELS
from .context_cells import build_context_cell
from .layer_attention import (MRLABase, MRLALight, fold_gates,
                              gated_depthwise_conv, global_avg_pool,
                              kaiming_init_depthwise)
from .recorder import recording, report

# The step of each (variant, dual_path) shorthand of ResNetDLA.
LAYER_ATTENTION_STEPS = {
    ('light', True): 'DLALightStep',
    ('base', True): 'DLABaseStep',
    ('light', False): 'MRLALightStep',
    ('base', False): 'MRLABaseStep',
}

Memory = Tuple[torch.Tensor, torch.Tensor]


def layer_attention_step(variant: str, dual_path: bool) -> str:
    """The registered name of the step of a ``variant`` (``'light'`` or
    ``'base'``) with or without DLA's dual path."""
    if (variant, bool(dual_path)) not in LAYER_ATTENTION_STEPS:
        raise ValueError(f"variant must be 'light' or 'base', got "
                         f'{variant!r}; name another step with '
                         'layer_attention=dict(type=...).')
    return LAYER_ATTENTION_STEPS[variant, bool(dual_path)]


def relu_passing_zero(x: torch.Tensor) -> torch.Tensor:
    """``max(x, 0)`` whose gradient at exactly 0 is 1.

    The values are those of :func:`torch.relu`, whose gradient at 0 is 0.
    After :meth:`LayerAttentionStep.init_identity` the input of the ReLU of
    the MRLA-base steps is exactly 0 everywhere (a norm with zero weight and
    bias); with ``torch.relu`` no gradient would ever reach the norm and the
    attention branch would stay switched off. ``torch.where`` passes the
    gradient where ``x >= 0`` (``clamp(min=0)`` too passes none at 0) and
    keeps only a boolean mask for the backward pass.
    """
    return torch.where(x >= 0, x, x.new_zeros(()))


class Context(NamedTuple):
    """The context a DLA stage carries from block to block.

    ``h`` and ``c`` ``[N, C]`` are the context cell's state; ``h_proj``
    ``[N, P]`` is ``project_hidden(h)``, computed once and used by both the
    update path of the current block and the forward path of the next.
    """
    h: torch.Tensor
    c: torch.Tensor
    h_proj: torch.Tensor


class LayerAttentionStep(BaseModule):
    """Base class of the layer attention steps of a stage.

    Holds the attention norms ``norms`` (one per block) and the DropPath of
    the attention branch; subclasses add the attention modules and define
    :meth:`forward`.

    Args:
        channels (int): Output channels ``C`` of the stage's blocks.
        num_blocks (int): Number of blocks of the stage.
        norm_cfg (dict): Config of the attention norms.
        drop_path_rate (float): DropPath rate of the attention branch
            (``x + DropPath(...)``), in ``[0, 1)``. Defaults to 0.
    """

    def __init__(self,
                 channels: int,
                 num_blocks: int,
                 norm_cfg: dict = dict(type='BN'),
                 drop_path_rate: float = 0.0,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        if not 0 <= drop_path_rate < 1:
            raise ValueError(f'drop_path_rate must be in [0, 1), got '
                             f'{drop_path_rate}.')
        self.channels = channels
        self.num_blocks = num_blocks
        self.norms = nn.ModuleList(
            build_norm_layer(norm_cfg, channels)[1] for _ in range(num_blocks))
        self.drop_path = (
            DropPath(drop_path_rate) if drop_path_rate > 0 else nn.Identity())

    def init_identity(self) -> None:
        """Make every block's step return its ``x_t`` unchanged.

        Zeroes the weight and bias of every attention norm, the last layer
        of the attention branch (before the ReLU of the MRLA-base steps), so
        that the branch adds exactly zero in training and in eval mode,
        whatever the attention modules and the context cell hold. A step
        whose branch does not end in ``norms`` overrides this method.

        Raises:
            ValueError: If the attention norms have no affine weight and
                bias (e.g. ``affine=False`` in ``norm_cfg``).
        """
        for norm in self.norms:
            if (getattr(norm, 'weight', None) is None
                    or getattr(norm, 'bias', None) is None):
                raise ValueError(
                    f'the attention norms ({type(norm).__name__}) have no '
                    'affine weight and bias to zero for an identity start; '
                    'build them with affine=True in norm_cfg.')
            nn.init.zeros_(norm.weight)
            nn.init.zeros_(norm.bias)

    def forward(self,
                index: int,
                x: torch.Tensor,
                shortcut: torch.Tensor,
                carry,
                plan: Optional[StepPlan] = None) -> tuple:
        """Apply the layer attention after block ``index``.

        Args:
            index (int): The block, ``0 <= index < num_blocks``.
            x (Tensor): The block's output ``x_t``, ``[N, C, H, W]``; with
                a ``plan`` that fuses the activation, the block's residual
                branch.
            shortcut (Tensor): The block's shortcut ``r_t``,
                ``[N, C, H, W]``.
            carry: What this method returned for block ``index - 1``;
                None for block 0.
            plan (StepPlan, optional): What :meth:`plan` returned for the
                block's input, where it fuses the activation: the step then
                forms the block's output ``relu(x + shortcut)`` first.
                :class:`DLAStage` passes no other plan, so a step that does
                not override :meth:`plan` never receives one.

        Returns:
            tuple: The new ``x_t`` ``[N, C, H, W]`` and the carry for block
            ``index + 1``.
        """
        raise NotImplementedError

    def plan(self, index: int, x: torch.Tensor) -> StepPlan:
        """How the step of block ``index`` runs for the block's input ``x``
        ``[N, C_in, H, W]`` (see :func:`mmdla.ops.plan_fused_step`): in
        PyTorch, unless a step with a fused path overrides this method."""
        return StepPlan(PYTORCH, f'{type(self).__name__} has no fused step')

    def drop_path_scale(self, x: torch.Tensor) -> Optional[torch.Tensor]:
        """The per-sample scale ``[N]`` by which DropPath multiplies the
        attention branch of ``x`` ``[N, ...]`` in training (0 or
        ``1 / keep_prob``); None when it keeps every sample."""
        if not (self.training and isinstance(self.drop_path, DropPath)):
            return None
        keep = 1 - self.drop_path.drop_prob
        return torch.rand(
            x.shape[0], device=x.device).add_(keep).floor_().div_(keep)


def _remember(memory: Optional[Memory], key: torch.Tensor,
              value: torch.Tensor) -> Memory:
    """Append a block's key ``[N, G, d]`` and value ``[N, C, H, W]`` to the
    keys ``[N, T, G, d]`` and values ``[N, T, C, H, W]`` so far."""
    key, value = key.unsqueeze(1), value.unsqueeze(1)
    if memory is None:
        return key, value
    keys, values = memory
    return torch.cat([keys, key], 1), torch.cat([values, value], 1)


def _mrla_base_branch(step: LayerAttentionStep, index: int, x: torch.Tensor,
                      pooled: torch.Tensor,
                      memory: Optional[Memory]) -> Tuple[torch.Tensor, Memory]:
    """The MRLA-base step of block ``index`` of ``step``, whose
    ``attentions`` are :class:`MRLABase`.

    Projects the block output ``x`` ``[N, C, H, W]`` and ``pooled =
    GAP(x)`` ``[N, C]`` to the query, key and value, appends the key and
    value to ``memory`` (the keys ``[N, T - 1, G, d]`` and values
    ``[N, T - 1, C, H, W]`` of the earlier blocks, None for the first) and
    attends over them.

    Returns:
        tuple[Tensor, Memory]: ``x + DropPath(ReLU(Norm_t(MRLABase_t(q_t,
        k_<=t, v_<=t))))`` ``[N, C, H, W]`` and the keys ``[N, T, G, d]``
        and values ``[N, T, C, H, W]`` so far.
    """
    attention = step.attentions[index]
    query, key, value = attention.project(x, pooled)
    keys, values = _remember(memory, key, value)
    out = relu_passing_zero(step.norms[index](attention(query, keys, values)))
    return x + step.drop_path(out), (keys, values)


@MODELS.register_module()
class MRLALightStep(LayerAttentionStep):
    """Static MRLA-light: ``x_t + DropPath(Norm_t(o_t))`` with
    ``o_t = MRLALight_t(x_t, prev=o_{t-1})``. The carry is ``o_t``.

    Args:
        channels (int): Output channels ``C`` of the stage's blocks.
        num_blocks (int): Number of blocks of the stage.
        head_dim (int): Channels per attention head. Defaults to 32.
        lambda_init (str | float): Initialisation of ``lambda_t`` (see
            :class:`MRLALight`).
        norm_cfg (dict): Config of the attention norms.
        drop_path_rate (float): DropPath rate of the attention branch.
    """

    def __init__(self,
                 channels: int,
                 num_blocks: int,
                 head_dim: int = 32,
                 lambda_init: Union[str, float] = 'normal',
                 norm_cfg: dict = dict(type='BN'),
                 drop_path_rate: float = 0.0,
                 init_cfg=None) -> None:
        super().__init__(channels, num_blocks, norm_cfg, drop_path_rate,
                         init_cfg)
        self.attentions = ModuleList(
            MRLALight(channels, head_dim, lambda_init)
            for _ in range(num_blocks))

    def forward(
            self, index: int, x: torch.Tensor, shortcut: torch.Tensor,
            prev: Optional[torch.Tensor]) -> Tuple[torch.Tensor, torch.Tensor]:
        out = self.attentions[index](x, prev)
        return x + self.drop_path(self.norms[index](out)), out


@MODELS.register_module()
class MRLABaseStep(LayerAttentionStep):
    """Static MRLA-base: ``x_t + DropPath(ReLU(Norm_t(MRLABase_t(q_t,
    k_<=t, v_<=t))))``. The carry is the keys and values so far.

    Args:
        channels (int): Output channels ``C`` of the stage's blocks.
        num_blocks (int): Number of blocks of the stage.
        head_dim (int): Channels per attention head. Defaults to 32.
        norm_cfg (dict): Config of the attention norms.
        drop_path_rate (float): DropPath rate of the attention branch.
    """

    def __init__(self,
                 channels: int,
                 num_blocks: int,
                 head_dim: int = 32,
                 norm_cfg: dict = dict(type='BN'),
                 drop_path_rate: float = 0.0,
                 init_cfg=None) -> None:
        super().__init__(channels, num_blocks, norm_cfg, drop_path_rate,
                         init_cfg)
        self.attentions = ModuleList(
            MRLABase(channels, head_dim) for _ in range(num_blocks))

    def forward(self, index: int, x: torch.Tensor, shortcut: torch.Tensor,
                memory: Optional[Memory]) -> Tuple[torch.Tensor, Memory]:
        return _mrla_base_branch(self, index, x, global_avg_pool(x), memory)


class DLAStep(LayerAttentionStep):
    """Base class of the DLA steps: a context cell ``context_cell`` shared
    by the blocks of the stage, and the context and update paths.

    Args:
        channels (int): Output channels ``C`` of the stage's blocks.
        num_blocks (int): Number of blocks of the stage.
        context_cell (str | dict): ``'dsu'``, ``'lstm'``, ``'gru'`` or a
            config of a registered :class:`ContextCell`. Defaults to
            ``'dsu'``.
        dsu_reduction (int, optional): ``reduction`` of a context cell that
            takes one (the DSU), unless its config sets it.
        legacy_batch0_context (bool): Reproduce the reference code, whose
            update path uses sample 0's context for the whole batch.
            Defaults to False (every sample uses its own context).
        norm_cfg (dict): Config of the attention norms.
        drop_path_rate (float): DropPath rate of the attention branch.
    """

    def __init__(self,
                 channels: int,
                 num_blocks: int,
                 context_cell: Union[str, dict] = 'dsu',
                 dsu_reduction: Optional[int] = None,
                 legacy_batch0_context: bool = False,
                 norm_cfg: dict = dict(type='BN'),
                 drop_path_rate: float = 0.0,
                 init_cfg=None) -> None:
        super().__init__(channels, num_blocks, norm_cfg, drop_path_rate,
                         init_cfg)
        self.context_cell = build_context_cell(context_cell, channels,
                                               dsu_reduction)
        self.legacy_batch0_context = legacy_batch0_context

    def initial_context(self, pooled: torch.Tensor) -> Context:
        """The zero context of a stage, for pooled features ``[N, C]``."""
        zeros = pooled.new_zeros(pooled.shape)
        return Context(zeros, zeros, self.context_cell.project_hidden(zeros))

    def advance(self, x_proj: torch.Tensor, context: Context) -> Context:
        """Context path: advance the context with ``W_ih(GAP(x))``
        ``[N, P]``."""
        h, c = self.context_cell.combine(x_proj, context.h_proj, context.c)
        return Context(h, c, self.context_cell.project_hidden(h))

    def update_gates(self, inputs_proj: torch.Tensor,
                     context: Context) -> torch.Tensor:
        """Update path: gates ``cell(inputs, context).h`` ``[N, T, C]`` of
        ``T`` items per sample, from ``W_ih(inputs)`` ``[N, T, P]``."""
        h_proj, c = context.h_proj, context.c
        if self.legacy_batch0_context:
            h_proj, c = h_proj[:1], c[:1]
        return self.context_cell.combine(inputs_proj, h_proj.unsqueeze(1),
                                         c.unsqueeze(1))[0]


@MODELS.register_module()
class DLALightStep(DLAStep):
    """DLA-L: MRLA-light whose previous output is the updated shortcut.

    Besides the stage's context cell and the per-block ``attentions``
    (:class:`MRLALight`: ``query_kernel``, ``key_kernel``, ``value_kernel``,
    ``lambda_t``) and ``norms``, it holds the depthwise 3x3 kernel of the
    update path, ``update_kernel`` ``[C, 1, 3, 3]`` (drawn like
    ``value_kernel``, see :class:`LayerAttention`). The carry is the
    :class:`Context`.

    Args:
        channels (int): Output channels ``C`` of the stage's blocks.
        num_blocks (int): Number of blocks of the stage.
        head_dim (int): Channels per attention head. Defaults to 32.
        lambda_init (str | float): Initialisation of ``lambda_t`` (see
            :class:`MRLALight`).
        context_cell (str | dict): The context cell (see :class:`DLAStep`).
        dsu_reduction (int, optional): ``reduction`` of a context cell that
            takes one, unless its config sets it.
        legacy_batch0_context (bool): See :class:`DLAStep`.
        norm_cfg (dict): Config of the attention norms.
        drop_path_rate (float): DropPath rate of the attention branch.
        fused (str | bool): ``'auto'`` (default) runs the step through the
            fused kernels of :mod:`mmdla.ops` on the devices where they were
            measured faster than the PyTorch path (none yet, see
            :data:`mmdla.ops.dla_light_plan.AUTO_FUSED_DEVICES`) and in
            PyTorch elsewhere; ``True`` on any device, ``False`` never.
            Norms other than ``BatchNorm2d`` and other dtypes keep the
            PyTorch path, and so does ``'auto'`` under ``torch.compile``
            (see :meth:`plan`). Both compute the same step.
    """

    def __init__(self,
                 channels: int,
                 num_blocks: int,
                 head_dim: int = 32,
                 lambda_init: Union[str, float] = 'normal',
                 context_cell: Union[str, dict] = 'dsu',
                 dsu_reduction: Optional[int] = None,
                 legacy_batch0_context: bool = False,
                 norm_cfg: dict = dict(type='BN'),
                 drop_path_rate: float = 0.0,
                 fused: Union[str, bool] = 'auto',
                 init_cfg=None) -> None:
        super().__init__(channels, num_blocks, context_cell, dsu_reduction,
                         legacy_batch0_context, norm_cfg, drop_path_rate,
                         init_cfg)
        check_fused_mode(fused)
        self.fused = fused
        self.attentions = ModuleList(
            MRLALight(channels, head_dim, lambda_init)
            for _ in range(num_blocks))
        self.update_kernel = nn.Parameter(torch.empty(channels, 1, 3, 3))
        nn.init.uniform_(self.update_kernel, -1 / 3, 1 / 3)  # 1/sqrt(fan_in)

    def init_weights(self) -> None:
        """Kaiming-normal update kernel, as the value kernels."""
        super().init_weights()
        kaiming_init_depthwise(self.update_kernel)

    def forward(
            self,
            index: int,
            x: torch.Tensor,
            shortcut: torch.Tensor,
            context: Optional[Context],
            plan: Optional[StepPlan] = None) -> Tuple[torch.Tensor, Context]:
        """The whole DLA-L step of block ``index``.

        Spatial means of ``x`` and ``r``, the context path (one cell
        evaluation), the update gate (a second one), MRLA-light with the
        updated shortcut (:meth:`attend`), the attention norm, DropPath and
        the residual add. It reads ``attentions[index]``,
        ``norms[index]``, ``update_kernel``, ``context_cell`` and
        ``drop_path``. With the fused kernels (option ``fused``) it is one
        autograd function (:func:`mmdla.ops.fused_light_step`).

        Args:
            index (int): The block.
            x (Tensor): Block output ``x_t``, ``[N, C, H, W]`` (with a
                ``plan`` that fuses the activation: the block's residual
                branch).
            shortcut (Tensor): Block shortcut ``r_t``, ``[N, C, H, W]``.
            context (Context, optional): The context after block
                ``index - 1``; None for block 0 (zero context).
            plan (StepPlan, optional): The stage's :meth:`plan` for the
                block's input, which fuses the activation: ``x_t = relu(x +
                shortcut)`` is formed in the fused kernels. None: the plan
                for ``x`` and ``shortcut``.

        Returns:
            tuple[Tensor, Context]: The new ``x_t`` ``[N, C, H, W]`` and the
            context after block ``index``.
        """
        activate = plan is not None and plan.fuses_activation
        if plan is None:
            plan = self.plan(index, x, shortcut)
        if plan.path != PYTORCH:
            return self.fused_forward(index, x, shortcut, context, plan,
                                      activate)
        norm = self.norms[index]
        pooled = global_avg_pool(x)
        context, gate = self.context_and_gate(
            torch.stack((pooled, global_avg_pool(shortcut)), 1), context)
        report(self.attentions[index], 'update_gate', gate)
        out = self.attend(index, x, pooled, shortcut, gate)
        return x + self.drop_path(norm(out)), context

    def plan(self,
             index: int,
             x: torch.Tensor,
             shortcut: Optional[torch.Tensor] = None) -> StepPlan:
        """How the step of block ``index`` runs (see
        :func:`mmdla.ops.plan_fused_step`): for the block's input ``x``
        (the stage asks before the block runs), or for its output ``x`` and
        ``shortcut``."""
        return plan_fused_step(self.fused, x,
                               x if shortcut is None else shortcut,
                               self.norms[index],
                               lambda: self.gates_unfused(index))

    def context_and_gate(self,
                         pooled: torch.Tensor,
                         context: Optional[Context],
                         fused: bool = False) -> Tuple[Context, torch.Tensor]:
        """The context path and the update gate ``d`` ``[N, C]`` from
        ``GAP(x)`` and ``GAP(r)`` stacked as ``pooled`` ``[N, 2, C]``, with
        one input projection for both paths (with ``fused``, the cell's
        ``fused_combine`` for both, see :meth:`gates_unfused`)."""
        if context is None:
            context = self.initial_context(pooled[:, 0])
        cell = self.context_cell
        proj = cell.project_input(pooled)
        if fused:  # both combines read their rows of proj [N, 2, P]
            h, c = cell.fused_combine(proj, 0, context.h_proj, context.c)
            context = Context(h, c, cell.project_hidden(h))
            return context, cell.fused_combine(proj, 1, context.h_proj, c)[0]
        context = self.advance(proj[:, 0], context)
        return context, self.update_gates(proj[:, 1:], context)[:, 0]

    def gates_unfused(self, index: int) -> str:
        """Why the fused step of block ``index`` cannot run its ``[N, C]``
        part in fused kernels (:func:`mmdla.ops.dsu_combine`,
        :func:`mmdla.ops.gate_kernels`) but in PyTorch; empty where it can:
        for a context cell with a ``fused_combine`` (the DSU), per-sample
        context, fp32 parameters, heads of a power-of-2 size (they divide
        ``C``, see :class:`LayerAttention`), and while no :class:`Recorder`
        collects the gates."""
        attention = self.attentions[index]
        head_dim = attention.head_dim
        if self.context_cell.fused_combine is None:
            return (f'the context cell {type(self.context_cell).__name__} '
                    'has no fused_combine')
        if self.legacy_batch0_context:
            return 'legacy_batch0_context=True'
        if attention.value_kernel.dtype != torch.float32:
            return f'{attention.value_kernel.dtype} parameters'
        if head_dim & (head_dim - 1):
            return f'head_dim={head_dim} is not a power of 2'
        if recording():
            return 'a Recorder collects the gates'
        return ''

    def fused_forward(self,
                      index: int,
                      x: torch.Tensor,
                      shortcut: torch.Tensor,
                      context: Optional[Context],
                      plan: StepPlan,
                      activate: bool = False) -> Tuple[torch.Tensor, Context]:
        """:meth:`forward` through :func:`mmdla.ops.fused_light_step` in
        the ``plan``'s form: the gates folded into the two depthwise kernels
        (in their own kernels or with :func:`fold_gates`), the full-size
        work in the fused kernels; with ``activate``, ``x`` is the block's
        residual branch."""
        attention = self.attentions[index]
        fuses_gates = plan.fuse_gates

        def kernels(pooled, *state):
            new_context, gate = self.context_and_gate(
                pooled,
                Context(*state) if state else None, fuses_gates)
            if fuses_gates:
                kx, kr, _ = gate_kernels(pooled, gate, attention.query_kernel,
                                         attention.key_kernel,
                                         attention.value_kernel,
                                         self.update_kernel,
                                         attention.lambda_t,
                                         attention.head_dim)
                return (kx, kr, *new_context)
            report(attention, 'update_gate', gate)
            gates = attention.gates(pooled[:, 0], gate)
            kx = fold_gates(attention.value_kernel, gates.value)
            kr = fold_gates(self.update_kernel, gates.update, gates.center)
            return (kx, kr, *new_context)

        if activate and x.dtype != shortcut.dtype:  # the block output's
            dtype = torch.promote_types(x.dtype, shortcut.dtype)
            x, shortcut = x.to(dtype), shortcut.to(dtype)
        params = (*attention.parameters(), self.update_kernel,
                  *self.context_cell.parameters())
        y, state = fused_light_step(x, shortcut, kernels, context or (),
                                    params, self.norms[index],
                                    self.drop_path_scale(x), activate,
                                    plan.path == TRACEABLE)
        return y, Context(*state)

    def attend(self, index: int, x: torch.Tensor, pooled: torch.Tensor,
               shortcut: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
        """MRLA-light of block ``index`` with the updated shortcut as
        previous output.

        Computes ``attentions[index](x, prev=r * d + DWConv_u(r))`` with the
        per-channel factors of :meth:`MRLALight.gates` applied around the
        two depthwise convolutions (see :func:`gated_depthwise_conv`)::

            o = DWConv_u(r) * lambda + r * (lambda * d) + DWConv_v(x) * a

        Args:
            index (int): The block.
            x (Tensor): Block output, ``[N, C, H, W]``.
            pooled (Tensor): ``GAP(x)``, ``[N, C]``.
            shortcut (Tensor): The block's shortcut ``r``, ``[N, C, H, W]``.
            gate (Tensor): Update gate ``d``, ``[N, C]``.

        Returns:
            Tensor: ``o_t``, ``[N, C, H, W]``.
        """
        attention = self.attentions[index]
        gates = attention.gates(pooled, gate)
        return gated_depthwise_conv(shortcut, self.update_kernel, gates.update,
                                    gates.center) + gated_depthwise_conv(
                                        x, attention.value_kernel, gates.value)


@MODELS.register_module()
class DLABaseStep(DLAStep):
    """DLA-B: the update path re-gates the stored keys and values before
    MRLA-base attends over them. The carry is ``(Context, keys, values)``.

    Args:
        channels (int): Output channels ``C`` of the stage's blocks.
        num_blocks (int): Number of blocks of the stage.
        head_dim (int): Channels per attention head. Defaults to 32.
        context_cell (str | dict): The context cell (see :class:`DLAStep`).
        dsu_reduction (int, optional): ``reduction`` of a context cell that
            takes one, unless its config sets it.
        legacy_batch0_context (bool): See :class:`DLAStep`.
        norm_cfg (dict): Config of the attention norms.
        drop_path_rate (float): DropPath rate of the attention branch.
    """

    def __init__(self,
                 channels: int,
                 num_blocks: int,
                 head_dim: int = 32,
                 context_cell: Union[str, dict] = 'dsu',
                 dsu_reduction: Optional[int] = None,
                 legacy_batch0_context: bool = False,
                 norm_cfg: dict = dict(type='BN'),
                 drop_path_rate: float = 0.0,
                 init_cfg=None) -> None:
        super().__init__(channels, num_blocks, context_cell, dsu_reduction,
                         legacy_batch0_context, norm_cfg, drop_path_rate,
                         init_cfg)
        self.attentions = ModuleList(
            MRLABase(channels, head_dim) for _ in range(num_blocks))

    def forward(self, index: int, x: torch.Tensor, shortcut: torch.Tensor,
                carry: Optional[tuple]) -> Tuple[torch.Tensor, tuple]:
        pooled = global_avg_pool(x)
        if carry is None:
            context = self.initial_context(pooled)
            context = self.advance(
                self.context_cell.project_input(pooled), context)
            memory = None
        else:
            context, keys, values = carry
            # one input projection for GAP(x), the keys and GAP(values)
            n, t = keys.shape[:2]
            proj = self.context_cell.project_input(
                torch.cat((pooled[:, None], keys.view(
                    n, t, -1), global_avg_pool(values)), 1))
            context = self.advance(proj[:, 0], context)
            gates = self.update_gates(proj[:, 1:], context)
            memory = (keys * gates[:, :t].view(keys.shape).to(keys.dtype),
                      values * gates[:, t:, :, None, None].to(values.dtype))
        x, memory = _mrla_base_branch(self, index, x, pooled, memory)
        return x, (context, *memory)
