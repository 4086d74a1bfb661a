"""Speed and memory of DLA ResNet backbones against a plain ResNet, all
built in one process: the presets, models, steps and table of
``tools/analysis_tools/benchmark_backbone.py``.

Only torch, torchvision, MMEngine and ``mmcv.cnn`` are imported for the DLA
models and torchvision's ResNet (MMPretrain's ResNet only when it is the
baseline), so that the tool runs on a GPU machine without the rest of the
OpenMMLab stack.
"""
import argparse
import statistics
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmdla.models import ResNetDLA
from .amp import amp_autocast
from .memory import held_bytes
from .timing import synchronize, time_per_call

FusedMode = Union[str, bool]


@dataclass(frozen=True)
class Preset:
    """What the benchmark builds and measures.

    Attributes:
        batch_size: Default training batch.
        shape: Default input ``(H, W)``.
        out_indices: Stages whose outputs the backbones return.
        frozen_stages: The stem and this many stages are frozen (no
            gradients, norms in eval mode); -1 freezes nothing.
        norm_eval: Every BatchNorm in eval mode while training.
        classifier: Global pooling and a 1000-class linear head on the last
            output, trained with cross entropy; otherwise the backbone alone,
            trained on the sum of its outputs' means (a detector's neck and
            heads read every output).
        kinds: The measured steps: ``'train'`` and, if given, ``'infer'``.
    """
    batch_size: int
    shape: Tuple[int, int]
    out_indices: Tuple[int, ...]
    frozen_stages: int
    norm_eval: bool
    classifier: bool
    kinds: Tuple[str, ...]

    def backbone_kwargs(self) -> dict:
        """Arguments shared by every backbone of this preset."""
        return dict(
            out_indices=self.out_indices,
            frozen_stages=self.frozen_stages,
            norm_eval=self.norm_eval)


PRESETS = {
    'classification':
    Preset(
        batch_size=8,
        shape=(160, 160),
        out_indices=(3, ),
        frozen_stages=-1,
        norm_eval=False,
        classifier=True,
        kinds=('train', 'infer')),
    # the backbone of Faster R-CNN in MMDetection's 1x COCO recipe
    'detection':
    Preset(
        batch_size=2,
        shape=(800, 1216),
        out_indices=(0, 1, 2, 3),
        frozen_stages=1,
        norm_eval=True,
        classifier=False,
        kinds=('train', )),
}

_FUSED_NAMES = {'auto': 'auto', 'true': True, 'false': False}


def parse_fused(text: str) -> Tuple[FusedMode, ...]:
    """``type`` of ``--fused``: a comma list of ``auto``, ``true`` and
    ``false`` -> the ``fused`` options of :class:`ResNetDLA`."""
    names = [name.strip().lower() for name in text.split(',')]
    unknown = [name for name in names if name not in _FUSED_NAMES]
    if unknown or len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(
            f'expected a comma list of distinct auto, true, false (e.g. '
            f'auto,false), got {text!r}')
    return tuple(_FUSED_NAMES[name] for name in names)


class TorchvisionResNet(nn.Module):
    """torchvision's ResNet without its pooling and head, returning the
    outputs of the ``out_indices`` stages, with MMDetection's
    ``frozen_stages`` and ``norm_eval``."""

    def __init__(self,
                 depth: int,
                 out_indices: Sequence[int] = (3, ),
                 frozen_stages: int = -1,
                 norm_eval: bool = False) -> None:
        super().__init__()
        import torchvision
        net = getattr(torchvision.models, f'resnet{depth}')()
        self.stem = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool)
        self.stages = nn.ModuleList(
            [net.layer1, net.layer2, net.layer3, net.layer4])
        self.out_indices = tuple(out_indices)
        self.norm_eval = norm_eval
        self.frozen = ([self.stem, *self.stages[:frozen_stages]]
                       if frozen_stages >= 0 else [])
        for module in self.frozen:
            module.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        x = self.stem(x)
        outs = []
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def train(self, mode: bool = True) -> 'TorchvisionResNet':
        super().train(mode)
        for module in self.frozen:
            module.eval()
        if mode and self.norm_eval:
            for module in self.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.eval()
        return self


class Classifier(nn.Module):
    """Backbone -> global average pooling -> linear head."""

    def __init__(self,
                 backbone: nn.Module,
                 channels: int,
                 num_classes: int = 1000) -> None:
        super().__init__()
        self.backbone = backbone
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.backbone(x)[-1].mean((2, 3)))


def build_baseline(name: str, depth: int, preset: Preset) -> nn.Module:
    """``'torchvision'`` or ``'mmpretrain'``'s ResNet of ``depth``."""
    if name == 'torchvision':
        return TorchvisionResNet(depth, **preset.backbone_kwargs())
    from mmpretrain.models import ResNet
    return ResNet(depth=depth, **preset.backbone_kwargs())


