"""What the layer attention of a backbone computes, averaged over images.

For every :class:`~mmdla.models.layers.DLAStage` of a backbone and every
block ``t`` of it, :func:`layer_attention_stats` runs the backbone on
batches of images with a :class:`~mmdla.models.layers.recorder.Recorder`
active and averages over the images:

- ``head_gates``: the head gates ``a_t`` ``[G]`` (DLA-L, MRLA-light);
- ``update_gate``: the update gates ``d_t`` ``[C]`` of the DSU's update path
  (DLA-L);
- ``attention_weights``: the weights ``[t + 1][G]`` of block ``t``'s
  attention over blocks ``0..t`` (DLA-B, MRLA-base), summing to 1 over the
  blocks for every head;
- ``branch_ratio``: ``||x'_t - x_t|| / ||x_t||``, the L2 norm of the
  attention branch (what the step adds to the block's output ``x_t``) over
  the norm of the block's output, each over ``C x H x W``, per image.

and adds the learnt ``lambda`` ``[C]`` of MRLA-light (DLA-L), which does not
depend on the image.
"""
from collections import defaultdict
from typing import Dict, Iterable, List, Tuple

import torch
import torch.nn as nn

from mmdla.models.layers import DLAStage
from mmdla.models.layers.recorder import Recorder

# the quantities recorded per image, by the name they are reported under
RECORDED = ('head_gates', 'update_gate', 'attention_weights')


def dla_stages(backbone: nn.Module) -> List[Tuple[str, DLAStage]]:
    """The named DLA stages of ``backbone``, in forward order.

    Raises:
        ValueError: If the backbone has none.
    """
    stages = [(name, module) for name, module in backbone.named_modules()
              if isinstance(module, DLAStage)]
    if not stages:
        raise ValueError(
            f'The backbone {type(backbone).__name__} has no layer attention '
            '(no DLAStage); use a config whose backbone is mmdla.ResNetDLA '
            'or mmdla.ResNetDLACifar.')
    return stages


class _ImageMeans:
    """Running means over images of tensors ``[N, ...]``, by key."""

    def __init__(self) -> None:
        self.sums: Dict[tuple, torch.Tensor] = {}
        self.counts: Dict[tuple, int] = defaultdict(int)

    def add(self, key: tuple, values: torch.Tensor) -> None:
        total = values.detach().to('cpu', torch.float64).sum(0)
        self.sums[key] = self.sums.get(key, 0) + total
        self.counts[key] += values.shape[0]

    def mean(self, key: tuple) -> torch.Tensor:
        return self.sums[key] / self.counts[key]


def _branch_ratio_hook(means: _ImageMeans, stage: str):
    """A forward hook of a stage's step that adds the branch ratio of each
    image of the batch to ``means``."""

    def hook(step: nn.Module, args: tuple, output: tuple) -> None:
        index, block_out = args[0], args[1]
        branch = output[0] - block_out
        ratio = (
            branch.flatten(1).float().norm(dim=1) /
            block_out.flatten(1).float().norm(dim=1))
        means.add((stage, index, 'branch_ratio'), ratio)

    return hook


@torch.no_grad()
def layer_attention_stats(backbone: nn.Module,
                          batches: Iterable[torch.Tensor]) -> dict:
    """Average what the layer attention of ``backbone`` computes over the
    images of ``batches``.

    Args:
        backbone (nn.Module): A backbone with DLA stages, in eval mode.
        batches (Iterable[Tensor]): Preprocessed image batches
            ``[N, 3, H, W]``.

    Returns:
        dict: ``num_images`` and ``stages``, a list with, for each stage,
        ``name``, ``step`` (the class of its layer attention), ``channels``,
        ``num_heads`` and ``blocks``: per block a dict of the quantities of
        the module docstring that the step computes, as (nested) lists of
        floats.

    Raises:
        ValueError: If the backbone has no DLA stage, is in training mode
            or ``batches`` is empty.
    """
    stages = dla_stages(backbone)
    if backbone.training:
        raise ValueError(
            'The backbone is in training mode (batch statistics, DropPath); '
            'call backbone.eval() before collecting its statistics.')
    means = _ImageMeans()
    handles = [
        stage.layer_attention.register_forward_hook(
            _branch_ratio_hook(means, name)) for name, stage in stages
    ]
    num_images = 0
    try:
        for inputs in batches:
            with Recorder() as recorder:
                backbone(inputs)
            num_images += inputs.shape[0]
            for name, stage in stages:
                for index, attention in enumerate(
                        stage.layer_attention.attentions):
                    for quantity in RECORDED:
                        for values in recorder.get(attention, quantity):
                            means.add((name, index, quantity), values)
    finally:
        for handle in handles:
            handle.remove()
    if not num_images:
        raise ValueError('No images to average over; pass at least one.')
    return dict(
        num_images=num_images,
        stages=[_stage_stats(name, stage, means) for name, stage in stages])


def _stage_stats(name: str, stage: DLAStage, means: _ImageMeans) -> dict:
    """The JSON-ready statistics of one stage."""
    step = stage.layer_attention
    blocks = []
    for index, attention in enumerate(step.attentions):
        block = {}
        for quantity in RECORDED + ('branch_ratio', ):
            if (name, index, quantity) in means.sums:
                block[quantity] = means.mean((name, index, quantity)).tolist()
        if hasattr(attention, 'lambda_t'):
            block['lambda'] = attention.lambda_t.detach().flatten().tolist()
        blocks.append(block)
    return dict(
        name=name,
        step=type(step).__name__,
        channels=step.channels,
        num_heads=step.attentions[0].num_heads,
        blocks=blocks)


def _spread(values: List[float]) -> str:
    """``mean [min, max]`` of a list of numbers."""
    values = torch.tensor(values)
    return (f'{values.mean().item():.3f} [{values.min().item():.3f}, '
            f'{values.max().item():.3f}]')


def format_summary(stats: dict) -> str:
    """One line per block of the statistics of :func:`layer_attention_stats`:
    the mean and range over heads or channels of ``a_t``, ``lambda`` and
    ``d_t``, the head means of the attention weights over blocks ``0..t``
    and the branch ratio."""
    lines = [
        f'mean over {stats["num_images"]} images; '
        'gates: mean [min, max] over heads or channels'
    ]
    for stage in stats['stages']:
        lines.append(f'{stage["name"]} ({stage["step"]}, '
                     f'{stage["channels"]} channels, '
                     f'{stage["num_heads"]} heads)')
        for index, block in enumerate(stage['blocks']):
            parts = [f'  block {index}:']
            for key, name in (('head_gates', 'a_t'), ('lambda', 'lambda'),
                              ('update_gate', 'd_t')):
                if key in block:
                    parts.append(f'{name} {_spread(block[key])}')
            if 'attention_weights' in block:
                weights = torch.tensor(block['attention_weights']).mean(1)
                parts.append('weights over blocks [' +
                             ' '.join(f'{w:.3f}'
                                      for w in weights.tolist()) + ']')
            if 'branch_ratio' in block:
                parts.append(f'branch ratio {block["branch_ratio"]:.3f}')
            lines.append(' '.join(parts[:1]) + ' ' + '; '.join(parts[1:]))
    return '\n'.join(lines)
