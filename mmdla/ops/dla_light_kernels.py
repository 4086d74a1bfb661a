"""Triton kernels of the fused DLA-L block step.

Per sample ``n`` and channel ``c`` the step applies two depthwise 3x3
kernels, ``kx`` to the block output ``x`` and ``kr`` to its shortcut ``r``
(both ``[N, C, 9]`` fp32, the gates already folded in)::

    o = DW_kx(x) + DW_kr(r)                              # [N, C, H, W]
    y = x + s[n] * (alpha[c] * o + beta[c])              # affine norm

With ``PRE_ACT`` the kernels receive the block's residual branch ``z``
instead of ``x`` and form the block output ``x = relu(z + r)`` wherever
they read it (rounded to the tensors' dtype, as the block would store it),
so that the block's residual add and ReLU are fused into the step.

Every kernel works on tiles of ``BLOCK_P`` spatial positions by
``BLOCK_C`` channels of one sample, addresses its tensors through their
strides (NCHW and channels_last alike), loads in the tensors' dtype and
accumulates in fp32. Reductions (spatial means, the norm's per-channel sums,
the per-sample kernel gradients) add tile partials with ``tl.atomic_add``
into zero-initialised fp32 buffers. ``o`` is never stored: the kernels that
need it recompute it from ``x`` and ``r``.

This module is imported on first use (see :mod:`.dla_light_ops`): Triton
decides when a kernel is defined whether it runs compiled or, with
``TRITON_INTERPRET=1``, in its NumPy interpreter. The kernels call only
Triton builtins and functions of this module (no ``tl.sum``, ``tl.zeros``),
so that the interpreter runs them even if Triton was imported before the
variable was set.
"""
from typing import Optional, Tuple

import torch
import triton
import triton.language as tl

BLOCK_P = 64
BLOCK_C = 32
NUM_WARPS = 4


@triton.jit
def _column_sums(v):
    """``v.sum(0)`` for fp32 ``v``: what ``tl.sum`` does, written with the
    builtin ``tl.reduce`` so that the kernels also run in the interpreter
    when Triton itself was imported without ``TRITON_INTERPRET`` (Triton
    defines ``tl.sum`` as a compiled-only function then; the interpreter
    recognises the sum's combine function and reduces with NumPy)."""
    return tl.reduce(v, 0, tl.standard._sum_combine)


@triton.jit
def _tile(N, C, H, W, BLOCK_P: tl.constexpr, BLOCK_C: tl.constexpr):
    """Sample, positions, channels and masks of this program's tile."""
    n = tl.program_id(2)
    offs_p = tl.program_id(0) * BLOCK_P + tl.arange(0, BLOCK_P)
    offs_c = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)
    mask_p = offs_p < H * W
    mask_c = offs_c < C
    return n, offs_p // W, offs_p % W, offs_c, mask_p, mask_c


@triton.jit
def _offsets(n, h, w, offs_c, sn, sc, sh, sw):
    return n * sn + offs_c[None, :] * sc + h[:, None] * sh + w[:, None] * sw


@triton.jit
def _load(ptr, n, h, w, offs_c, mask_p, mask_c, H, W, sn, sc, sh, sw):
    """``ptr[n, c, h, w]`` as fp32 ``[BLOCK_P, BLOCK_C]``, zero outside the
    image (the 3x3 convolutions' padding)."""
    inside = mask_p & (h >= 0) & (h < H) & (w >= 0) & (w < W)
    return tl.load(
        ptr + _offsets(n, h, w, offs_c, sn, sc, sh, sw),
        mask=inside[:, None] & mask_c[None, :],
        other=0.).to(tl.float32)


