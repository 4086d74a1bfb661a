"""Which path each DLA block's step takes for a batch, and why.

A block's step runs in PyTorch or through the fused kernels, as
:func:`mmdla.ops.plan_fused_step` decides from the block's input (its
device, dtype and layout), the norm, the ``fused`` option,
``AUTO_FUSED_DEVICES`` and ``torch.compile``. :func:`explain_fused` runs a
model on a batch and collects those plans::

    >>> from mmdla.analysis import explain_fused
    >>> for block in explain_fused(backbone, images):
    ...     print(block)
    layer1.0: pytorch (fused='auto' and 'cpu' is not in AUTO_FUSED_DEVICES ())
"""
import copy
from typing import List, NamedTuple

import torch
import torch.nn as nn

from mmdla.ops import StepPlan
from .layer_attention_stats import dla_stages


class BlockPlan(NamedTuple):
    """The plan of block ``index`` of the stage named ``stage``."""
    stage: str
    index: int
    plan: StepPlan

    def __str__(self) -> str:
        return f'{self.stage}.{self.index}: {self.plan}'


def explain_fused(model: nn.Module, batch: torch.Tensor) -> List[BlockPlan]:
    """The plan of every block of the DLA stages of ``model`` for one
    forward pass of ``batch``, in forward order.

    Runs a copy of ``model`` (so that no running statistic moves), in its
    mode (training or eval), without gradients.

    Args:
        model (nn.Module): A module with DLA stages whose forward takes
            ``batch`` (a backbone, or a classifier in ``'tensor'`` mode).
        batch (Tensor): Its input, e.g. ``[N, 3, H, W]`` images on the
            device, in the dtype and memory format of a training step.

    Raises:
        ValueError: If the model has no DLA stage.
    """
    model = copy.deepcopy(model)
    plans: List[BlockPlan] = []

    def recorder(name: str, stage: nn.Module, index: int):

        def record(block: nn.Module, args: tuple) -> None:
            plans.append(
                BlockPlan(name, index,
                          stage.layer_attention.plan(index, args[0])))

        return record

    handles = [
        block.register_forward_pre_hook(recorder(name, stage, index))
        for name, stage in dla_stages(model)
        for index, block in enumerate(stage.blocks)
    ]
    try:
        with torch.no_grad():
            model(batch)
    finally:
        for handle in handles:
            handle.remove()
    return plans
