"""Triton kernels of the fused DLA-L block step.

Per sample ``n`` and channel ``c`` the step applies two depthwise 3x3
kernels, ``kx`` to the block output ``x`` and ``kr`` to its shortcut ``r``
(both ``[N, 9, C]`` fp32, tap-major, the gates already folded in)::

    o = DW_kx(x) + DW_kr(r)                              # [N, C, H, W]
    y = x + s[n] * (alpha[c] * o + beta[c])              # affine norm

With ``PRE_ACT`` the kernels receive the block's residual branch ``z``
instead of ``x`` and form the block output ``x = relu(z + r)`` wherever
they read it (rounded to the tensors' dtype, as the block would store it),
so that the block's residual add and ReLU are fused into the step.

**Layout.** Every full-size tensor of one launch shares one layout, given
by three strides: ``stride_n``, ``stride_c`` and ``stride_p``, the stride of
a spatial position ``p = h * W + w`` (NCHW: ``stride_p = 1``; channels_last:
``stride_c = 1``, so that a tile's rows of channels are contiguous and load
as vectors). The launchers bring the inputs to ``x``'s layout.

**Tiles.** A program works on tiles of ``BLOCK_P`` positions by
``BLOCK_C`` channels of one sample, loads in the tensors' dtype and
accumulates in fp32. The tile shape is chosen per shape and layout by
:func:`tile_config` (a table, so that a shape always reduces in the same
order).

**Reductions without atomics.** Every reduction is deterministic: a program
owns its outputs and stores each once. The spatial means and the norm's
batch sums are owner-computes over a split of the positions (a program
loops over its tiles, accumulating in registers), stored as partial rows;
the backward reduction stores one partial row per tile. The consumers of the
partial rows (:func:`_norm_coefficients_kernel`,
:func:`_norm_grad_coefficients_kernel`, :func:`_kernel_grads_kernel`, or a
``sum`` in PyTorch) add them in a fixed order. ``o`` is never stored in the
forward pass: the kernels that need it recompute it from ``x`` and ``r``.

The rows of the small buffers and the literal sizes are the layout
contract's (:mod:`.dla_light_layout`). This module is imported on first use
(by the ops of :mod:`.dla_light_ops`): Triton decides when a kernel is
defined whether it runs compiled or, with ``TRITON_INTERPRET=1``, in its
NumPy interpreter. The kernels call only Triton builtins and functions of
this module and :mod:`.triton_helpers` (no ``tl.sum``, ``tl.zeros``), so
that the interpreter runs them even if Triton was imported before the
variable was set.
"""
from typing import Optional, Tuple

import torch
import triton
import triton.language as tl

from . import dla_light_layout as layout
from .dla_light_tiles import (TileConfig, in_layout_of, next_power_of_2,
                              position_splits, reduction_tile_config,
                              tile_config, tile_grid)
from .triton_helpers import column_sums, launch, row_sums

# The layout contract (:mod:`.dla_light_layout`), as constexprs.
TAPS = tl.constexpr(layout.TAPS)
TAP_ROWS = tl.constexpr(layout.TAP_ROWS)
MEANS = tl.constexpr(layout.MEANS)
MEAN_X = tl.constexpr(layout.MEAN_X)
MEAN_R = tl.constexpr(layout.MEAN_R)
SUMS = tl.constexpr(layout.SUMS)
SUM_FIRST = tl.constexpr(layout.SUM_FIRST)
SUM_SECOND = tl.constexpr(layout.SUM_SECOND)
COEF_MEAN = tl.constexpr(layout.COEF_MEAN)
COEF_INV_STD = tl.constexpr(layout.COEF_INV_STD)
COEF_ALPHA = tl.constexpr(layout.COEF_ALPHA)
COEF_SHIFT = tl.constexpr(layout.COEF_SHIFT)
GRAD_WEIGHT = tl.constexpr(layout.GRAD_WEIGHT)
GRAD_BIAS = tl.constexpr(layout.GRAD_BIAS)
GRAD_COEF_1 = tl.constexpr(layout.GRAD_COEF_1)
GRAD_COEF_O = tl.constexpr(layout.GRAD_COEF_O)
TAP_G_X = tl.constexpr(layout.TAP_G_X)
TAP_G_R = tl.constexpr(layout.TAP_G_R)
TAP_X = tl.constexpr(layout.TAP_X)
TAP_R = tl.constexpr(layout.TAP_R)
TAP_O_X = tl.constexpr(layout.TAP_O_X)
TAP_O_R = tl.constexpr(layout.TAP_O_R)
AFFINE_TAP_FAMILIES = tl.constexpr(layout.AFFINE_TAP_FAMILIES)
BATCH_TAP_FAMILIES = tl.constexpr(layout.BATCH_TAP_FAMILIES)


@triton.jit
def _channels(C, BLOCK_C: tl.constexpr):
    """Channels of this program (``program_id(1)``) and their mask."""
    offs_c = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)
    return offs_c, offs_c < C


