"""Check the fused DLA-L step against a float64 reference on one device.

The fused step, the PyTorch path and the PyTorch path in float64 of one
DLA-L backbone run the same training step; printed: each path's largest
relative error against float64 among the outputs, the parameters'
gradients and the running statistics, the tensors where the fused step's
error exceeds the PyTorch path's most, and whether two identical fused
steps agree bit for bit::

    python tools/analysis_tools/check_fused_step.py --device cuda
    python tools/analysis_tools/check_fused_step.py --device cuda --amp \
        --batch-size 2 --shape 800 1216 --frozen-stages 1 --norm-eval

On the CPU the kernels run in Triton's interpreter (``TRITON_INTERPRET=1``
is set for you): slow, for small ``--depth``, ``--batch-size`` and
``--shape`` only.
"""
import argparse

import torch

from mmdla.engine.cli import (add_amp_argument, add_shape_argument,
                              kernel_device, positive_int)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--device', default='cuda'
                        if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--depth', type=int, default=50)
    parser.add_argument('--batch-size', type=positive_int, default=8)
    add_shape_argument(parser, default=(224, ))
    add_amp_argument(parser)
    parser.add_argument('--nchw', action='store_true',
                        help='NCHW inputs instead of channels_last')
    parser.add_argument('--frozen-stages', type=int, default=-1)
    parser.add_argument('--norm-eval', action='store_true')
    parser.add_argument('--worst', type=positive_int, default=5,
                        help='how many of the largest differences to list')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    device = kernel_device(args.device)
    if device.type == 'cuda':  # compare the kernels, not TF32 rounding
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    from mmdla.analysis.fused_check import check_fused_step
    result = check_fused_step(
        args.depth, args.batch_size, args.shape, device, amp=args.amp,
        channels_last=not args.nchw, out_indices=(0, 1, 2, 3),
        frozen_stages=args.frozen_stages, norm_eval=args.norm_eval)
    errors = result['errors']
    fused = max(errors.items(), key=lambda item: item[1][0])
    pytorch = max(errors.items(), key=lambda item: item[1][1])
    print(f'device: {device}, ResNet-{args.depth} DLA-L, batch '
          f'{args.batch_size}, {args.shape[0]}x{args.shape[1]}, '
          f'amp={args.amp}, channels_last={not args.nchw}')
    print(f'tensors compared: {len(errors)}; largest relative error against '
          f'float64: fused step {fused[1][0]:.2e} ({fused[0]}), PyTorch path '
          f'{pytorch[1][1]:.2e} ({pytorch[0]})')
    print('fused step error / PyTorch path error, largest:')
    ratios = sorted(
        errors.items(),
        key=lambda item: -item[1][0] / max(item[1][1], 1e-12))
    for name, (err_fused, err_pytorch) in ratios[:args.worst]:
        print(f'  {err_fused:.2e} / {err_pytorch:.2e}  {name}')
    print('two identical fused steps bitwise equal: '
          f"{'yes' if result['deterministic'] else 'NO'}")


if __name__ == '__main__':
    main()
