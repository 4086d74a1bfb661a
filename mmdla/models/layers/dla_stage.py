"""The DLA stage: a ResNet stage whose blocks interact through layer attention.

Per block ``t`` (state starts at zero in every stage)::

    x_t, r_t = block_t(x_{t-1})                        # r_t: the shortcut
    (h_t, c_t) = cell(GAP(x_t), (h_{t-1}, c_{t-1}))    # forward (context) path
    # DLA-L: backward (update) path on the shortcut, then MRLA-light
    d_t = cell(GAP(r_t), (h_t, c_t)).h
    o_t = MRLALight(x_t, prev=r_t * d_t + DWConv(r_t))
    x_t = x_t + DropPath(Norm_t(o_t))
    # DLA-B: the update path re-gates every stored key and value, then
    # MRLA-base attends over them
    k_i *= cell(k_i, (h_t, c_t)).h;  v_i *= cell(GAP(v_i), (h_t, c_t)).h
    x_t = x_t + DropPath(ReLU(Norm_t(MRLABase(q_t, k_<=t, v_<=t))))

With ``dual_path=False`` the stage is the static layer attention (MRLA)
baseline: MRLA-light carries ``prev = o_{t-1}``, MRLA-base the stale keys
and values.
"""
from functools import partial
from typing import NamedTuple, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.utils.checkpoint as cp
from mmcv.cnn import build_norm_layer
from mmcv.cnn.bricks import DropPath
from mmengine.model import BaseModule

from .context_cells import build_context_cell
from .layer_attention import MRLABase, MRLALight, global_avg_pool

VARIANTS = ('light', 'base')


class Context(NamedTuple):
    """The context a stage carries from block to block.

    ``h`` and ``c`` ``[N, C]`` are the context cell's state; ``h_proj``
    ``[N, P]`` is ``project_hidden(h)``, computed once and used by both the
    update path of the current block and the forward path of the next.
    """
    h: torch.Tensor
    c: torch.Tensor
    h_proj: torch.Tensor


