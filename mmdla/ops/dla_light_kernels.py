"""Triton kernels of the fused DLA-L block step.

Per sample ``n`` and channel ``c`` the step applies two depthwise 3x3
kernels, ``kx`` to the block output ``x`` and ``kr`` to its shortcut ``r``
(both ``[N, C, 9]`` fp32, the gates already folded in)::

    o = DW_kx(x) + DW_kr(r)                              # [N, C, H, W]
    y = x + s[n] * (alpha[c] * o + beta[c])              # affine norm

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
def _load(ptr, n, h, w, offs_c, mask_p, mask_c, H, W, sn, sc, sh, sw):
    """``ptr[n, c, h, w]`` as fp32 ``[BLOCK_P, BLOCK_C]``, zero outside the
    image (the 3x3 convolutions' padding)."""
    inside = mask_p & (h >= 0) & (h < H) & (w >= 0) & (w < W)
    offs = (n * sn + offs_c[None, :] * sc + h[:, None] * sh + w[:, None] * sw)
    return tl.load(
        ptr + offs, mask=inside[:, None] & mask_c[None, :],
        other=0.).to(tl.float32)


@triton.jit
def _depthwise(acc, src, ker, n, h, w, offs_c, mask_p, mask_c, C, H, W, sn, sc,
               sh, sw, TRANSPOSED: tl.constexpr):
    """``acc + DW_ker(src)`` on the tile; the transposed convolution (the
    input gradient of the correlation) with ``TRANSPOSED``."""
    for t in tl.static_range(9):
        if TRANSPOSED:
            dh, dw = 1 - t // 3, 1 - t % 3
        else:
            dh, dw = t // 3 - 1, t % 3 - 1
        value = _load(src, n, h + dh, w + dw, offs_c, mask_p, mask_c, H, W, sn,
                      sc, sh, sw)
        k = tl.load(ker + (n * C + offs_c) * 9 + t, mask=mask_c, other=0.)
        acc += value * k[None, :]
    return acc


@triton.jit
def _gated_output(x, r, kx, kr, n, h, w, offs_c, mask_p, mask_c, C, H, W, sxn,
                  sxc, sxh, sxw, srn, src, srh, srw, BLOCK_P: tl.constexpr,
                  BLOCK_C: tl.constexpr):
    """``o = DW_kx(x) + DW_kr(r)`` on the tile, fp32."""
    o = tl.full((BLOCK_P, BLOCK_C), 0., tl.float32)
    o = _depthwise(o, x, kx, n, h, w, offs_c, mask_p, mask_c, C, H, W, sxn,
                   sxc, sxh, sxw, False)
    return _depthwise(o, r, kr, n, h, w, offs_c, mask_p, mask_c, C, H, W, srn,
                      src, srh, srw, False)


@triton.jit
def _spatial_means_kernel(x, r, out, N, C, H, W, inv_hw, sxn, sxc, sxh, sxw,
                          srn, src, srh, srw, BLOCK_P: tl.constexpr,
                          BLOCK_C: tl.constexpr):
    n, h, w, offs_c, mask_p, mask_c = _tile(N, C, H, W, BLOCK_P, BLOCK_C)
    vx = _load(x, n, h, w, offs_c, mask_p, mask_c, H, W, sxn, sxc, sxh, sxw)
    vr = _load(r, n, h, w, offs_c, mask_p, mask_c, H, W, srn, src, srh, srw)
    tl.atomic_add(out + n * C + offs_c, _column_sums(vx) * inv_hw, mask=mask_c)
    tl.atomic_add(
        out + (N + n) * C + offs_c, _column_sums(vr) * inv_hw, mask=mask_c)


@triton.jit
def _output_sums_kernel(x, r, kx, kr, out, N, C, H, W, sxn, sxc, sxh, sxw, srn,
                        src, srh, srw, BLOCK_P: tl.constexpr,
                        BLOCK_C: tl.constexpr):
    n, h, w, offs_c, mask_p, mask_c = _tile(N, C, H, W, BLOCK_P, BLOCK_C)
    o = _gated_output(x, r, kx, kr, n, h, w, offs_c, mask_p, mask_c, C, H, W,
                      sxn, sxc, sxh, sxw, srn, src, srh, srw, BLOCK_P, BLOCK_C)
    tl.atomic_add(out + offs_c, _column_sums(o), mask=mask_c)
    tl.atomic_add(out + C + offs_c, _column_sums(o * o), mask=mask_c)


@triton.jit
def _epilogue_kernel(x, r, kx, kr, alpha, beta, scale, y, N, C, H, W, sxn, sxc,
                     sxh, sxw, srn, src, srh, srw, syn, syc, syh, syw,
                     BLOCK_P: tl.constexpr, BLOCK_C: tl.constexpr):
    n, h, w, offs_c, mask_p, mask_c = _tile(N, C, H, W, BLOCK_P, BLOCK_C)
    o = _gated_output(x, r, kx, kr, n, h, w, offs_c, mask_p, mask_c, C, H, W,
                      sxn, sxc, sxh, sxw, srn, src, srh, srw, BLOCK_P, BLOCK_C)
    a = tl.load(alpha + offs_c, mask=mask_c, other=0.)
    b = tl.load(beta + offs_c, mask=mask_c, other=0.)
    s = tl.load(scale + n)
    out = _load(x, n, h, w, offs_c, mask_p, mask_c, H, W, sxn, sxc, sxh,
                sxw) + s * (
                    o * a[None, :] + b[None, :])
    offs = (
        n * syn + offs_c[None, :] * syc + h[:, None] * syh + w[:, None] * syw)
    tl.store(
        y + offs,
        out.to(y.dtype.element_ty),
        mask=mask_p[:, None] & mask_c[None, :])


@triton.jit
def _grad_output_sums_kernel(g, x, r, kx, kr, scale, out, N, C, H, W, sgn, sgc,
                             sgh, sgw, sxn, sxc, sxh, sxw, srn, src, srh, srw,
                             BLOCK_P: tl.constexpr, BLOCK_C: tl.constexpr):
    n, h, w, offs_c, mask_p, mask_c = _tile(N, C, H, W, BLOCK_P, BLOCK_C)
    gs = _load(g, n, h, w, offs_c, mask_p, mask_c, H, W, sgn, sgc, sgh,
               sgw) * tl.load(scale + n)
    o = _gated_output(x, r, kx, kr, n, h, w, offs_c, mask_p, mask_c, C, H, W,
                      sxn, sxc, sxh, sxw, srn, src, srh, srw, BLOCK_P, BLOCK_C)
    tl.atomic_add(out + offs_c, _column_sums(gs), mask=mask_c)
    tl.atomic_add(out + C + offs_c, _column_sums(gs * o), mask=mask_c)


@triton.jit
def _kernel_grads_kernel(g, x, r, kx, kr, scale, coef_g, coef_1, coef_o, dkx,
                         dkr, d_out, out_sums, N, C, H, W, sgn, sgc, sgh, sgw,
                         sxn, sxc, sxh, sxw, srn, src, srh, srw, sdn, sdc, sdh,
                         sdw, BATCH_STATS: tl.constexpr,
                         SUM_AFFINE: tl.constexpr, BLOCK_P: tl.constexpr,
                         BLOCK_C: tl.constexpr):
    n, h, w, offs_c, mask_p, mask_c = _tile(N, C, H, W, BLOCK_P, BLOCK_C)
    gs = _load(g, n, h, w, offs_c, mask_p, mask_c, H, W, sgn, sgc, sgh,
               sgw) * tl.load(scale + n)
    cg = tl.load(coef_g + offs_c, mask=mask_c, other=0.)
    do = gs * cg[None, :]
    if BATCH_STATS or SUM_AFFINE:
        o = _gated_output(x, r, kx, kr, n, h, w, offs_c, mask_p, mask_c, C, H,
                          W, sxn, sxc, sxh, sxw, srn, src, srh, srw, BLOCK_P,
                          BLOCK_C)
    if SUM_AFFINE:
        tl.atomic_add(out_sums + offs_c, _column_sums(gs), mask=mask_c)
        tl.atomic_add(out_sums + C + offs_c, _column_sums(gs * o), mask=mask_c)
    if BATCH_STATS:
        c1 = tl.load(coef_1 + offs_c, mask=mask_c, other=0.)
        co = tl.load(coef_o + offs_c, mask=mask_c, other=0.)
        do += c1[None, :] + o * co[None, :]
        do = tl.where(mask_p[:, None], do, 0.)
        offs = (
            n * sdn + offs_c[None, :] * sdc + h[:, None] * sdh +
            w[:, None] * sdw)
        tl.store(
            d_out + offs,
            do.to(d_out.dtype.element_ty),
            mask=mask_p[:, None] & mask_c[None, :])
    for t in tl.static_range(9):
        dh, dw = t // 3 - 1, t % 3 - 1
        vx = _load(x, n, h + dh, w + dw, offs_c, mask_p, mask_c, H, W, sxn,
                   sxc, sxh, sxw)
        vr = _load(r, n, h + dh, w + dw, offs_c, mask_p, mask_c, H, W, srn,
                   src, srh, srw)
        dst = (n * C + offs_c) * 9 + t
        tl.atomic_add(dkx + dst, _column_sums(do * vx), mask=mask_c)
        tl.atomic_add(dkr + dst, _column_sums(do * vr), mask=mask_c)


@triton.jit
def _input_grads_kernel(g, d_out, d_scale, kx, kr, pooled_grad, dx, dr, N, C,
                        H, W, inv_hw, sgn, sgc, sgh, sgw, sdn, sdc, sdh, sdw,
                        sxn, sxc, sxh, sxw, srn, src, srh, srw,
                        BLOCK_P: tl.constexpr, BLOCK_C: tl.constexpr):
    n, h, w, offs_c, mask_p, mask_c = _tile(N, C, H, W, BLOCK_P, BLOCK_C)
    zero = tl.full((BLOCK_P, BLOCK_C), 0., tl.float32)
    ds = tl.load(d_scale + n * C + offs_c, mask=mask_c, other=0.)
    gx = _depthwise(zero, d_out, kx, n, h, w, offs_c, mask_p, mask_c, C, H, W,
                    sdn, sdc, sdh, sdw, True) * ds[None, :]
    gr = _depthwise(zero, d_out, kr, n, h, w, offs_c, mask_p, mask_c, C, H, W,
                    sdn, sdc, sdh, sdw, True) * ds[None, :]
    px = tl.load(pooled_grad + n * C + offs_c, mask=mask_c, other=0.)
    pr = tl.load(pooled_grad + (N + n) * C + offs_c, mask=mask_c, other=0.)
    gx += _load(g, n, h, w, offs_c, mask_p, mask_c, H, W, sgn, sgc, sgh,
                sgw) + px[None, :] * inv_hw
    gr += pr[None, :] * inv_hw
    mask = mask_p[:, None] & mask_c[None, :]
    offs = (
        n * sxn + offs_c[None, :] * sxc + h[:, None] * sxh + w[:, None] * sxw)
    tl.store(dx + offs, gx.to(dx.dtype.element_ty), mask=mask)
    offs = (
        n * srn + offs_c[None, :] * src + h[:, None] * srh + w[:, None] * srw)
    tl.store(dr + offs, gr.to(dr.dtype.element_ty), mask=mask)


def _grid(x: torch.Tensor) -> Tuple[int, int, int]:
    n, c, h, w = x.shape
    return triton.cdiv(h * w, BLOCK_P), triton.cdiv(c, BLOCK_C), n


def _launch(kernel, x: torch.Tensor, *args, **constexprs) -> None:
    """Run ``kernel`` over the tiles of ``x`` ``[N, C, H, W]``."""
    kernel[_grid(x)](
        *args,
        BLOCK_P=BLOCK_P,
        BLOCK_C=BLOCK_C,
        num_warps=NUM_WARPS,
        **constexprs)


def spatial_means(x: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    n, c, h, w = x.shape
    out = torch.zeros(2, n, c, device=x.device, dtype=torch.float32)
    _launch(_spatial_means_kernel, x, x, r, out, n, c, h, w, 1.0 / (h * w),
            *x.stride(), *r.stride())
    return out


def output_sums(x: torch.Tensor, r: torch.Tensor, kx: torch.Tensor,
                kr: torch.Tensor) -> torch.Tensor:
    n, c, h, w = x.shape
    out = torch.zeros(2, c, device=x.device, dtype=torch.float32)
    _launch(_output_sums_kernel, x, x, r, kx, kr, out, n, c, h, w, *x.stride(),
            *r.stride())
    return out


def epilogue(x: torch.Tensor, r: torch.Tensor, kx: torch.Tensor,
             kr: torch.Tensor, alpha: torch.Tensor, beta: torch.Tensor,
             scale: torch.Tensor) -> torch.Tensor:
    n, c, h, w = x.shape
    y = torch.empty_like(x)
    _launch(_epilogue_kernel, x, x, r, kx, kr, alpha, beta, scale, y, n, c, h,
            w, *x.stride(), *r.stride(), *y.stride())
    return y


def grad_output_sums(grad: torch.Tensor, x: torch.Tensor, r: torch.Tensor,
                     kx: torch.Tensor, kr: torch.Tensor,
                     scale: torch.Tensor) -> torch.Tensor:
    n, c, h, w = x.shape
    out = torch.zeros(2, c, device=x.device, dtype=torch.float32)
    _launch(_grad_output_sums_kernel, x, grad, x, r, kx, kr, scale, out, n, c,
            h, w, *grad.stride(), *x.stride(), *r.stride())
    return out


def kernel_grads(
    grad: torch.Tensor, x: torch.Tensor, r: torch.Tensor, kx: torch.Tensor,
    kr: torch.Tensor, scale: torch.Tensor, coef_g: torch.Tensor,
    coef_1: Optional[torch.Tensor], coef_o: Optional[torch.Tensor],
    sum_affine: bool
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    n, c, h, w = x.shape
    batch_stats = coef_o is not None
    dkx = torch.zeros_like(kx)
    dkr = torch.zeros_like(kr)
    # without batch statistics, do is not stored: unused stand-ins
    d_out = torch.empty_like(x) if batch_stats else x
    coef_1 = coef_1 if batch_stats else coef_g
    coef_o = coef_o if batch_stats else coef_g
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
        coef_1,
        coef_o,
        dkx,
        dkr,
        d_out,
        sums,
        n,
        c,
        h,
        w,
        *grad.stride(),
        *x.stride(),
        *r.stride(),
        *d_out.stride(),
        BATCH_STATS=batch_stats,
        SUM_AFFINE=sum_affine)
    return dkx, dkr, d_out if batch_stats else x.new_empty(0), sums


def input_grads(grad: torch.Tensor, d_out: torch.Tensor, d_scale: torch.Tensor,
                kx: torch.Tensor, kr: torch.Tensor, pooled_grad: torch.Tensor,
                dx: torch.Tensor, dr: torch.Tensor) -> None:
    n, c, h, w = grad.shape
    _launch(_input_grads_kernel, grad, grad, d_out, d_scale, kx, kr,
            pooled_grad, dx, dr, n, c, h, w, 1.0 / (h * w), *grad.stride(),
            *d_out.stride(), *dx.stride(), *dr.stride())
