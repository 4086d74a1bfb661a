"""Speed and memory of a DLA ResNet classifier against a plain ResNet.

Both models (backbone, global average pooling, 1000-class linear head) are
built in one process and measured on the same device and inputs, in
alternating rounds so that both see the same machine load. Reported: training
throughput (forward, cross entropy, backward, SGD step), inference throughput
(eval mode, no grad) and, on CUDA, the peak memory of a training step.

``--amp`` runs the forward passes and the loss under bfloat16 autocast (as in
``benchmark.py``); ``--shape`` takes S or H W. Only torch, mmengine and
``mmcv.cnn`` are needed for the DLA model, so the
script also runs on a GPU machine without the rest of the OpenMMLab stack::

    # CPU (baseline: MMPretrain's ResNet-50)
    python tools/analysis_tools/benchmark_backbone.py --device cpu \
        --threads 2 --batch-size 8 --shape 160
    # GPU (baseline: torchvision's ResNet-50)
    python tools/analysis_tools/benchmark_backbone.py --device cuda --amp \
        --channels-last --batch-size 128 --infer-batch-size 256 [--compile]
"""
import argparse
import statistics
from typing import Callable, Dict

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmdla.analysis import (add_amp_argument, add_shape_argument, amp_autocast,
                            time_per_call)
from mmdla.models import ResNetDLA


class Classifier(nn.Module):
    """Backbone -> global average pooling -> linear head."""

    def __init__(self, backbone: nn.Module, channels: int,
                 num_classes: int = 1000) -> None:
        super().__init__()
        self.backbone = backbone
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.backbone(x)[-1].mean((2, 3)))


class TorchvisionBackbone(nn.Module):
    """torchvision's ResNet without its pooling and head."""

    def __init__(self, depth: int) -> None:
        super().__init__()
        import torchvision
        net = getattr(torchvision.models, f'resnet{depth}')()
        self.body = nn.Sequential(*list(net.children())[:-2])

    def forward(self, x: torch.Tensor):
        return (self.body(x), )


def build_baseline(name: str, depth: int) -> nn.Module:
    if name == 'torchvision':
        return TorchvisionBackbone(depth)
    from mmpretrain.models import ResNet
    return ResNet(depth=depth)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--device', default='cuda'
                        if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--depth', type=int, default=50)
    parser.add_argument('--variant', default='light')
    parser.add_argument('--baseline', choices=['mmpretrain', 'torchvision'],
                        help='default: torchvision on CUDA, else mmpretrain')
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--infer-batch-size', type=int)
    add_shape_argument(parser, default=(160, ), help='image size')
    parser.add_argument('--threads', type=int, help='CPU threads')
    add_amp_argument(parser)
    parser.add_argument('--channels-last', action='store_true')
    parser.add_argument('--compile', action='store_true',
                        help='torch.compile both models')
    parser.add_argument('--iters', type=int, default=5,
                        help='timed steps per round')
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--warmup', type=int, default=2)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    baseline = args.baseline or ('torchvision'
                                 if device.type == 'cuda' else 'mmpretrain')
    fmt = (torch.channels_last
           if args.channels_last else torch.contiguous_format)
    torch.manual_seed(0)
    dla = ResNetDLA(args.depth, variant=args.variant)
    models = {
        f'{baseline} ResNet-{args.depth}':
        Classifier(build_baseline(baseline, args.depth), dla.feat_dim),
        f'mmdla ResNet-{args.depth} DLA-{args.variant[0].upper()}':
        Classifier(dla, dla.feat_dim),
    }
    x = torch.randn(args.batch_size, 3, *args.shape,
                    device=device).contiguous(memory_format=fmt)
    y = torch.randint(0, 1000, (args.batch_size, ), device=device)
    x_infer = torch.randn(args.infer_batch_size or args.batch_size, 3,
                          *args.shape,
                          device=device).contiguous(memory_format=fmt)
    steps: Dict[str, Dict[str, Callable[[], object]]] = {}
    for name, model in models.items():
        model.to(device, memory_format=fmt)
        forward = torch.compile(model) if args.compile else model
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01,
                                    momentum=0.9)

        def train_step(model=model, forward=forward, optimizer=optimizer):
            model.train()
            with amp_autocast(device, args.amp):
                loss = F.cross_entropy(forward(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

        @torch.no_grad()
        def infer_step(model=model, forward=forward):
            model.eval()
            with amp_autocast(device, args.amp):
                forward(x_infer)

        steps[name] = dict(train=train_step, infer=infer_step)

    results = {name: dict(train=[], infer=[]) for name in models}
    peak = {}
    for name, fns in steps.items():
        for _ in range(args.warmup):
            fns['train']()
            fns['infer']()
        if device.type == 'cuda':
            torch.cuda.reset_peak_memory_stats(device)
            fns['train']()
            peak[name] = torch.cuda.max_memory_allocated(device) / 2**30
    for _ in range(args.rounds):
        for name, fns in steps.items():
            for kind in ('train', 'infer'):
                results[name][kind].append(
                    time_per_call(fns[kind], args.iters, 0, device))

    where = (torch.cuda.get_device_name(device) if device.type == 'cuda'
             else f'{torch.get_num_threads()} threads')
    print(f'device: {device} ({where})'
          f', torch {torch.__version__}, batch {args.batch_size}, '
          f'{args.shape[0]}x{args.shape[1]}, amp={args.amp}, '
          f'channels_last={args.channels_last}, compile={args.compile}')
    header = ('| model | train img/s | ratio (range) | infer img/s '
              '| ratio (range) |')
    if peak:
        header += ' peak train GiB | ratio |'
    print(header)
    print('|' + '---|' * (header.count('|') - 1))
    names = list(models)
    for name in names:
        row = f'| {name} |'
        for kind, batch in (('train', args.batch_size),
                            ('infer', x_infer.shape[0])):
            # ratios of rounds run back to back, so that both models see
            # the same machine load
            ratios = [
                b / t for b, t in zip(results[names[0]][kind],
                                      results[name][kind])
            ]
            row += (f' {batch / statistics.median(results[name][kind]):.1f}'
                    f' | {statistics.median(ratios):.2f} '
                    f'({min(ratios):.2f}-{max(ratios):.2f}) |')
        if peak:
            row += (f' {peak[name]:.2f} | '
                    f'{peak[name] / peak[names[0]]:.2f} |')
        print(row)


if __name__ == '__main__':
    main()