@triton.jit
def _positions(tile, H, W, BLOCK_P: tl.constexpr):
    """Positions ``p``, rows ``h``, columns ``w`` of a tile and its mask."""
    offs_p = tile * BLOCK_P + tl.arange(0, BLOCK_P)
    return offs_p, offs_p // W, offs_p % W, offs_p < H * W


@triton.jit
def _load(ptr, base, offs_p, h, w, dh, dw, offs_c, mask_p, mask_c, H, W,
          stride_c, stride_p):
    """``ptr[n, c, h + dh, w + dw]`` as fp32 ``[BLOCK_P, BLOCK_C]``
    (``base`` is ``n * stride_n``), zero outside the image (the 3x3
    convolutions' padding)."""
    hh, ww = h + dh, w + dw
    inside = mask_p & (hh >= 0) & (hh < H) & (ww >= 0) & (ww < W)
    offs = (base + (offs_p + dh * W + dw)[:, None] * stride_p +
            offs_c[None, :] * stride_c)
    return tl.load(
        ptr + offs, mask=inside[:, None] & mask_c[None, :],
        other=0.).to(tl.float32)


@triton.jit
def _store(ptr, value, base, offs_p, offs_c, mask_p, mask_c, stride_c,
           stride_p):
    """Store a ``[BLOCK_P, BLOCK_C]`` tile in ``ptr``'s dtype."""
    offs = base + offs_p[:, None] * stride_p + offs_c[None, :] * stride_c
    tl.store(
        ptr + offs,
        value.to(ptr.dtype.element_ty),
        mask=mask_p[:, None] & mask_c[None, :])


@triton.jit
def _block_output(z, r, like):
    """The block output ``relu(z + r)`` from fp32 ``z`` and ``r``, rounded
    to the dtype of the tensor ``like`` points to, as the block would store
    it."""
    v = z + r
    return tl.where(v > 0, v, 0.).to(like.dtype.element_ty).to(tl.float32)


@triton.jit
def _load_x(x, r, base, offs_p, h, w, dh, dw, offs_c, mask_p, mask_c, H, W,
            stride_c, stride_p, PRE_ACT: tl.constexpr):
    """The block output ``x`` at offset ``(dh, dw)``: loaded, or with
    ``PRE_ACT`` ``relu(z + r)`` from the residual branch ``z`` (passed as
    ``x``)."""
    v = _load(x, base, offs_p, h, w, dh, dw, offs_c, mask_p, mask_c, H, W,
              stride_c, stride_p)
    if PRE_ACT:
        v = _block_output(
            v, _load(r, base, offs_p, h, w, dh, dw, offs_c, mask_p, mask_c,
                     H, W, stride_c, stride_p), x)
    return v


@triton.jit
def _tap(x, r, t: tl.constexpr, base, offs_p, h, w, offs_c, mask_p, mask_c,
         H, W, stride_c, stride_p, PRE_ACT: tl.constexpr):
    """``x`` (see :func:`_load_x`) and ``r`` at tap ``t`` of the 3x3
    kernels, fp32 ``[BLOCK_P, BLOCK_C]`` each, zero outside the image."""
    dh, dw = t // 3 - 1, t % 3 - 1
    vx = _load_x(x, r, base, offs_p, h, w, dh, dw, offs_c, mask_p, mask_c, H,
                 W, stride_c, stride_p, PRE_ACT)
    vr = _load(r, base, offs_p, h, w, dh, dw, offs_c, mask_p, mask_c, H, W,
               stride_c, stride_p)
    return vx, vr


@triton.jit
def _kernel_tap(k, n, t: tl.constexpr, offs_c, mask_c, C):
    """Tap ``t`` of sample ``n``'s kernels ``k`` ``[N, 9, C]``, ``[1,
    BLOCK_C]``."""
    return tl.load(k + (n * TAPS + t) * C + offs_c, mask=mask_c,
                   other=0.)[None, :]


@triton.jit
def _gated_output(x, r, kx, kr, n, base, offs_p, h, w, offs_c, mask_p, mask_c,
                  C, H, W, stride_c, stride_p, PRE_ACT: tl.constexpr,
                  BLOCK_P: tl.constexpr, BLOCK_C: tl.constexpr):
    """``o = DW_kx(x) + DW_kr(r)`` on the tile, fp32."""
    o = tl.full((BLOCK_P, BLOCK_C), 0., tl.float32)
    for t in tl.static_range(TAPS):
        vx, vr = _tap(x, r, t, base, offs_p, h, w, offs_c, mask_p, mask_c, H,
                      W, stride_c, stride_p, PRE_ACT)
        o += vx * _kernel_tap(kx, n, t, offs_c, mask_c, C)
        o += vr * _kernel_tap(kr, n, t, offs_c, mask_c, C)
    return o