class DLAStage(BaseModule):
    """A stage of residual blocks with (dynamic) layer attention.

    The blocks are children named ``'0'``, ``'1'``, ... as in a ResNet stage,
    so that plain ResNet weights load into them.

    Args:
        blocks (Sequence[nn.Module]): Blocks returning ``(out, shortcut)``.
        channels (int): Output channels ``C`` of every block.
        variant (str): ``'light'`` (MRLA-light, DLA-L) or ``'base'``
            (MRLA-base, DLA-B). Defaults to ``'light'``.
        dual_path (bool): Use DLA's context and update paths. ``False`` gives
            the static MRLA baseline. Defaults to True.
        context_cell (str | dict): ``'dsu'``, ``'lstm'``, ``'gru'`` or a
            config of a registered context cell. Defaults to ``'dsu'``.
        dsu_reduction (int): Reduction ratio of the DSU. Defaults to 16.
        head_dim (int): Channels per attention head. Defaults to 32.
        lambda_init (str | float): Initialisation of MRLA-light's lambda.
        norm_cfg (dict): Config of the attention norms.
        drop_path_rate (float): DropPath rate of every attention branch.
        with_cp (bool): Checkpoint every block step (non-reentrant).
        legacy_batch0_context (bool): Reproduce the reference implementation,
            whose update path uses sample 0's context for the whole batch.
            Defaults to False (every sample uses its own context).
    """

    def __init__(self,
                 blocks: Sequence[nn.Module],
                 channels: int,
                 variant: str = 'light',
                 dual_path: bool = True,
                 context_cell='dsu',
                 dsu_reduction: int = 16,
                 head_dim: int = 32,
                 lambda_init='normal',
                 norm_cfg: dict = dict(type='BN'),
                 drop_path_rate: float = 0.0,
                 with_cp: bool = False,
                 legacy_batch0_context: bool = False,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        if variant not in VARIANTS:
            raise ValueError(
                f'variant must be one of {VARIANTS}, got {variant!r}.')
        self.num_blocks = len(blocks)
        for i, block in enumerate(blocks):
            self.add_module(str(i), block)
        self.variant = variant
        self.dual_path = dual_path
        self.with_cp = with_cp
        self.legacy_batch0_context = legacy_batch0_context
        if variant == 'light':
            self.attentions = nn.ModuleList(
                MRLALight(channels, head_dim, lambda_init)
                for _ in range(self.num_blocks))
        else:
            self.attentions = nn.ModuleList(
                MRLABase(channels, head_dim) for _ in range(self.num_blocks))
        self.attention_norms = nn.ModuleList(
            build_norm_layer(norm_cfg, channels)[1]
            for _ in range(self.num_blocks))
        if dual_path:
            self.context_cell = build_context_cell(context_cell, channels,
                                                   dsu_reduction)
            if variant == 'light':
                self.shortcut_conv = nn.Conv2d(
                    channels, channels, 3, padding=1, groups=channels,
                    bias=False)
        self.drop_path = (
            DropPath(drop_path_rate) if drop_path_rate > 0 else nn.Identity())

    @property
    def blocks(self) -> Tuple[nn.Module, ...]:
        return tuple(getattr(self, str(i)) for i in range(self.num_blocks))

    def _initial_context(self, pooled: torch.Tensor) -> Context:
        """The zero context of a stage, for pooled features ``[N, C]``."""
        zeros = pooled.new_zeros(pooled.shape)
        return Context(zeros, zeros, self.context_cell.project_hidden(zeros))

    def _advance(self, x_proj: torch.Tensor, context: Context) -> Context:
        """Forward path: advance the context with ``W_ih(GAP(x))``
        ``[N, P]``."""
        h, c = self.context_cell.combine(x_proj, context.h_proj, context.c)
        return Context(h, c, self.context_cell.project_hidden(h))

    def _update_gates(self, inputs_proj: torch.Tensor,
                      context: Context) -> torch.Tensor:
        """Backward path: gates ``cell(inputs, context).h`` ``[N, T, C]``
        of ``T`` items per sample, from ``W_ih(inputs)`` ``[N, T, P]``."""
        h_proj, c = context.h_proj, context.c
        if self.legacy_batch0_context:
            h_proj, c = h_proj[:1], c[:1]
        return self.context_cell.combine(inputs_proj, h_proj.unsqueeze(1),
                                         c.unsqueeze(1))[0]

    def _light_step(self, block: nn.Module, attention: MRLALight,
                    norm: nn.Module, x: torch.Tensor,
                    context: Optional[Context], prev: Optional[torch.Tensor]):
        x, shortcut = block(x)
        pooled = global_avg_pool(x)
        if self.dual_path:
            if context is None:
                context = self._initial_context(pooled)
            # one input projection for both paths: GAP(x) and GAP(r)
            proj = self.context_cell.project_input(
                torch.stack((pooled, global_avg_pool(shortcut)), 1))
            context = self._advance(proj[:, 0], context)
            gate = self._update_gates(proj[:, 1:], context)[:, 0]
            out = attention.forward_updated(x, pooled, shortcut, gate,
                                            self.shortcut_conv.weight)
        else:
            out = attention(x, prev, pooled)
            prev = out
        return x + self.drop_path(norm(out)), context, prev

    def _base_step(self, block: nn.Module, attention: MRLABase,
                   norm: nn.Module, x: torch.Tensor,
                   context: Optional[Context], keys: Optional[torch.Tensor],
                   values: Optional[torch.Tensor]):
        x, _ = block(x)
        pooled = global_avg_pool(x)
        query, key, value = attention.project(x, pooled)
        if self.dual_path:
            if context is None:
                context = self._initial_context(pooled)
            if keys is None:
                context = self._advance(
                    self.context_cell.project_input(pooled), context)
            else:
                # one input projection for GAP(x), the keys and GAP(values)
                n, t = keys.shape[:2]
                proj = self.context_cell.project_input(
                    torch.cat((pooled[:, None], keys.view(n, t, -1),
                               global_avg_pool(values)), 1))
                context = self._advance(proj[:, 0], context)
                gates = self._update_gates(proj[:, 1:], context)
                keys = keys * gates[:, :t].view(keys.shape).to(keys.dtype)
                values = values * gates[:, t:, :, None, None].to(values.dtype)
        key, value = key.unsqueeze(1), value.unsqueeze(1)
        keys = key if keys is None else torch.cat([keys, key], 1)
        values = value if values is None else torch.cat([values, value], 1)
        out = torch.relu(norm(attention(query, keys, values)))
        return x + self.drop_path(out), context, keys, values

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[N, C_in, H, W]`` -> ``[N, C, H / s, W / s]``."""
        step = self._light_step if self.variant == 'light' else self._base_step
        carry = (None, None) if self.variant == 'light' else (None, ) * 3
        for block, attention, norm in zip(self.blocks, self.attentions,
                                          self.attention_norms):
            fn = partial(step, block, attention, norm)
            if self.with_cp and x.requires_grad:
                x, *carry = cp.checkpoint(fn, x, *carry, use_reentrant=False)
            else:
                x, *carry = fn(x, *carry)
        return x