@triton.jit
def _load_x(x, r, n, h, w, offs_c, mask_p, mask_c, H, W, sxn, sxc, sxh, sxw,
            srn, src, srh, srw, PRE_ACT: tl.constexpr):
    """The block output ``x`` on the tile: loaded, or with ``PRE_ACT``
    ``relu(z + r)`` from the residual branch ``z`` (passed as ``x``)."""
    v = _load(x, n, h, w, offs_c, mask_p, mask_c, H, W, sxn, sxc, sxh, sxw)
    if PRE_ACT:
        v += _load(r, n, h, w, offs_c, mask_p, mask_c, H, W, srn, src, srh,
                   srw)
        v = tl.where(v > 0, v, 0.).to(x.dtype.element_ty).to(tl.float32)
    return v


@triton.jit
def _tap(x, r, t, n, h, w, offs_c, mask_p, mask_c, H, W, sxn, sxc, sxh, sxw,
         srn, src, srh, srw, PRE_ACT: tl.constexpr):
    """The block output ``x`` (see :func:`_load_x`) and the shortcut ``r``
    on the tile shifted by tap ``t`` of the 3x3 kernels (``t = 3 * (dh + 1)
    + dw + 1``), fp32 ``[BLOCK_P, BLOCK_C]`` each, zero outside the
    image."""
    hh, ww = h + (t // 3 - 1), w + (t % 3 - 1)
    vx = _load_x(x, r, n, hh, ww, offs_c, mask_p, mask_c, H, W, sxn, sxc, sxh,
                 sxw, srn, src, srh, srw, PRE_ACT)
    vr = _load(r, n, hh, ww, offs_c, mask_p, mask_c, H, W, srn, src, srh, srw)
    return vx, vr


@triton.jit
def _gated_output(x, r, kx, kr, n, h, w, offs_c, mask_p, mask_c, C, H, W, sxn,
                  sxc, sxh, sxw, srn, src, srh, srw, PRE_ACT: tl.constexpr,
                  BLOCK_P: tl.constexpr, BLOCK_C: tl.constexpr):
    """``o = DW_kx(x) + DW_kr(r)`` on the tile, fp32."""
    o = tl.full((BLOCK_P, BLOCK_C), 0., tl.float32)
    for t in tl.static_range(9):
        vx, vr = _tap(x, r, t, n, h, w, offs_c, mask_p, mask_c, H, W, sxn, sxc,
                      sxh, sxw, srn, src, srh, srw, PRE_ACT)
        k = (n * C + offs_c) * 9 + t
        o += vx * tl.load(kx + k, mask=mask_c, other=0.)[None, :]
        o += vr * tl.load(kr + k, mask=mask_c, other=0.)[None, :]
    return o


@triton.jit
def _spatial_means_kernel(x, r, out, N, C, H, W, inv_hw, sxn, sxc, sxh, sxw,
                          srn, src, srh, srw, PRE_ACT: tl.constexpr,
                          BLOCK_P: tl.constexpr, BLOCK_C: tl.constexpr):
    n, h, w, offs_c, mask_p, mask_c = _tile(N, C, H, W, BLOCK_P, BLOCK_C)
    vx = _load_x(x, r, n, h, w, offs_c, mask_p, mask_c, H, W, sxn, sxc, sxh,
                 sxw, srn, src, srh, srw, PRE_ACT)
    vr = _load(r, n, h, w, offs_c, mask_p, mask_c, H, W, srn, src, srh, srw)
    tl.atomic_add(
        out + 2 * n * C + offs_c, _column_sums(vx) * inv_hw, mask=mask_c)
    tl.atomic_add(
        out + (2 * n + 1) * C + offs_c, _column_sums(vr) * inv_hw, mask=mask_c)


@triton.jit
def _output_sums_kernel(x, r, kx, kr, out, N, C, H, W, sxn, sxc, sxh, sxw, srn,
                        src, srh, srw, PRE_ACT: tl.constexpr,
                        BLOCK_P: tl.constexpr, BLOCK_C: tl.constexpr):
    n, h, w, offs_c, mask_p, mask_c = _tile(N, C, H, W, BLOCK_P, BLOCK_C)
    o = _gated_output(x, r, kx, kr, n, h, w, offs_c, mask_p, mask_c, C, H, W,
                      sxn, sxc, sxh, sxw, srn, src, srh, srw, PRE_ACT, BLOCK_P,
                      BLOCK_C)
    tl.atomic_add(out + offs_c, _column_sums(o), mask=mask_c)
    tl.atomic_add(out + C + offs_c, _column_sums(o * o), mask=mask_c)


@triton.jit
def _epilogue_kernel(x, r, kx, kr, alpha, beta, scale, y, N, C, H, W, sxn, sxc,
                     sxh, sxw, srn, src, srh, srw, syn, syc, syh, syw,
                     PRE_ACT: tl.constexpr, BLOCK_P: tl.constexpr,
                     BLOCK_C: tl.constexpr):
    n, h, w, offs_c, mask_p, mask_c = _tile(N, C, H, W, BLOCK_P, BLOCK_C)
    o = _gated_output(x, r, kx, kr, n, h, w, offs_c, mask_p, mask_c, C, H, W,
                      sxn, sxc, sxh, sxw, srn, src, srh, srw, PRE_ACT, BLOCK_P,
                      BLOCK_C)
    a = tl.load(alpha + offs_c, mask=mask_c, other=0.)
    b = tl.load(beta + offs_c, mask=mask_c, other=0.)
    out = _load_x(x, r, n, h, w, offs_c, mask_p, mask_c, H, W, sxn, sxc, sxh,
                  sxw, srn, src, srh, srw, PRE_ACT)
    out += tl.load(scale + n) * (o * a[None, :] + b[None, :])
    tl.store(
        y + _offsets(n, h, w, offs_c, syn, syc, syh, syw),
        out.to(y.dtype.element_ty),
        mask=mask_p[:, None] & mask_c[None, :])


@triton.jit
def _grad_reduce_kernel(g, x, r, kx, kr, scale, o_out, sums, taps, N, C, H, W,
                        sgn, sgc, sgh, sgw, sxn, sxc, sxh, sxw, srn, src, srh,
                        srw, son, soc, soh, sow, PRE_ACT: tl.constexpr,
                        BLOCK_P: tl.constexpr, BLOCK_C: tl.constexpr):
    """Backward reduction with batch statistics: stores ``o`` and sums the
    norm's ``[sum g', sum g' o]`` per channel and, per sample, channel and
    tap ``t``, ``sum g' x_t, sum x_t, sum o x_t`` and the same for ``r``
    (``x_t``: ``x`` shifted by the tap, ``g' = scale[n] * grad``), from
    which the kernels' gradients follow once the norm's coefficients are
    known."""
    n, h, w, offs_c, mask_p, mask_c = _tile(N, C, H, W, BLOCK_P, BLOCK_C)
    gs = _load(g, n, h, w, offs_c, mask_p, mask_c, H, W, sgn, sgc, sgh,
               sgw) * tl.load(scale + n)
    o = _gated_output(x, r, kx, kr, n, h, w, offs_c, mask_p, mask_c, C, H, W,
                      sxn, sxc, sxh, sxw, srn, src, srh, srw, PRE_ACT, BLOCK_P,
                      BLOCK_C)
    tl.store(
        o_out + _offsets(n, h, w, offs_c, son, soc, soh, sow),
        o.to(o_out.dtype.element_ty),
        mask=mask_p[:, None] & mask_c[None, :])
    tl.atomic_add(sums + offs_c, _column_sums(gs), mask=mask_c)
    tl.atomic_add(sums + C + offs_c, _column_sums(gs * o), mask=mask_c)
    base = (n * C + offs_c) * 54
    for t in tl.static_range(9):
        vx, vr = _tap(x, r, t, n, h, w, offs_c, mask_p, mask_c, H, W, sxn, sxc,
                      sxh, sxw, srn, src, srh, srw, PRE_ACT)
        tl.atomic_add(taps + base + t, _column_sums(gs * vx), mask=mask_c)
        tl.atomic_add(taps + base + 9 + t, _column_sums(vx), mask=mask_c)
        tl.atomic_add(taps + base + 18 + t, _column_sums(o * vx), mask=mask_c)
        tl.atomic_add(taps + base + 27 + t, _column_sums(gs * vr), mask=mask_c)
        tl.atomic_add(taps + base + 36 + t, _column_sums(vr), mask=mask_c)
        tl.atomic_add(taps + base + 45 + t, _column_sums(o * vr), mask=mask_c)


@triton.jit
def _kernel_grads_from_taps_kernel(taps, coef_g, coef_1, coef_o, dkx, dkr, NC,
                                   C, BLOCK: tl.constexpr):
    """``dk[t] = coef_g * sum g' k_t + coef_1 * sum k_t + coef_o * sum o
    k_t`` for ``k`` = ``x``, ``r``, from :func:`_grad_reduce_kernel`."""
    i = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)  # n * C + c
    mask = i < NC
    c = i % C
    cg = tl.load(coef_g + c, mask=mask, other=0.)
    c1 = tl.load(coef_1 + c, mask=mask, other=0.)
    co = tl.load(coef_o + c, mask=mask, other=0.)
    for t in tl.static_range(9):
        for j in tl.static_range(2):
            src = taps + i * 54 + 27 * j + t
            dk = (
                cg * tl.load(src, mask=mask, other=0.) +
                c1 * tl.load(src + 9, mask=mask, other=0.) +
                co * tl.load(src + 18, mask=mask, other=0.))
            if j == 0:
                tl.store(dkx + i * 9 + t, dk, mask=mask)
            else:
                tl.store(dkr + i * 9 + t, dk, mask=mask)