@triton.jit
def _split_sums_kernel(x, r, kx, kr, partial, C, H, W, stride_n, stride_c,
                       stride_p, tiles_per_split, factor,
                       GATED: tl.constexpr, PRE_ACT: tl.constexpr,
                       BLOCK_P: tl.constexpr, BLOCK_C: tl.constexpr):
    """Sums over one split of the positions of one sample, times
    ``factor``: of ``x`` and ``r`` (the spatial means, with ``factor = 1 /
    (H * W)``), or with ``GATED`` of ``o`` and ``o ** 2`` (the norm's batch
    statistics). Stored as the partial row ``n * splits + split`` of
    ``partial`` ``[R, 2, C]``. Grid ``(splits, channel blocks, N)``."""
    split, n = tl.program_id(0), tl.program_id(2).to(tl.int64)
    offs_c, mask_c = _channels(C, BLOCK_C)
    base = n * stride_n
    acc_first = tl.full((BLOCK_P, BLOCK_C), 0., tl.float32)
    acc_second = tl.full((BLOCK_P, BLOCK_C), 0., tl.float32)
    for i in range(tiles_per_split):
        offs_p, h, w, mask_p = _positions(split * tiles_per_split + i, H, W,
                                          BLOCK_P)
        if GATED:
            o = _gated_output(x, r, kx, kr, n, base, offs_p, h, w, offs_c,
                              mask_p, mask_c, C, H, W, stride_c, stride_p,
                              PRE_ACT, BLOCK_P, BLOCK_C)
            acc_first += o
            acc_second += o * o
        else:
            acc_first += _load_x(x, r, base, offs_p, h, w, 0, 0, offs_c,
                                 mask_p, mask_c, H, W, stride_c, stride_p,
                                 PRE_ACT)
            acc_second += _load(r, base, offs_p, h, w, 0, 0, offs_c, mask_p,
                                mask_c, H, W, stride_c, stride_p)
    out = partial + (n * tl.num_programs(0) + split) * SUMS * C + offs_c
    tl.store(out + SUM_FIRST * C, column_sums(acc_first) * factor,
             mask=mask_c)
    tl.store(out + SUM_SECOND * C, column_sums(acc_second) * factor,
             mask=mask_c)


@triton.jit
def _epilogue_kernel(x, r, kx, kr, alpha, beta, scale, y, C, H, W, stride_n,
                     stride_c, stride_p, PRE_ACT: tl.constexpr,
                     BLOCK_P: tl.constexpr, BLOCK_C: tl.constexpr):
    """``y = x + scale[n] * (alpha * o + beta)`` on one tile. Grid
    ``(tiles, channel blocks, N)``."""
    n = tl.program_id(2).to(tl.int64)
    offs_c, mask_c = _channels(C, BLOCK_C)
    offs_p, h, w, mask_p = _positions(tl.program_id(0), H, W, BLOCK_P)
    base = n * stride_n
    o = _gated_output(x, r, kx, kr, n, base, offs_p, h, w, offs_c, mask_p,
                      mask_c, C, H, W, stride_c, stride_p, PRE_ACT, BLOCK_P,
                      BLOCK_C)
    a = tl.load(alpha + offs_c, mask=mask_c, other=0.)
    b = tl.load(beta + offs_c, mask=mask_c, other=0.)
    out = _load_x(x, r, base, offs_p, h, w, 0, 0, offs_c, mask_p, mask_c, H,
                  W, stride_c, stride_p, PRE_ACT)
    out += tl.load(scale + n) * (o * a[None, :] + b[None, :])
    _store(y, out, base, offs_p, offs_c, mask_p, mask_c, stride_c, stride_p)


