"""Command-line options shared by the analysis tools, so that they mean
the same in every tool."""
import argparse
import os
from typing import Optional, Sequence, Tuple

import torch


class _ShapeAction(argparse.Action):
    """Stores one or two positive integers as an ``(H, W)`` tuple."""

    def __call__(self, parser, namespace, values, option_string=None):
        if len(values) not in (1, 2):
            parser.error(f'{option_string} takes one or two integers '
                         f'(S, or H W), got {len(values)}.')
        if min(values) < 1:
            parser.error(f'{option_string} must be >= 1, got '
                         f'{" ".join(map(str, values))}')
        setattr(namespace, self.dest, input_shape(values))


def add_shape_argument(parser: argparse.ArgumentParser,
                       default: Optional[Sequence[int]] = None,
                       help: str = 'input height and width') -> None:
    """``--shape S`` or ``--shape H W``: the input height and width, parsed
    to an ``(H, W)`` tuple (``(S, S)`` for one number)."""
    parser.add_argument(
        '--shape',
        type=int,
        nargs='+',
        action=_ShapeAction,
        metavar='S',
        default=None if default is None else input_shape(default),
        help=f'{help}: S for S x S, or H W')


def input_shape(values: Sequence[int]) -> Tuple[int, int]:
    """``(S, )`` -> ``(S, S)``; ``(H, W)`` -> ``(H, W)``."""
    return (values[0], values[0]) if len(values) == 1 else tuple(values)


def kernel_device(name: str) -> torch.device:
    """The device ``name`` of a tool that runs the fused kernels of
    :mod:`mmdla.ops`. On the CPU they run in Triton's interpreter:
    ``TRITON_INTERPRET=1`` is set (unless the environment sets it), which
    must happen before the kernels are imported."""
    device = torch.device(name)
    if device.type == 'cpu':
        os.environ.setdefault('TRITON_INTERPRET', '1')
    return device


def add_amp_argument(parser: argparse.ArgumentParser) -> None:
    """``--amp``: the forward passes under bfloat16 autocast."""
    parser.add_argument(
        '--amp',
        action='store_true',
        help='bfloat16 mixed precision: forward passes (and the loss) under '
        'torch.autocast(dtype=torch.bfloat16), on the CPU or a GPU; '
        'weights, gradients and optimizer state stay float32 and no loss '
        'scaling is needed')


def amp_autocast(device: torch.device, enabled: bool) -> torch.autocast:
    """The autocast context of ``--amp`` on ``device``."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled)
