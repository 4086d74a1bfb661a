"""Speed and memory of DLA ResNet backbones against a plain ResNet.

All models are built in one process and measured on the same device and
inputs, in alternating rounds so that all see the same machine load; every
figure is also given as a ratio to the plain ResNet (the first row).

Presets (``--preset``):

- ``classification`` (default): backbone, global average pooling and a
  1000-class linear head; training throughput (forward, cross entropy,
  backward, SGD step) and inference throughput (eval mode, no grad).
- ``detection``: the backbone of a detector, batch 2 at 800 x 1216, four
  outputs, ``frozen_stages=1`` and ``norm_eval=True`` (the plain ResNet
  frozen the same way); a training step on the sum of the outputs' means.

On CUDA the peak memory of a training step is reported too. ``--fused
auto,true,false`` measures a DLA-L model per path of its fused step (the
``fused`` option of ``ResNetDLA``); ``--profile`` adds, per model, the CUDA
kernels of a training step (the CPU ops on the CPU), their time against the
wall-clock time and the top ones. ``--amp`` runs the forward
passes and the loss under bfloat16 autocast; ``--shape`` takes S or H W.
Only torch, torchvision, MMEngine and ``mmcv.cnn`` are needed (MMPretrain
only for its ResNet, the CPU's default baseline), so the script runs on a
GPU machine without the rest of the OpenMMLab stack
(``tools/analysis_tools/gpu_table.sh`` runs the whole GPU table)::

    # CPU (baseline: MMPretrain's ResNet-50)
    python tools/analysis_tools/benchmark_backbone.py --device cpu \
        --threads 2 --batch-size 8 --shape 160
    # GPU (baseline: torchvision's ResNet-50)
    python tools/analysis_tools/benchmark_backbone.py --device cuda --amp \
        --channels-last --batch-size 128 --infer-batch-size 256 --shape 224 \
        --fused auto,true,false [--compile] [--profile]
    python tools/analysis_tools/benchmark_backbone.py --device cuda \
        --preset detection --fused auto,false [--amp]
"""
import argparse
import os
import statistics

import torch

from mmdla.analysis import format_profile, profile_step
from mmdla.analysis.backbone_benchmark import (PRESETS, build_models,
                                               format_table, make_steps,
                                               parse_fused, random_images,
                                               time_rounds, train_peak_memory)
from mmdla.engine.cli import (add_amp_argument, add_shape_argument,
                              non_negative_int, positive_int)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument(
        '--preset',
        choices=list(PRESETS),
        default='classification',
        help='classification: backbone, pooling and a linear head, '
        'training and inference; detection: the backbone alone, four '
        'outputs, frozen_stages=1, norm_eval=True, training only')
    parser.add_argument('--depth', type=int, default=50)
    parser.add_argument('--variant', default='light')
    parser.add_argument(
        '--fused',
        type=parse_fused,
        default=('auto', ),
        help='comma list of the DLA-L step paths to measure, one model each '
        '(ResNetDLA(fused=...)): auto, true, false; default: auto')
    parser.add_argument(
        '--baseline',
        choices=['mmpretrain', 'torchvision'],
        help='default: torchvision on CUDA, else mmpretrain')
    parser.add_argument(
        '--batch-size',
        type=positive_int,
        help="training batch; default: the preset's (classification 8, "
        'detection 2)')
    parser.add_argument(
        '--infer-batch-size',
        type=positive_int,
        help='inference batch; default: --batch-size')
    add_shape_argument(
        parser,
        help="image size; default: the preset's (classification 160, "
        'detection 800 1216)')
    parser.add_argument('--threads', type=positive_int, help='CPU threads')
    add_amp_argument(parser)
    parser.add_argument('--channels-last', action='store_true')
    parser.add_argument(
        '--compile', action='store_true', help='torch.compile every model')
    parser.add_argument(
        '--profile',
        type=positive_int,
        nargs='?',
        const=3,
        metavar='STEPS',
        help='profile STEPS (default 3) training steps of each model: CUDA '
        'kernels (CPU ops by self time on the CPU) per step, their time '
        'against the wall-clock time and the top ones')
    parser.add_argument(
        '--iters', type=positive_int, default=5, help='timed steps per round')
    parser.add_argument('--rounds', type=positive_int, default=3)
    parser.add_argument(
        '--warmup',
        type=non_negative_int,
        default=2,
        help='untimed steps of each kind first')
    args = parser.parse_args()
    if args.variant != 'light' and args.fused != ('auto', ):
        parser.error(f'--fused chooses the path of the DLA-L step; '
                     f'--variant {args.variant} has none')
    if (True in args.fused and torch.device(args.device).type == 'cpu'
            and os.environ.get('TRITON_INTERPRET') != '1'):
        parser.error('--fused true on the CPU runs the Triton kernels in '
                     "Triton's interpreter: set TRITON_INTERPRET=1 (slow), "
                     'or measure --fused auto,false')
    return args


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    preset = PRESETS[args.preset]
    batch_size = args.batch_size or preset.batch_size
    infer_batch_size = args.infer_batch_size or batch_size
    shape = args.shape or preset.shape
    baseline = args.baseline or ('torchvision'
                                 if device.type == 'cuda' else 'mmpretrain')
    fmt = (
        torch.channels_last if args.channels_last else torch.contiguous_format)
    models = build_models(preset, args.depth, args.variant, baseline,
                          args.fused)
    x = random_images(batch_size, shape, device, fmt)
    x_infer = (
        random_images(infer_batch_size, shape, device, fmt)
        if 'infer' in preset.kinds else x)
    steps = {
        name:
        make_steps(
            model.to(device, memory_format=fmt), preset, x, x_infer, args.amp,
            args.compile)
        for name, model in models.items()
    }
    peaks = {}
    for name, model_steps in steps.items():
        for _ in range(args.warmup):
            for kind in preset.kinds:
                getattr(model_steps, kind)()
        if device.type == 'cuda':
            peaks[name] = train_peak_memory(model_steps, x)
    seconds = time_rounds(steps, preset.kinds, args.rounds, args.iters, device)

    where = (
        torch.cuda.get_device_name(device)
        if device.type == 'cuda' else f'{torch.get_num_threads()} threads')
    batches = dict(train=batch_size, infer=infer_batch_size)
    batches = {kind: batches[kind] for kind in preset.kinds}
    print(f'device: {device} ({where}), torch {torch.__version__}, '
          f'preset {args.preset} (out_indices={preset.out_indices}, '
          f'frozen_stages={preset.frozen_stages}, '
          f'norm_eval={preset.norm_eval}), batch ' +
          ', '.join(f'{batch} ({kind})' for kind, batch in batches.items()) +
          f', {shape[0]}x{shape[1]}, amp={args.amp}, '
          f'channels_last={args.channels_last}, compile={args.compile}; '
          f'median of {args.rounds} rounds of {args.iters} steps')
    print('\n'.join(format_table(seconds, batches, peaks)))
    if args.profile:
        for name, model_steps in steps.items():
            wall_ms = statistics.median(seconds[name]['train']) * 1000
            profile = profile_step(model_steps.train, args.profile, device)
            print(f'\nProfile of a training step of {name} '
                  f'({args.profile} steps):')
            print('\n'.join(format_profile(profile, wall_ms)))


if __name__ == '__main__':
    main()
