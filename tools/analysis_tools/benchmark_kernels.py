"""Speed of each fused DLA-L custom op against the memory bandwidth.

Every op of the fused DLA-L step runs alone at the shapes of one preset
(ResNet-50 stages at batch 128, 224 x 224; or a detector's backbone stages
at batch 2, 800 x 1216), channels_last, and is timed with
``triton.testing.do_bench``. Each row gives the milliseconds, the bytes it
must move per second and their share of the bandwidth (4.8 TB/s, an H200,
unless ``--bandwidth`` says otherwise)::

    python tools/analysis_tools/benchmark_kernels.py --device cuda
    python tools/analysis_tools/benchmark_kernels.py --device cuda \
        --preset detection --dtype float32

On the CPU the kernels run in Triton's interpreter (``TRITON_INTERPRET=1``
is set for you): slow, only for checking the tool at a small ``--batch-size``
and ``--stages``.
"""
import argparse

import torch

from mmdla.engine.cli import kernel_device, positive_int

DTYPES = dict(bfloat16=torch.bfloat16, float16=torch.float16,
              float32=torch.float32)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--device', default='cuda'
                        if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--preset', default='classification',
                        choices=['classification', 'detection'])
    parser.add_argument('--dtype', default='bfloat16', choices=list(DTYPES))
    parser.add_argument('--batch-size', type=positive_int,
                        help="default: the preset's (128 or 2)")
    parser.add_argument(
        '--stages',
        type=positive_int,
        nargs=3,
        action='append',
        metavar=('C', 'H', 'W'),
        help="a block shape (repeatable); default: the preset's four stages")
    parser.add_argument('--bandwidth', type=float, default=4.8,
                        help='memory bandwidth in TB/s')
    parser.add_argument('--iters', type=positive_int, default=3,
                        help='timed calls per op (CPU only)')
    args = parser.parse_args()
    if args.bandwidth <= 0:
        parser.error(f'--bandwidth must be > 0, got {args.bandwidth}')
    return args


def main() -> None:
    args = parse_args()
    device = kernel_device(args.device)
    from mmdla.analysis.kernel_benchmark import PRESETS, benchmark_ops
    batch, stages = PRESETS[args.preset]
    batch = args.batch_size or batch
    stages = [tuple(s) for s in args.stages] if args.stages else stages
    where = (torch.cuda.get_device_name(device)
             if device.type == 'cuda' else 'CPU, Triton interpreter')
    print(f'device: {device} ({where}), torch {torch.__version__}, '
          f'{args.dtype}, channels_last, batch {batch}')
    print(f'| op | shape | ms | GB/s | share of {args.bandwidth:g} TB/s |')
    print('|---|---|---|---|---|')
    for row in benchmark_ops(batch, stages, DTYPES[args.dtype], device,
                             args.bandwidth * 1e12, args.iters):
        print(f"| {row['op']} | {row['shape']} | {row['ms']:.3g} | "
              f"{row['gbps']:.3g} | {row['share']:.1%} |")


if __name__ == '__main__':
    main()