@triton.jit
def _kernel_grads_kernel(g, x, r, kx, kr, scale, coef_g, dkx, dkr, sums, N, C,
                         H, W, sgn, sgc, sgh, sgw, sxn, sxc, sxh, sxw, srn,
                         src, srh, srw, SUM_AFFINE: tl.constexpr,
                         PRE_ACT: tl.constexpr, BLOCK_P: tl.constexpr,
                         BLOCK_C: tl.constexpr):
    """Backward reduction of an affine norm (``do = coef_g * g'``): the
    kernels' gradients and, with ``SUM_AFFINE``, ``[sum g', sum g' o]``."""
    n, h, w, offs_c, mask_p, mask_c = _tile(N, C, H, W, BLOCK_P, BLOCK_C)
    gs = _load(g, n, h, w, offs_c, mask_p, mask_c, H, W, sgn, sgc, sgh,
               sgw) * tl.load(scale + n)
    do = gs * tl.load(coef_g + offs_c, mask=mask_c, other=0.)[None, :]
    if SUM_AFFINE:
        o = _gated_output(x, r, kx, kr, n, h, w, offs_c, mask_p, mask_c, C, H,
                          W, sxn, sxc, sxh, sxw, srn, src, srh, srw, PRE_ACT,
                          BLOCK_P, BLOCK_C)
        tl.atomic_add(sums + offs_c, _column_sums(gs), mask=mask_c)
        tl.atomic_add(sums + C + offs_c, _column_sums(gs * o), mask=mask_c)
    for t in tl.static_range(9):
        vx, vr = _tap(x, r, t, n, h, w, offs_c, mask_p, mask_c, H, W, sxn, sxc,
                      sxh, sxw, srn, src, srh, srw, PRE_ACT)
        dst = (n * C + offs_c) * 9 + t
        tl.atomic_add(dkx + dst, _column_sums(do * vx), mask=mask_c)
        tl.atomic_add(dkr + dst, _column_sums(do * vr), mask=mask_c)


