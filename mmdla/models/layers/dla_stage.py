"""The DLA stage: a ResNet stage whose blocks interact through layer
attention.

Per block ``t``::

    x_t, r_t = block_t(x_{t-1})                       # r_t: the shortcut
    x_t, carry_t = layer_attention(t, x_t, r_t, carry_{t-1})

where ``layer_attention`` is the stage's :class:`LayerAttentionStep` (DLA-L,
DLA-B, the static MRLA baselines or a user's registered step; see
:mod:`mmdla.models.layers.attention_steps`) and the carry starts at None in
every stage.
"""
from typing import Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.utils.checkpoint as cp
from mmengine.model import BaseModule

from mmdla.registry import MODELS
from .attention_steps import LayerAttentionStep
from .legacy_keys import rename_legacy_keys
from .options import registered_class


class DLAStage(BaseModule):
    """A stage of residual blocks with (dynamic) layer attention.

    The blocks are children named ``'0'``, ``'1'``, ... as in a ResNet stage,
    so that plain ResNet weights load into them; the layer attention is the
    child ``layer_attention``.

    Args:
        blocks (Sequence[nn.Module]): Blocks returning ``(out, shortcut)``.
        channels (int): Output channels ``C`` of every block.
        layer_attention (str | dict): Registered name or config of a
            :class:`LayerAttentionStep`, built with ``channels`` and
            ``num_blocks``. Defaults to ``'DLALightStep'`` (DLA-L).
        with_cp (bool): Checkpoint every block with its step
            (non-reentrant).
    """
    # 2: the layer attention moved into ``layer_attention``; version 1 held
    # ``attentions``, ``attention_norms``, ``context_cell`` and the update
    # kernel ``shortcut_conv.weight`` in the stage itself.
    _version = 2

    def __init__(self,
                 blocks: Sequence[nn.Module],
                 channels: int,
                 layer_attention: Union[str, dict] = 'DLALightStep',
                 with_cp: bool = False,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.num_blocks = len(blocks)
        for i, block in enumerate(blocks):
            self.add_module(str(i), block)
        if isinstance(layer_attention, str):
            layer_attention = dict(type=layer_attention)
        step_cls = registered_class(layer_attention, LayerAttentionStep)
        # built by class, so that the default scope (mmdet, ...) does not
        # matter
        self.layer_attention = MODELS.build(
            dict(layer_attention, type=step_cls),
            default_args=dict(channels=channels, num_blocks=self.num_blocks))
        self.with_cp = with_cp

    @property
    def blocks(self) -> Tuple[nn.Module, ...]:
        return tuple(getattr(self, str(i)) for i in range(self.num_blocks))

    def _load_from_state_dict(self, state_dict: dict, prefix: str,
                              local_metadata: dict, *args, **kwargs) -> None:
        if local_metadata.get('version', 1) < 2:
            rename_legacy_keys(
                state_dict, prefix, {
                    'attentions.': 'layer_attention.attentions.',
                    'attention_norms.': 'layer_attention.norms.',
                    'context_cell.': 'layer_attention.context_cell.',
                    'shortcut_conv.weight': 'layer_attention.update_kernel',
                })
        super()._load_from_state_dict(state_dict, prefix, local_metadata,
                                      *args, **kwargs)

    def block_step(self, index: int, x: torch.Tensor,
                   carry) -> Tuple[torch.Tensor, object]:
        """Block ``index`` and its layer attention step:
        ``[N, C_in, H, W]`` -> ``[N, C, H / s, W / s]`` and the carry."""
        block = getattr(self, str(index))
        plan = self.layer_attention.plan(index, x)
        if plan.fuses_activation:
            residual, shortcut = block(x, activate=False)
            return self.layer_attention(index, residual, shortcut, carry, plan)
        x, shortcut = block(x)
        return self.layer_attention(index, x, shortcut, carry)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[N, C_in, H, W]`` -> ``[N, C, H / s, W / s]``."""
        carry = None
        for index in range(self.num_blocks):
            if self.with_cp and x.requires_grad:
                x, carry = cp.checkpoint(
                    self.block_step, index, x, carry, use_reentrant=False)
            else:
                x, carry = self.block_step(index, x, carry)
        return x