@triton.jit
def _load_taps(ptr, base, offs_p, h, w, offs_t, offs_c, mask_p, mask_c, H, W,
               stride_c, stride_p):
    """``ptr`` at the 9 taps of the 3x3 kernels (rows ``t < 9`` of the
    first axis), fp32 ``[16, BLOCK_P, BLOCK_C]``, zero outside the image and
    in rows ``t >= 9``."""
    dh, dw = (offs_t // 3 - 1)[:, None], (offs_t % 3 - 1)[:, None]
    hh, ww = h[None, :] + dh, w[None, :] + dw
    inside = ((offs_t < TAPS)[:, None] & mask_p[None, :] & (hh >= 0) & (hh < H)
              & (ww >= 0) & (ww < W))
    offs = (base + (offs_p[None, :] + dh * W + dw)[:, :, None] * stride_p +
            offs_c[None, None, :] * stride_c)
    return tl.load(
        ptr + offs, mask=inside[:, :, None] & mask_c[None, None, :],
        other=0.).to(tl.float32)


@triton.jit
def _store_taps(taps, row, family: tl.constexpr, v, offs_t, offs_c, mask_c,
                C, FAMILIES: tl.constexpr):
    """Store rows ``t < 9`` of ``v`` ``[16, BLOCK_C]`` as the tap sums of
    ``family`` in partial row ``row``."""
    dst = ((row * FAMILIES + family) * TAPS + offs_t)[:, None] * C + offs_c
    tl.store(taps + dst, v, mask=(offs_t < TAPS)[:, None] & mask_c[None, :])


@triton.jit
def _grad_reduce_kernel(g, x, r, kx, kr, scale, o_out, sums, taps, C, H, W,
                        stride_n, stride_c, stride_p, tiles_per_split,
                        BATCH_STATS: tl.constexpr, PRE_ACT: tl.constexpr,
                        BLOCK_P: tl.constexpr, BLOCK_C: tl.constexpr):
    """The backward reduction over one split of the positions of one
    sample (partial row ``n * splits + split``), owner-computes.

    Loops over the split's tiles, loading ``x`` and ``r`` at the 9 taps as
    ``[16, BLOCK_P, BLOCK_C]`` tensors, and accumulates in registers the
    norm's sums ``[sum g', sum g' o]`` (stored in ``sums`` ``[R, 2, C]``)
    and the tap sums (``TAP_*``, stored in ``taps`` ``[R, F * 9, C]``),
    from which the kernels' gradients follow once the norm's coefficients
    are known; under ``BATCH_STATS`` it also stores ``o`` (for
    :func:`_input_grads_kernel`). Grid ``(splits, channel blocks, N)``.
    """
    FAMILIES: tl.constexpr = (BATCH_TAP_FAMILIES
                              if BATCH_STATS else AFFINE_TAP_FAMILIES)
    split, n = tl.program_id(0), tl.program_id(2).to(tl.int64)
    offs_c, mask_c = _channels(C, BLOCK_C)
    offs_t = tl.arange(0, TAP_ROWS)
    base = n * stride_n
    # the sample's kernels, [TAP_ROWS, 1, BLOCK_C] (taps t < TAPS)
    k_rows = (n * TAPS + offs_t)[:, None] * C + offs_c[None, :]
    k_mask = (offs_t < TAPS)[:, None] & mask_c[None, :]
    kx3 = tl.load(kx + k_rows, mask=k_mask, other=0.)[:, None, :]
    kr3 = tl.load(kr + k_rows, mask=k_mask, other=0.)[:, None, :]
    s = tl.load(scale + n)
    acc_g = tl.full((BLOCK_C, ), 0., tl.float32)
    acc_go = tl.full((BLOCK_C, ), 0., tl.float32)
    acc_gx = tl.full((TAP_ROWS, BLOCK_C), 0., tl.float32)
    acc_gr = tl.full((TAP_ROWS, BLOCK_C), 0., tl.float32)
    acc_x = tl.full((TAP_ROWS, BLOCK_C), 0., tl.float32)
    acc_r = tl.full((TAP_ROWS, BLOCK_C), 0., tl.float32)
    acc_ox = tl.full((TAP_ROWS, BLOCK_C), 0., tl.float32)
    acc_or = tl.full((TAP_ROWS, BLOCK_C), 0., tl.float32)
    for i in range(tiles_per_split):
        offs_p, h, w, mask_p = _positions(split * tiles_per_split + i, H, W,
                                          BLOCK_P)
        gs = _load(g, base, offs_p, h, w, 0, 0, offs_c, mask_p, mask_c, H, W,
                   stride_c, stride_p) * s
        r3 = _load_taps(r, base, offs_p, h, w, offs_t, offs_c, mask_p, mask_c,
                        H, W, stride_c, stride_p)
        x3 = _load_taps(x, base, offs_p, h, w, offs_t, offs_c, mask_p, mask_c,
                        H, W, stride_c, stride_p)
        if PRE_ACT:
            x3 = _block_output(x3, r3, x)
        o = column_sums(x3 * kx3 + r3 * kr3)
        if BATCH_STATS:
            _store(o_out, o, base, offs_p, offs_c, mask_p, mask_c, stride_c,
                   stride_p)
        acc_g += column_sums(gs)
        acc_go += column_sums(gs * o)
        acc_gx += row_sums(gs[None, :, :] * x3)
        acc_gr += row_sums(gs[None, :, :] * r3)
        if BATCH_STATS:
            acc_x += row_sums(x3)
            acc_r += row_sums(r3)
            acc_ox += row_sums(o[None, :, :] * x3)
            acc_or += row_sums(o[None, :, :] * r3)
    row = n * tl.num_programs(0) + split
    out = sums + row * SUMS * C + offs_c
    tl.store(out + SUM_FIRST * C, acc_g, mask=mask_c)
    tl.store(out + SUM_SECOND * C, acc_go, mask=mask_c)
    _store_taps(taps, row, TAP_G_X, acc_gx, offs_t, offs_c, mask_c, C,
                FAMILIES)
    _store_taps(taps, row, TAP_G_R, acc_gr, offs_t, offs_c, mask_c, C,
                FAMILIES)
    if BATCH_STATS:
        _store_taps(taps, row, TAP_X, acc_x, offs_t, offs_c, mask_c, C,
                    FAMILIES)
        _store_taps(taps, row, TAP_R, acc_r, offs_t, offs_c, mask_c, C,
                    FAMILIES)
        _store_taps(taps, row, TAP_O_X, acc_ox, offs_t, offs_c, mask_c, C,
                    FAMILIES)
        _store_taps(taps, row, TAP_O_R, acc_or, offs_t, offs_c, mask_c, C,
                    FAMILIES)


@triton.jit
def _batch_grad_coefs(grad_coefs, offs_c, mask_c, C):
    """``coef_1`` and ``coef_o`` of the norm's gradient under batch
    statistics, ``[1, BLOCK_C]`` each."""
    c1 = tl.load(grad_coefs + GRAD_COEF_1 * C + offs_c, mask=mask_c, other=0.)
    co = tl.load(grad_coefs + GRAD_COEF_O * C + offs_c, mask=mask_c, other=0.)
    return c1[None, :], co[None, :]


@triton.jit
def _sum_tap_family(taps, n, family: tl.constexpr, offs_t, offs_c, mask,
                    tiles, C, FAMILIES: tl.constexpr, BLOCK_C: tl.constexpr):
    """Sum over the tiles of sample ``n``, in order, of one family of tap
    sums: ``[16, BLOCK_C]`` (rows ``t < 9``)."""
    acc = tl.full((TAP_ROWS, BLOCK_C), 0., tl.float32)
    rows = (offs_t + family * TAPS)[:, None] * C + offs_c[None, :]
    for tile in range(tiles):
        acc += tl.load(
            taps + (n * tiles + tile) * FAMILIES * TAPS * C + rows,
            mask=mask,
            other=0.)
    return acc


@triton.jit
def _kernel_grads_kernel(taps, coefs, grad_coefs, dkx, dkr, C, tiles,
                         BATCH_STATS: tl.constexpr, BLOCK_C: tl.constexpr):
    """The kernels' gradients ``dkx``, ``dkr`` ``[N, 9, C]`` from the tap
    sums of :func:`_grad_reduce_kernel`::

        dk[t] = alpha sum g' k_t (+ coef_1 sum k_t + coef_o sum o k_t)

    for ``k`` = ``x``, ``r`` (the terms in brackets under batch
    statistics). Grid ``(1, channel blocks, N)``.
    """
    FAMILIES: tl.constexpr = (BATCH_TAP_FAMILIES
                              if BATCH_STATS else AFFINE_TAP_FAMILIES)
    n = tl.program_id(2).to(tl.int64)
    offs_c, mask_c = _channels(C, BLOCK_C)
    offs_t = tl.arange(0, TAP_ROWS)
    mask = (offs_t < TAPS)[:, None] & mask_c[None, :]
    alpha = tl.load(
        coefs + COEF_ALPHA * C + offs_c, mask=mask_c, other=0.)[None, :]
    grad_x = alpha * _sum_tap_family(taps, n, TAP_G_X, offs_t, offs_c, mask,
                                     tiles, C, FAMILIES, BLOCK_C)
    grad_r = alpha * _sum_tap_family(taps, n, TAP_G_R, offs_t, offs_c, mask,
                                     tiles, C, FAMILIES, BLOCK_C)
    if BATCH_STATS:
        c1, co = _batch_grad_coefs(grad_coefs, offs_c, mask_c, C)
        grad_x += c1 * _sum_tap_family(taps, n, TAP_X, offs_t, offs_c, mask,
                                       tiles, C, FAMILIES, BLOCK_C)
        grad_x += co * _sum_tap_family(taps, n, TAP_O_X, offs_t, offs_c,
                                       mask, tiles, C, FAMILIES, BLOCK_C)
        grad_r += c1 * _sum_tap_family(taps, n, TAP_R, offs_t, offs_c, mask,
                                       tiles, C, FAMILIES, BLOCK_C)
        grad_r += co * _sum_tap_family(taps, n, TAP_O_R, offs_t, offs_c,
                                       mask, tiles, C, FAMILIES, BLOCK_C)
    dst = (n * TAPS + offs_t)[:, None] * C + offs_c[None, :]
    tl.store(dkx + dst, grad_x, mask=mask)
    tl.store(dkr + dst, grad_r, mask=mask)


@triton.jit
def _input_grads_kernel(g, o, x, r, scale, coefs, grad_coefs, kx, kr,
                        pooled_grad, dx, dr, C, H, W, stride_n, stride_c,
                        stride_p, inv_hw, BATCH_STATS: tl.constexpr,
                        PRE_ACT: tl.constexpr, BLOCK_P: tl.constexpr,
                        BLOCK_C: tl.constexpr):
    """``dx``, ``dr`` on one tile, each written once, from ``do = alpha g'
    (+ coef_1 + coef_o o)`` at the 3x3 neighbourhood (the transposed
    convolutions), the residual and the means' gradients ``pooled_grad``
    ``[N, 2, C]``. Grid ``(tiles, channel blocks, N)``."""
    n = tl.program_id(2).to(tl.int64)
    offs_c, mask_c = _channels(C, BLOCK_C)
    offs_p, h, w, mask_p = _positions(tl.program_id(0), H, W, BLOCK_P)
    base = n * stride_n
    cg = tl.load(
        coefs + COEF_ALPHA * C + offs_c, mask=mask_c,
        other=0.)[None, :] * tl.load(scale + n)
    if BATCH_STATS:
        c1, co = _batch_grad_coefs(grad_coefs, offs_c, mask_c, C)
    gx = tl.full((BLOCK_P, BLOCK_C), 0., tl.float32)
    gr = tl.full((BLOCK_P, BLOCK_C), 0., tl.float32)
    for t in tl.static_range(TAPS):
        dh, dw = 1 - t // 3, 1 - t % 3
        do = _load(g, base, offs_p, h, w, dh, dw, offs_c, mask_p, mask_c, H,
                   W, stride_c, stride_p) * cg
        if BATCH_STATS:
            hh, ww = h + dh, w + dw
            inside = mask_p & (hh >= 0) & (hh < H) & (ww >= 0) & (ww < W)
            do += tl.where(inside[:, None], c1, 0.) + _load(
                o, base, offs_p, h, w, dh, dw, offs_c, mask_p, mask_c, H, W,
                stride_c, stride_p) * co
        gx += do * _kernel_tap(kx, n, t, offs_c, mask_c, C)
        gr += do * _kernel_tap(kr, n, t, offs_c, mask_c, C)
    px = tl.load(pooled_grad + (n * MEANS + MEAN_X) * C + offs_c, mask=mask_c,
                 other=0.)
    pr = tl.load(pooled_grad + (n * MEANS + MEAN_R) * C + offs_c, mask=mask_c,
                 other=0.)
    gx += px[None, :] * inv_hw + _load(g, base, offs_p, h, w, 0, 0, offs_c,
                                       mask_p, mask_c, H, W, stride_c,
                                       stride_p)
    gr += pr[None, :] * inv_hw
    if PRE_ACT:  # through x = relu(z + r): the gradient of z, added to r's
        s = _load(x, base, offs_p, h, w, 0, 0, offs_c, mask_p, mask_c, H, W,
                  stride_c, stride_p) + _load(r, base, offs_p, h, w, 0, 0,
                                              offs_c, mask_p, mask_c, H, W,
                                              stride_c, stride_p)
        gx = tl.where(s > 0, gx, 0.)
        gr += gx
    _store(dx, gx, base, offs_p, offs_c, mask_p, mask_c, stride_c, stride_p)
    _store(dr, gr, base, offs_p, offs_c, mask_p, mask_c, stride_c, stride_p)


@triton.jit
def _sum_rows(sums, c, mask, rows, C, row: tl.constexpr):
    """``sums[:, row, c].sum(0)`` of partial sums ``[R, 2, C]``, adding the
    rows in order."""
    total = tl.load(sums + row * C + c, mask=mask, other=0.)
    for i in range(1, rows):
        total += tl.load(sums + (i * SUMS + row) * C + c, mask=mask, other=0.)
    return total


@triton.jit
def _norm_coefficients_kernel(sums, weight, bias, running_mean, running_var,
                              out, C, rows, inv_count, unbiased, eps,
                              momentum, BATCH_STATS: tl.constexpr,
                              UPDATE: tl.constexpr, HAS_WEIGHT: tl.constexpr,
                              HAS_BIAS: tl.constexpr, BLOCK: tl.constexpr):
    """The norm's coefficients ``[4, C]`` (``COEF_*``) from the partial sums
    of :func:`_split_sums_kernel` (updating the running statistics) or
    from the running statistics."""
    c = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = c < C
    if BATCH_STATS:
        mean = _sum_rows(sums, c, mask, rows, C, SUM_FIRST) * inv_count
        var = _sum_rows(sums, c, mask, rows, C, SUM_SECOND) * inv_count
        var = tl.where(var > mean * mean, var - mean * mean, 0.)
        if UPDATE:  # running += momentum * (batch - running)
            rm = tl.load(running_mean + c, mask=mask, other=0.)
            rv = tl.load(running_var + c, mask=mask, other=0.)
            rm32, rv32 = rm.to(tl.float32), rv.to(tl.float32)
            tl.store(
                running_mean + c,
                (rm32 + momentum * (mean - rm32)).to(rm.dtype),
                mask=mask)
            tl.store(
                running_var + c,
                (rv32 + momentum * (var * unbiased - rv32)).to(rv.dtype),
                mask=mask)
    else:
        mean = tl.load(running_mean + c, mask=mask, other=0.).to(tl.float32)
        var = tl.load(running_var + c, mask=mask, other=1.).to(tl.float32)
    inv_std = tl.rsqrt(var + eps)
    alpha = inv_std
    if HAS_WEIGHT:
        alpha *= tl.load(weight + c, mask=mask, other=0.).to(tl.float32)
    shift = -mean * alpha
    if HAS_BIAS:
        shift += tl.load(bias + c, mask=mask, other=0.).to(tl.float32)
    tl.store(out + COEF_MEAN * C + c, mean, mask=mask)
    tl.store(out + COEF_INV_STD * C + c, inv_std, mask=mask)
    tl.store(out + COEF_ALPHA * C + c, alpha, mask=mask)
    tl.store(out + COEF_SHIFT * C + c, shift, mask=mask)


@triton.jit
def _norm_grad_coefficients_kernel(grad_sums, coefs, out, C, rows, inv_count,
                                   BATCH_STATS: tl.constexpr,
                                   BLOCK: tl.constexpr):
    """The norm's gradient coefficients ``[4, C]`` (``GRAD_*``) from the
    partial sums ``[sum g', sum g' o]`` of :func:`_grad_reduce_kernel`."""
    c = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = c < C
    s_g = _sum_rows(grad_sums, c, mask, rows, C, SUM_FIRST)
    s_go = _sum_rows(grad_sums, c, mask, rows, C, SUM_SECOND)
    mean = tl.load(coefs + COEF_MEAN * C + c, mask=mask, other=0.)
    inv_std = tl.load(coefs + COEF_INV_STD * C + c, mask=mask, other=0.)
    alpha = tl.load(coefs + COEF_ALPHA * C + c, mask=mask, other=0.)
    grad_weight = inv_std * (s_go - mean * s_g)
    tl.store(out + GRAD_WEIGHT * C + c, grad_weight, mask=mask)
    tl.store(out + GRAD_BIAS * C + c, s_g, mask=mask)
    coef_1 = tl.full((BLOCK, ), 0., tl.float32)
    coef_o = tl.full((BLOCK, ), 0., tl.float32)
    if BATCH_STATS:  # do = alpha * g' + coef_1 + coef_o * o
        coef_o = -alpha * inv_std * grad_weight * inv_count
        coef_1 = -alpha * s_g * inv_count - coef_o * mean
    tl.store(out + GRAD_COEF_1 * C + c, coef_1, mask=mask)
    tl.store(out + GRAD_COEF_O * C + c, coef_o, mask=mask)


# Launchers: one function per kernel, called by the custom ops of
# .dla_light_ops. Every kernel is launched through `launch`.


def strides(x: torch.Tensor) -> Tuple[int, int, int]:
    """``(stride_n, stride_c, stride_p)`` of a dense ``[N, C, H, W]``
    tensor, whose positions ``p = h * W + w`` lie ``stride_p`` apart."""
    n, c, h, w = x.shape
    stride_p = x.stride(3) if w > 1 else x.stride(2)
    if h > 1 and w > 1 and x.stride(2) != w * x.stride(3):
        raise ValueError(f'not a dense NCHW or channels_last tensor: '
                         f'strides {x.stride()} for shape {tuple(x.shape)}.')
    return x.stride(0), x.stride(1), stride_p


def _full_size_grid(x: torch.Tensor, config: TileConfig) -> Tuple[int, ...]:
    tiles, channel_blocks = tile_grid(x, config)
    return tiles, channel_blocks, x.shape[0]


def _split_sums(x: torch.Tensor, r: torch.Tensor, kx: torch.Tensor,
                kr: torch.Tensor, factor: float, gated: bool,
                pre_activation: bool) -> Tuple[torch.Tensor, int]:
    """Launch :func:`_split_sums_kernel`: partial sums ``[N * splits, 2,
    C]`` and the number of splits."""
    n, c, h, w = x.shape
    r = in_layout_of(r, x)
    config = tile_config(x)
    splits, per_split = position_splits(x, config)
    partial = x.new_empty((n * splits, layout.SUMS, c), dtype=torch.float32)
    launch(
        _split_sums_kernel, (splits, tile_grid(x, config).channel_blocks, n),
        x, r, kx, kr, partial, c, h, w, *strides(x), per_split, factor,
        GATED=gated, PRE_ACT=pre_activation, BLOCK_P=config.block_p,
        BLOCK_C=config.block_c, num_warps=config.num_warps)
    return partial, splits


def spatial_means(x: torch.Tensor, r: torch.Tensor,
                  pre_activation: bool) -> torch.Tensor:
    """``[N, 2, C]`` fp32: the spatial means of ``x`` and ``r``."""
    n, c, h, w = x.shape
    # (the kernels are not read)
    partial, splits = _split_sums(x, r, x, x, 1.0 / (h * w), False,
                                  pre_activation)
    if splits == 1:
        return partial
    return partial.view(n, splits, 2, c).sum(1)


def output_sums(x: torch.Tensor, r: torch.Tensor, kx: torch.Tensor,
                kr: torch.Tensor, pre_activation: bool) -> torch.Tensor:
    """Partial sums ``[R, 2, C]`` of ``o`` and ``o ** 2``."""
    return _split_sums(x, r, kx, kr, 1.0, True, pre_activation)[0]


def norm_coefficients(sums: Optional[torch.Tensor],
                      weight: Optional[torch.Tensor],
                      bias: Optional[torch.Tensor],
                      running_mean: Optional[torch.Tensor],
                      running_var: Optional[torch.Tensor], count: int,
                      eps: float, momentum: float, out: torch.Tensor) -> None:
    """Fill ``out`` ``[4, C]`` (``COEF_*`` rows), see
    :func:`_norm_coefficients_kernel`."""
    c = out.shape[1]
    batch_stats = sums is not None

    def ptr(t: Optional[torch.Tensor]) -> torch.Tensor:
        return out if t is None else t  # absent: not read

    launch(
        _norm_coefficients_kernel, (triton.cdiv(c, layout.CHANNEL_BLOCK), ),
        ptr(sums), ptr(weight), ptr(bias), ptr(running_mean),
        ptr(running_var), out, c, sums.shape[0] if batch_stats else 0,
        1.0 / count, count / max(count - 1, 1), eps, momentum,
        BATCH_STATS=batch_stats,
        UPDATE=batch_stats and running_mean is not None,
        HAS_WEIGHT=weight is not None, HAS_BIAS=bias is not None,
        BLOCK=layout.CHANNEL_BLOCK)


def norm_grad_coefficients(grad_sums: torch.Tensor, coefs: torch.Tensor,
                           count: int, batch_stats: bool,
                           out: torch.Tensor) -> None:
    """Fill ``out`` ``[4, C]`` (``GRAD_*`` rows), see
    :func:`_norm_grad_coefficients_kernel`."""
    c = coefs.shape[1]
    launch(
        _norm_grad_coefficients_kernel,
        (triton.cdiv(c, layout.CHANNEL_BLOCK), ), grad_sums, coefs, out, c,
        grad_sums.shape[0], 1.0 / count,
        BATCH_STATS=batch_stats, BLOCK=layout.CHANNEL_BLOCK)


def epilogue(x: torch.Tensor, r: torch.Tensor, kx: torch.Tensor,
             kr: torch.Tensor, alpha: torch.Tensor, beta: torch.Tensor,
             scale: torch.Tensor, pre_activation: bool,
             y: torch.Tensor) -> None:
    """Write ``y = x + scale[n] * (alpha * o + beta)`` (``y`` in ``x``'s
    layout)."""
    n, c, h, w = x.shape
    config = tile_config(x)
    launch(
        _epilogue_kernel, _full_size_grid(x, config), x, in_layout_of(r, x),
        kx, kr, alpha, beta, scale, y, c, h, w, *strides(x),
        PRE_ACT=pre_activation, BLOCK_P=config.block_p,
        BLOCK_C=config.block_c, num_warps=config.num_warps)


def grad_reduce(grad: torch.Tensor, x: torch.Tensor, r: torch.Tensor,
                kx: torch.Tensor, kr: torch.Tensor, scale: torch.Tensor,
                batch_stats: bool, pre_activation: bool,
                o: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """The backward reduction: partial sums ``[R, 2, C]`` and tap sums
    ``[R, F * 9, C]``; under ``batch_stats`` writes ``o`` (``x``'s
    layout)."""
    n, c, h, w = x.shape
    config = reduction_tile_config(x)
    splits, per_split = position_splits(x, config)
    sums = x.new_empty((n * splits, layout.SUMS, c), dtype=torch.float32)
    families = layout.tap_families(batch_stats)
    taps = x.new_empty((n * splits, families * layout.TAPS, c),
                       dtype=torch.float32)
    launch(
        _grad_reduce_kernel, (splits, tile_grid(x, config).channel_blocks, n),
        in_layout_of(grad, x), x, in_layout_of(r, x), kx, kr, scale,
        o if batch_stats else x, sums, taps, c, h, w, *strides(x), per_split,
        BATCH_STATS=batch_stats, PRE_ACT=pre_activation,
        BLOCK_P=config.block_p, BLOCK_C=config.block_c,
        num_warps=config.num_warps)
    return sums, taps


def kernel_grads(taps: torch.Tensor, coefs: torch.Tensor,
                 grad_coefs: Optional[torch.Tensor], batch: int,
                 dkx: torch.Tensor, dkr: torch.Tensor) -> None:
    """Write ``dkx``, ``dkr`` ``[N, 9, C]`` from the tap sums of
    :func:`grad_reduce` of a batch of ``batch`` samples (with
    ``grad_coefs``: under batch statistics)."""
    c = coefs.shape[1]
    block_c = min(64, next_power_of_2(c))
    batch_stats = grad_coefs is not None
    launch(
        _kernel_grads_kernel, (1, triton.cdiv(c, block_c), batch), taps,
        coefs, coefs if grad_coefs is None else grad_coefs, dkx, dkr, c,
        taps.shape[0] // batch, BATCH_STATS=batch_stats, BLOCK_C=block_c)


def input_grads(grad: torch.Tensor, o: Optional[torch.Tensor],
                x: torch.Tensor, r: torch.Tensor, scale: torch.Tensor,
                coefs: torch.Tensor, grad_coefs: Optional[torch.Tensor],
                kx: torch.Tensor, kr: torch.Tensor, pooled_grad: torch.Tensor,
                pre_activation: bool, dx: torch.Tensor,
                dr: torch.Tensor) -> None:
    """Write ``dx``, ``dr`` (``x``'s layout); ``o`` and ``grad_coefs``
    under batch statistics."""
    n, c, h, w = x.shape
    config = tile_config(x)
    batch_stats = grad_coefs is not None
    launch(
        _input_grads_kernel, _full_size_grid(x, config), in_layout_of(grad, x),
        o if batch_stats else x, x, in_layout_of(r, x), scale, coefs,
        coefs if grad_coefs is None else grad_coefs, kx, kr, pooled_grad, dx,
        dr, c, h, w, *strides(x), 1.0 / (h * w), BATCH_STATS=batch_stats,
        PRE_ACT=pre_activation, BLOCK_P=config.block_p,
        BLOCK_C=config.block_c, num_warps=config.num_warps)