@triton.jit
def _input_grads_kernel(g, o, scale, coef_g, coef_1, coef_o, kx, kr,
                        pooled_grad, x, r, dx, dr, N, C, H, W, inv_hw, sgn,
                        sgc, sgh, sgw, son, soc, soh, sow, sxn, sxc, sxh, sxw,
                        srn, src, srh, srw, sdn, sdc, sdh, sdw,
                        BATCH_STATS: tl.constexpr, PRE_ACT: tl.constexpr,
                        BLOCK_P: tl.constexpr, BLOCK_C: tl.constexpr):
    """``dx``, ``dr`` from ``do = coef_g * g' (+ coef_1 + coef_o * o)``,
    formed at the 3x3 neighbourhood for the transposed convolutions."""
    n, h, w, offs_c, mask_p, mask_c = _tile(N, C, H, W, BLOCK_P, BLOCK_C)
    cg = tl.load(coef_g + offs_c, mask=mask_c, other=0.) * tl.load(scale + n)
    if BATCH_STATS:
        c1 = tl.load(coef_1 + offs_c, mask=mask_c, other=0.)
        co = tl.load(coef_o + offs_c, mask=mask_c, other=0.)
    gx = tl.full((BLOCK_P, BLOCK_C), 0., tl.float32)
    gr = tl.full((BLOCK_P, BLOCK_C), 0., tl.float32)
    for t in tl.static_range(9):
        hh, ww = h + (1 - t // 3), w + (1 - t % 3)
        do = _load(g, n, hh, ww, offs_c, mask_p, mask_c, H, W, sgn, sgc, sgh,
                   sgw) * cg[None, :]
        if BATCH_STATS:
            inside = mask_p & (hh >= 0) & (hh < H) & (ww >= 0) & (ww < W)
            do += tl.where(inside[:, None], c1[None, :],
                           0.) + _load(o, n, hh, ww, offs_c, mask_p, mask_c, H,
                                       W, son, soc, soh, sow) * co[None, :]
        k = (n * C + offs_c) * 9 + t
        gx += do * tl.load(kx + k, mask=mask_c, other=0.)[None, :]
        gr += do * tl.load(kr + k, mask=mask_c, other=0.)[None, :]
    px = tl.load(pooled_grad + 2 * n * C + offs_c, mask=mask_c, other=0.)
    pr = tl.load(pooled_grad + (2 * n + 1) * C + offs_c, mask=mask_c, other=0.)
    gx += px[None, :] * inv_hw + _load(g, n, h, w, offs_c, mask_p, mask_c, H,
                                       W, sgn, sgc, sgh, sgw)
    gr += pr[None, :] * inv_hw
    if PRE_ACT:  # through x = relu(z + r): the gradient of z, added to r's
        s = _load(x, n, h, w, offs_c, mask_p, mask_c, H, W, sxn, sxc, sxh,
                  sxw) + _load(r, n, h, w, offs_c, mask_p, mask_c, H, W, srn,
                               src, srh, srw)
        gx = tl.where(s > 0, gx, 0.)
        gr += gx
    mask = mask_p[:, None] & mask_c[None, :]
    tl.store(
        dx + _offsets(n, h, w, offs_c, sdn, sdc, sdh, sdw),
        gx.to(dx.dtype.element_ty),
        mask=mask)
    tl.store(
        dr + _offsets(n, h, w, offs_c, sdn, sdc, sdh, sdw),
        gr.to(dr.dtype.element_ty),
        mask=mask)


@triton.jit
def _norm_coefficients_kernel(sums, weight, bias, running_mean, running_var,
                              out, C, inv_count, unbiased, eps, momentum,
                              BATCH_STATS: tl.constexpr, UPDATE: tl.constexpr,
                              HAS_WEIGHT: tl.constexpr, HAS_BIAS: tl.constexpr,
                              BLOCK: tl.constexpr):
    c = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = c < C
    if BATCH_STATS:
        mean = tl.load(sums + c, mask=mask, other=0.) * inv_count
        var = tl.load(sums + C + c, mask=mask, other=0.) * inv_count
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
    tl.store(out + c, mean, mask=mask)
    tl.store(out + C + c, inv_std, mask=mask)
    tl.store(out + 2 * C + c, alpha, mask=mask)
    tl.store(out + 3 * C + c, shift, mask=mask)


@triton.jit
def _norm_grad_coefficients_kernel(grad_sums, coefs, out, C, inv_count,
                                   BATCH_STATS: tl.constexpr,
                                   BLOCK: tl.constexpr):
    c = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = c < C
    s_g = tl.load(grad_sums + c, mask=mask, other=0.)
    s_go = tl.load(grad_sums + C + c, mask=mask, other=0.)
    mean = tl.load(coefs + c, mask=mask, other=0.)
    inv_std = tl.load(coefs + C + c, mask=mask, other=0.)
    alpha = tl.load(coefs + 2 * C + c, mask=mask, other=0.)
    grad_weight = inv_std * (s_go - mean * s_g)
    tl.store(out + c, grad_weight, mask=mask)
    tl.store(out + C + c, s_g, mask=mask)
    if BATCH_STATS:  # do = alpha * g + coef_1 + coef_o * o
        coef_o = -alpha * inv_std * grad_weight * inv_count
        tl.store(
            out + 2 * C + c,
            -alpha * s_g * inv_count - coef_o * mean,
            mask=mask)
        tl.store(out + 3 * C + c, coef_o, mask=mask)


def norm_coefficients(sums: Optional[torch.Tensor],
                      weight: Optional[torch.Tensor],
                      bias: Optional[torch.Tensor],
                      running_mean: Optional[torch.Tensor],
                      running_var: Optional[torch.Tensor], count: int,
                      eps: float, momentum: float, out: torch.Tensor) -> None:
    c = out.shape[1]
    batch_stats = sums is not None

    def ptr(t: Optional[torch.Tensor]) -> torch.Tensor:
        return out if t is None else t  # absent: not read

    _norm_coefficients_kernel[(triton.cdiv(c, 256), )](
        ptr(sums),
        ptr(weight),
        ptr(bias),
        ptr(running_mean),
        ptr(running_var),
        out,
        c,
        1.0 / count,
        count / max(count - 1, 1),
        eps,
        momentum,
        BATCH_STATS=batch_stats,
        UPDATE=batch_stats and running_mean is not None,
        HAS_WEIGHT=weight is not None,
        HAS_BIAS=bias is not None,
        BLOCK=256)


def norm_grad_coefficients(grad_sums: torch.Tensor, coefs: torch.Tensor,
                           count: int, batch_stats: bool,
                           out: torch.Tensor) -> None:
    c = grad_sums.shape[1]
    _norm_grad_coefficients_kernel[(triton.cdiv(c, 256), )](
        grad_sums,
        coefs,
        out,
        c,
        1.0 / count,
        BATCH_STATS=batch_stats,
        BLOCK=256)


def _launch(kernel, x: torch.Tensor, *args, **constexprs) -> None:
    """Run ``kernel`` over the tiles of ``x`` ``[N, C, H, W]``."""
    n, c, h, w = x.shape
    grid = (triton.cdiv(h * w, BLOCK_P), triton.cdiv(c, BLOCK_C), n)
    kernel[grid](
        *args,
        BLOCK_P=BLOCK_P,
        BLOCK_C=BLOCK_C,
        num_warps=NUM_WARPS,
        **constexprs)


def spatial_means(x: torch.Tensor, r: torch.Tensor,
                  pre_activation: bool) -> torch.Tensor:
    n, c, h, w = x.shape
    out = torch.zeros(n, 2, c, device=x.device, dtype=torch.float32)
    _launch(
        _spatial_means_kernel,
        x,
        x,
        r,
        out,
        n,
        c,
        h,
        w,
        1.0 / (h * w),
        *x.stride(),
        *r.stride(),
        PRE_ACT=pre_activation)
    return out


def output_sums(x: torch.Tensor, r: torch.Tensor, kx: torch.Tensor,
                kr: torch.Tensor, pre_activation: bool) -> torch.Tensor:
    n, c, h, w = x.shape
    out = torch.zeros(2, c, device=x.device, dtype=torch.float32)
    _launch(
        _output_sums_kernel,
        x,
        x,
        r,
        kx,
        kr,
        out,
        n,
        c,
        h,
        w,
        *x.stride(),
        *r.stride(),
        PRE_ACT=pre_activation)
    return out


def epilogue(x: torch.Tensor, r: torch.Tensor, kx: torch.Tensor,
             kr: torch.Tensor, alpha: torch.Tensor, beta: torch.Tensor,
             scale: torch.Tensor, pre_activation: bool,
             y: torch.Tensor) -> None:
    n, c, h, w = x.shape
    _launch(
        _epilogue_kernel,
        x,
        x,
        r,
        kx,
        kr,
        alpha,
        beta,
        scale,
        y,
        n,
        c,
        h,
        w,
        *x.stride(),
        *r.stride(),
        *y.stride(),
        PRE_ACT=pre_activation)


def grad_reduce(grad: torch.Tensor, x: torch.Tensor, r: torch.Tensor,
                kx: torch.Tensor, kr: torch.Tensor, scale: torch.Tensor,
                pre_activation: bool,
                o: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    n, c, h, w = x.shape
    sums = torch.zeros(2, c, device=x.device, dtype=torch.float32)
    taps = torch.zeros(n, c, 54, device=x.device, dtype=torch.float32)
    _launch(
        _grad_reduce_kernel,
        x,
        grad,
        x,
        r,
        kx,
        kr,
        scale,
        o,
        sums,
        taps,
        n,
        c,
        h,
        w,
        *grad.stride(),
        *x.stride(),
        *r.stride(),
        *o.stride(),
        PRE_ACT=pre_activation)
    return sums, taps


def kernel_grads_from_taps(taps: torch.Tensor, coef_g: torch.Tensor,
                           coef_1: torch.Tensor, coef_o: torch.Tensor,
                           dkx: torch.Tensor, dkr: torch.Tensor) -> None:
    n, c = taps.shape[:2]
    _kernel_grads_from_taps_kernel[(triton.cdiv(n * c, 256), )](
        taps, coef_g, coef_1, coef_o, dkx, dkr, n * c, c, BLOCK=256)


def kernel_grads(
        grad: torch.Tensor, x: torch.Tensor, r: torch.Tensor, kx: torch.Tensor,
        kr: torch.Tensor, scale: torch.Tensor, coef_g: torch.Tensor,
        sum_affine: bool, pre_activation: bool
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    n, c, h, w = x.shape
    dkx = torch.zeros_like(kx)
    dkr = torch.zeros_like(kr)
    sums = torch.zeros(2, c, device=x.device, dtype=torch.float32)
    _launch(
        _kernel_grads_kernel,
        x,
        grad,
        x,
        r,
        kx,
        kr,
        scale,
        coef_g,
        dkx,
        dkr,
        sums,
        n,
        c,
        h,
        w,
        *grad.stride(),
        *x.stride(),
        *r.stride(),
        SUM_AFFINE=sum_affine,
        PRE_ACT=pre_activation)
    return dkx, dkr, sums


def input_grads(grad: torch.Tensor, o: Optional[torch.Tensor],
                scale: torch.Tensor, coef_g: torch.Tensor,
                coef_1: Optional[torch.Tensor], coef_o: Optional[torch.Tensor],
                kx: torch.Tensor, kr: torch.Tensor, pooled_grad: torch.Tensor,
                x: Optional[torch.Tensor], r: Optional[torch.Tensor],
                dx: torch.Tensor, dr: torch.Tensor) -> None:
    n, c, h, w = grad.shape
    batch_stats, pre_activation = o is not None, x is not None
    # stand-ins for what is not read
    o = grad if o is None else o
    coef_1 = coef_g if coef_1 is None else coef_1
    coef_o = coef_g if coef_o is None else coef_o
    x = grad if x is None else x
    r = grad if r is None else r
    _launch(
        _input_grads_kernel,
        grad,
        grad,
        o,
        scale,
        coef_g,
        coef_1,
        coef_o,
        kx,
        kr,
        pooled_grad,
        x,
        r,
        dx,
        dr,
        n,
        c,
        h,
        w,
        1.0 / (h * w),
        *grad.stride(),
        *o.stride(),
        *x.stride(),
        *r.stride(),
        *dx.stride(),
        BATCH_STATS=batch_stats,
        PRE_ACT=pre_activation)
