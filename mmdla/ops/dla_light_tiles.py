"""Tiles of the fused DLA-L kernels: how a shape is cut into programs, and
the one layout the full-size tensors of a launch share.

Pure Python (no Triton), so that the fake implementations of the custom ops
(meta device, ``torch.compile`` tracing) know the sizes of the partial sums
without importing the kernels. The tile shape is a table keyed on the
layout and ``C``: a shape is always cut, and so reduced, the same
way, which keeps the results bitwise reproducible.
"""
from typing import NamedTuple, Tuple

import torch

# Programs an owner-computes reduction over positions aims for.
TARGET_PROGRAMS = 1024


def cdiv(a: int, b: int) -> int:
    return -(-a // b)


def next_power_of_2(n: int) -> int:
    return 1 << max(n - 1, 0).bit_length()


class TileConfig(NamedTuple):
    """Tile shape of a full-size kernel for one tensor shape."""
    block_p: int  # positions per tile
    block_c: int  # channels per tile
    num_warps: int


def in_layout_of(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``t`` with the strides of ``x`` (a copy only where they differ): the
    full-size tensors of one launch share ``x``'s layout."""
    if t.stride() == x.stride():
        return t
    return torch.empty_like(x, dtype=t.dtype).copy_(t)


def is_channels_last(x: torch.Tensor) -> bool:
    return x.shape[1] > 1 and x.stride(1) == 1


def tile_config(x: torch.Tensor) -> TileConfig:
    """The tile shape of the element-wise kernels and the forward
    reductions for ``x`` ``[N, C, H, W]``: rows of contiguous elements (64
    channels in channels_last, 128 bytes in half precision; positions in
    NCHW), about 1024 elements a program, so that no kernel spills
    registers on sm_90 (``tests/test_ops/test_kernel_resources.py``)."""
    c = x.shape[1]
    if is_channels_last(x):
        return TileConfig(16, min(64, next_power_of_2(c)), 8)
    return TileConfig(64, min(16, next_power_of_2(c)), 8)


def reduction_tile_config(x: torch.Tensor) -> TileConfig:
    """The tile shape of the backward reduction, which holds ``x`` and
    ``r`` at the 9 taps (``[16, BLOCK_P, BLOCK_C]`` each): at most 128
    registers a thread and no spills on sm_90."""
    c = x.shape[1]
    if is_channels_last(x):
        return TileConfig(2, min(32, next_power_of_2(c)), 8)
    return TileConfig(32, min(4, next_power_of_2(c)), 8)


class Grid(NamedTuple):
    """The tiles of a tensor ``[N, C, H, W]`` under a :class:`TileConfig`."""
    tiles: int  # tiles of positions per sample
    channel_blocks: int


def tile_grid(x: torch.Tensor, config: TileConfig) -> Grid:
    n, c, h, w = x.shape
    return Grid(cdiv(h * w, config.block_p), cdiv(c, config.block_c))


def position_splits(x: torch.Tensor, config: TileConfig) -> Tuple[int, int]:
    """``(splits, tiles per split)``: how the owner-computes reductions over
    positions divide each ``(sample, channel block)``, so that about
    :data:`TARGET_PROGRAMS` programs run (a small batch of large maps, as
    in detection, needs many splits)."""
    tiles, channel_blocks = tile_grid(x, config)
    owners = x.shape[0] * channel_blocks
    per_split = cdiv(tiles, max(1, min(tiles, TARGET_PROGRAMS // owners)))
    return cdiv(tiles, per_split), per_split


def output_sums_rows(x: torch.Tensor) -> int:
    """Rows ``R`` (one per sample and split) of the partial sums of the
    forward reduction."""
    return x.shape[0] * position_splits(x, tile_config(x))[0]


def grad_reduce_rows(x: torch.Tensor) -> int:
    """Rows ``R`` (one per sample and split) of the partial sums of the
    backward reduction."""
    return x.shape[0] * position_splits(x, reduction_tile_config(x))[0]