def build_models(preset: Preset, depth: int, variant: str, baseline: str,
                 fused_modes: Sequence[FusedMode]) -> Dict[str, nn.Module]:
    """The baseline ResNet first, then a DLA ResNet per ``fused`` mode
    (DLA-L; one DLA model for other variants), each seeded alike, wrapped
    in a :class:`Classifier` if the preset has one."""
    backbones = {}
    torch.manual_seed(0)
    backbones[f'{baseline} ResNet-{depth}'] = build_baseline(
        baseline, depth, preset)
    label = f'mmdla ResNet-{depth} DLA-{variant[0].upper()}'
    if variant != 'light':
        fused_modes = ['auto']
    for fused in fused_modes:
        torch.manual_seed(0)
        name = (f'{label} fused={str(fused).lower()}'
                if variant == 'light' else label)
        backbones[name] = ResNetDLA(
            depth, variant=variant, fused=fused, **preset.backbone_kwargs())
    if not preset.classifier:
        return backbones
    channels = backbones[name].feat_dim
    return {
        name: Classifier(backbone, channels)
        for name, backbone in backbones.items()
    }


def random_images(batch_size: int, shape: Tuple[int, int],
                  device: torch.device, memory_format) -> torch.Tensor:
    """A batch of random images ``[N, 3, H, W]`` in ``memory_format``
    (``torch.contiguous_format`` or ``torch.channels_last``)."""
    return torch.randn(
        batch_size, 3, *shape,
        device=device).contiguous(memory_format=memory_format)


@dataclass
class ModelSteps:
    """The measured steps of one model and its state between steps."""
    model: nn.Module
    optimizer: torch.optim.Optimizer
    train: Callable[[], None]
    infer: Callable[[], None]

    def held_bytes(self, inputs: torch.Tensor) -> int:
        """Weights, buffers, gradients, optimizer state and ``inputs``."""
        return held_bytes(self.model, self.optimizer, dict(inputs=inputs))


def make_steps(model: nn.Module, preset: Preset, inputs: torch.Tensor,
               infer_inputs: torch.Tensor, amp: bool,
               compile: bool) -> ModelSteps:
    """A training step (forward, loss, backward, SGD) on ``inputs`` and an
    inference step (eval mode, no gradients) on ``infer_inputs``."""
    device = inputs.device
    forward = torch.compile(model) if compile else model
    model.train()  # freezes the frozen stages (requires_grad=False)
    optimizer = torch.optim.SGD(
        [p for p in model.parameters() if p.requires_grad],
        lr=0.01,
        momentum=0.9)
    labels = torch.randint(0, 1000, (inputs.shape[0], ), device=device)

    def train() -> None:
        model.train()
        with amp_autocast(device, amp):
            out = forward(inputs)
            loss = (
                F.cross_entropy(out, labels) if preset.classifier else sum(
                    o.float().mean() for o in out))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    @torch.no_grad()
    def infer() -> None:
        model.eval()
        with amp_autocast(device, amp):
            forward(infer_inputs)

    return ModelSteps(model, optimizer, train, infer)


def train_peak_memory(steps: ModelSteps, inputs: torch.Tensor) -> int:
    """Peak bytes of a CUDA training step of one model as if it were alone
    on the device: the step's peak above what was allocated before it (other
    models included), plus what this model holds between steps."""
    device = inputs.device
    held = steps.held_bytes(inputs)
    synchronize(device)
    before = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    steps.train()
    synchronize(device)
    return torch.cuda.max_memory_allocated(device) - before + held


def time_rounds(models: Dict[str, ModelSteps], kinds: Sequence[str],
                rounds: int, iters: int,
                device: torch.device) -> Dict[str, Dict[str, List[float]]]:
    """Seconds per step of each model and kind, one entry per round; the
    models take turns within each round, so that all see the same load."""
    seconds = {name: {kind: [] for kind in kinds} for name in models}
    for _ in range(rounds):
        for name, steps in models.items():
            for kind in kinds:
                seconds[name][kind].append(
                    time_per_call(getattr(steps, kind), iters, 0, device))
    return seconds


def format_table(seconds: Dict[str, Dict[str, List[float]]],
                 batches: Dict[str, int],
                 peaks: Optional[Dict[str, int]] = None) -> List[str]:
    """A Markdown table: images per second of each kind with the ratio to
    the first model (median of the per-round ratios, range in brackets)
    and, if ``peaks`` (bytes) are given, the peak training memory."""
    names = list(seconds)
    kinds = list(batches)
    header = '| model |' + ''.join(f' {kind} img/s | ratio (range) |'
                                   for kind in kinds)
    if peaks:
        header += ' peak train GiB | ratio |'
    lines = [header, '|' + '---|' * (header.count('|') - 1)]
    for name in names:
        row = f'| {name} |'
        for kind in kinds:
            # ratios of rounds run back to back
            ratios = [
                base / time for base, time in zip(seconds[names[0]][kind],
                                                  seconds[name][kind])
            ]
            rate = batches[kind] / statistics.median(seconds[name][kind])
            row += (f' {rate:.1f} | {statistics.median(ratios):.2f} '
                    f'({min(ratios):.2f}-{max(ratios):.2f}) |')
        if peaks:
            row += (f' {peaks[name] / 2**30:.2f} | '
                    f'{peaks[name] / peaks[names[0]]:.2f} |')
        lines.append(row)
    return lines
