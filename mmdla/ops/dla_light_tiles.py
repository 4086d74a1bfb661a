"""Tiles of the fused DLA-L kernels: how a shape is cut into programs.

Pure Python (no Triton), so that the fake implementations of the custom ops
(meta device, ``torch.compile`` tracing) know the sizes of the partial sums
without importing the kernels. The tile shape is a table keyed on the
layout, ``C`` and ``H * W``: a shape is always cut, and so reduced, the same
way, which keeps the results bitwise reproducible.
"""
from typing import NamedTuple, Tuple

import torch

TAPS = 9  # taps of a 3x3 kernel
# Programs an owner-computes reduction over positions aims for.
TARGET_PROGRAMS = 1024


def cdiv(a: int, b: int) -> int:
    return -(-a // b)


def next_power_of_2(n: int) -> int:
    return 1 << max(n - 1, 0).bit_length()


class TileConfig(NamedTuple):
    """Tile shape of the full-size kernels for one tensor shape."""
    block_p: int  # positions per tile
    block_c: int  # channels per tile
    num_warps: int  # warps of the element-wise and reduction kernels
    reduce_warps: int  # warps of the backward reduction (more live tiles)


def is_channels_last(x: torch.Tensor) -> bool:
    return x.shape[1] > 1 and x.stride(1) == 1


def tile_config(x: torch.Tensor) -> TileConfig:
    """The tile shape for ``x`` ``[N, C, H, W]``.

    channels_last: up to 64 channels a row (128 bytes in half precision, a
    cache line), 64 positions (32 for maps of at most 32 positions). NCHW:
    up to 128 positions along the contiguous dimension by 16 channels.
    """
    c, hw = x.shape[1], x.shape[2] * x.shape[3]
    if is_channels_last(x):
        return TileConfig(32 if hw <= 32 else 64, min(64, next_power_of_2(c)),
                          4, 8)
    return TileConfig(
        min(128, max(16, next_power_of_2(hw))), min(16, next_power_of_2(c)),
        4, 8)


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
    """Rows ``R`` (one per sample and tile) of the partial sums of the
    backward reduction."""
    return x.shape[0] * tile_grid(x, tile_config(x)).tiles


def tap_families(batch_stats: bool) -> int:
    """Families of tap sums the backward reduction stores (see
    :mod:`.dla_light_kernels`): ``sum g' x_t`` and ``sum g' r_t``, and under
    batch statistics also ``sum x_t``, ``sum r_t``, ``sum o x_t`` and
    ``sum o r_t``."""
    return 6 if batch_stats else 2
