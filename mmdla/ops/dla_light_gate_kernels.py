"""Triton kernels of the ``[N, C]`` part of the fused DLA-L step.

Two computations, forward and backward, each a few launches instead of a
few dozen small PyTorch ops per block:

**DSU combine** (the element-wise part of the Dynamic Sharing Unit, after
its input and hidden projections ``[N, 3C]``)::

    i, f, g = split3(x_proj + h_proj)
    c' = sigmoid(f) * c + sigmoid(i) * tanh(g);   h' = sigmoid(c')

**Gate kernels** (MRLA-light's head gates and DLA-L's gates folded into the
two depthwise 3x3 kernels, tap-major ``[N, 9, C]``)::

    q = conv1d(pooled, q_kernel);  k = conv1d(pooled, k_kernel)   # over C
    a = sigmoid(<q_g, k_g> / sqrt(head_dim))    # per sample and head g
    kx[t, c] = value[c, t] * a[c]
    kr[t, c] = update[c, t] * lambda[c] + [t == 4] * lambda[c] * d[c]

Every reduction is owner-computes (no atomics): per-sample programs reduce
over channels, per-channel programs over the batch, in a fixed order.

Why kernels and not a compiled ``[N, C]`` function: counted on the meta
device, these ops bring a DLA-L ResNet-50 training step from 2561 to 1142
dispatched ops (the host pays each in eager mode), with no recompiles
across stages or batch sizes, no compile warm-up, and deterministic
reductions; the DSU's matrix products stay cuBLAS calls. The kernels call
only Triton builtins and functions of this module and
:mod:`.triton_helpers`, so that they run in Triton's interpreter (see
:mod:`.dla_light_kernels`).
"""
from typing import Optional

import torch
import triton
import triton.language as tl

from . import dla_light_layout as layout
from .dla_light_tiles import cdiv, next_power_of_2
from .triton_helpers import column_sums, launch, row_sums

# The layout contract (:mod:`.dla_light_layout`), as constexprs.
TAPS = tl.constexpr(layout.TAPS)
TAP_ROWS = tl.constexpr(layout.TAP_ROWS)
CENTER_TAP = tl.constexpr(layout.CENTER_TAP)


@triton.jit
def _sigmoid(v):
    return 1. / (1. + tl.exp(-v))


@triton.jit
def _tanh(v):
    return 2. * _sigmoid(2. * v) - 1.


@triton.jit
def _dsu_gates(x_proj, h_proj, x_row, n, c, mask, C, stride_x, stride_h):
    """``sigmoid(i)``, ``sigmoid(f)``, ``tanh(g)`` of sample ``n``, whose
    input projection starts at ``x_proj + n * stride_x + x_row``."""
    xs, hs = x_proj + n * stride_x + x_row + c, h_proj + n * stride_h + c
    si = _sigmoid(
        tl.load(xs, mask=mask, other=0.) + tl.load(hs, mask=mask, other=0.))
    sf = _sigmoid(
        tl.load(xs + C, mask=mask, other=0.) +
        tl.load(hs + C, mask=mask, other=0.))
    tg = _tanh(
        tl.load(xs + 2 * C, mask=mask, other=0.) +
        tl.load(hs + 2 * C, mask=mask, other=0.))
    return si, sf, tg


@triton.jit
def _dsu_combine_kernel(x_proj, h_proj, c_prev, h_out, c_out, C, x_row,
                        stride_x, stride_h, BLOCK: tl.constexpr):
    """Grid ``(channel blocks, N)``."""
    n = tl.program_id(1).to(tl.int64)
    c = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = c < C
    si, sf, tg = _dsu_gates(x_proj, h_proj, x_row, n, c, mask, C, stride_x,
                            stride_h)
    cell = sf * tl.load(c_prev + n * C + c, mask=mask, other=0.) + si * tg
    tl.store(c_out + n * C + c, cell, mask=mask)
    tl.store(h_out + n * C + c, _sigmoid(cell), mask=mask)


@triton.jit
def _dsu_combine_backward_kernel(x_proj, h_proj, c_prev, grad_h, grad_c,
                                 grad_x_proj, grad_h_proj, grad_c_prev, C,
                                 x_row, rows, stride_x, stride_h,
                                 HAS_GRAD_H: tl.constexpr,
                                 HAS_GRAD_C: tl.constexpr,
                                 BLOCK: tl.constexpr):
    """Gradients of the input projections ``[N, rows * 3C]`` (zero but in
    the row read), of the hidden projection ``[N, 3C]`` and of ``c``
    ``[N, C]``. Grid ``(channel blocks, N)``."""
    n = tl.program_id(1).to(tl.int64)
    c = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = c < C
    si, sf, tg = _dsu_gates(x_proj, h_proj, x_row, n, c, mask, C, stride_x,
                            stride_h)
    cp = tl.load(c_prev + n * C + c, mask=mask, other=0.)
    dc = tl.full((BLOCK, ), 0., tl.float32)
    if HAS_GRAD_C:
        dc += tl.load(grad_c + n * C + c, mask=mask, other=0.)
    if HAS_GRAD_H:
        h = _sigmoid(sf * cp + si * tg)
        dc += tl.load(grad_h + n * C + c, mask=mask, other=0.) * h * (1. - h)
    gi = dc * tg * si * (1. - si)
    gf = dc * cp * sf * (1. - sf)
    gg = dc * si * (1. - tg * tg)
    out = grad_h_proj + n * 3 * C + c
    tl.store(out, gi, mask=mask)
    tl.store(out + C, gf, mask=mask)
    tl.store(out + 2 * C, gg, mask=mask)
    for r in range(rows):
        out = grad_x_proj + (n * rows + r) * 3 * C + c
        keep = (r * 3 * C == x_row).to(tl.float32)
        tl.store(out, gi * keep, mask=mask)
        tl.store(out + C, gf * keep, mask=mask)
        tl.store(out + 2 * C, gg * keep, mask=mask)
    tl.store(grad_c_prev + n * C + c, dc * sf, mask=mask)


@triton.jit
def _channel_conv(pooled, weights, n, ch, C, stride_n, K: tl.constexpr):
    """``conv1d(pooled[n, 0], weights)`` over the channels (zero padding
    ``(K - 1) / 2``) at channels ``ch`` (any shape)."""
    out = tl.full(ch.shape, 0., tl.float32)
    for j in tl.static_range(K):
        src = ch + (j - (K - 1) // 2)
        out += tl.load(weights + j) * tl.load(
            pooled + n * stride_n + src, mask=(src >= 0) & (src < C),
            other=0.)
    return out


@triton.jit
def _head_tile(g0, HEAD_DIM: tl.constexpr, HEADS: tl.constexpr):
    """Channels ``[HEADS, HEAD_DIM]`` of the heads from ``g0`` on."""
    heads = g0 + tl.arange(0, HEADS)
    return heads[:, None] * HEAD_DIM + tl.arange(0, HEAD_DIM)[None, :]


@triton.jit
def _gate_kernels_kernel(pooled, gate_d, q_kernel, k_kernel, value, update,
                         lam, kx, kr, a_out, C, G, stride_n, inv_sqrt_dim,
                         K: tl.constexpr, HEAD_DIM: tl.constexpr,
                         HEADS: tl.constexpr):
    """Grid ``(N, )``: the gate kernels of one sample, ``HEADS`` heads at
    a time."""
    n = tl.program_id(0).to(tl.int64)
    for g0 in range(0, G, HEADS):
        ch = _head_tile(g0, HEAD_DIM, HEADS)
        mask = ch < C
        q = _channel_conv(pooled, q_kernel, n, ch, C, stride_n, K)
        k = _channel_conv(pooled, k_kernel, n, ch, C, stride_n, K)
        a = _sigmoid(row_sums(q * k) * inv_sqrt_dim)[:, None] + 0. * q
        tl.store(a_out + n * C + ch, a, mask=mask)
        lm = tl.load(lam + ch, mask=mask, other=0.)
        centre = lm * tl.load(gate_d + n * C + ch, mask=mask, other=0.)
        for t in tl.static_range(TAPS):
            dst = (n * TAPS + t) * C + ch
            tl.store(
                kx + dst,
                tl.load(value + ch * TAPS + t, mask=mask, other=0.) * a,
                mask=mask)
            v = tl.load(update + ch * TAPS + t, mask=mask, other=0.) * lm
            if t == CENTER_TAP:
                v += centre
            tl.store(kr + dst, v, mask=mask)


@triton.jit
def _gate_kernels_sample_backward_kernel(
        pooled, q_kernel, k_kernel, value, lam, a, grad_kx, grad_kr, grad_qk,
        grad_pooled, grad_d, qk_partial, C, G, stride_n, rows, inv_sqrt_dim,
        K: tl.constexpr,
        K_BLOCK: tl.constexpr, HEAD_DIM: tl.constexpr, HEADS: tl.constexpr):
    """Grid ``(N, )``: per sample, the gradients of the means ``pooled``
    ``[N, rows, C]`` (zero but in row 0) and of ``d``, and the sample's
    share of the query and key kernels' gradients ``qk_partial[n]`` ``[2,
    K_BLOCK]``. ``grad_qk`` ``[N, 2, C]``
    holds the gradients of ``q`` and ``k`` between the two passes."""
    n = tl.program_id(0).to(tl.int64)
    offs_k = tl.arange(0, K_BLOCK)
    part_q = tl.full((K_BLOCK, ), 0., tl.float32)
    part_k = tl.full((K_BLOCK, ), 0., tl.float32)
    for g0 in range(0, G, HEADS):
        ch = _head_tile(g0, HEAD_DIM, HEADS)
        mask = ch < C
        q = _channel_conv(pooled, q_kernel, n, ch, C, stride_n, K)
        k = _channel_conv(pooled, k_kernel, n, ch, C, stride_n, K)
        grad_a = tl.full(ch.shape, 0., tl.float32)
        for t in tl.static_range(TAPS):
            grad_a += tl.load(
                grad_kx + (n * TAPS + t) * C + ch, mask=mask,
                other=0.) * tl.load(
                    value + ch * TAPS + t, mask=mask, other=0.)
        ah = tl.load(a + n * C + ch, mask=mask, other=0.)
        # every channel of a head holds its gate: the head's mean is it
        a_head = row_sums(ah) / HEAD_DIM
        grad_logit = (row_sums(grad_a) * a_head *
                      (1. - a_head) * inv_sqrt_dim)[:, None]
        gq, gk = grad_logit * k, grad_logit * q
        tl.store(grad_qk + (n * 2) * C + ch, gq, mask=mask)
        tl.store(grad_qk + (n * 2 + 1) * C + ch, gk, mask=mask)
        for j in tl.static_range(K):
            src = ch + (j - (K - 1) // 2)
            p = tl.load(
                pooled + n * stride_n + src, mask=(src >= 0) & (src < C),
                other=0.)
            part_q += tl.where(offs_k == j, column_sums(row_sums(gq * p)),
                               0.)
            part_k += tl.where(offs_k == j, column_sums(row_sums(gk * p)),
                               0.)
        centre = tl.load(grad_kr + (n * TAPS + CENTER_TAP) * C + ch, mask=mask,
                         other=0.)
        tl.store(
            grad_d + n * C + ch,
            centre * tl.load(lam + ch, mask=mask, other=0.),
            mask=mask)
    tl.store(qk_partial + n * 2 * K_BLOCK + offs_k, part_q)
    tl.store(qk_partial + (n * 2 + 1) * K_BLOCK + offs_k, part_k)
    tl.debug_barrier()  # grad_qk of every channel of the sample is stored
    for g0 in range(0, G, HEADS):
        ch = _head_tile(g0, HEAD_DIM, HEADS)
        # q[c] = sum_j w[j] pooled[c + j - pad]: the transposed conv1d
        total = tl.full(ch.shape, 0., tl.float32)
        for j in tl.static_range(K):
            src = ch - (j - (K - 1) // 2)
            inside = (src >= 0) & (src < C)
            total += tl.load(q_kernel + j) * tl.load(
                grad_qk + (n * 2) * C + src, mask=inside, other=0.)
            total += tl.load(k_kernel + j) * tl.load(
                grad_qk + (n * 2 + 1) * C + src, mask=inside, other=0.)
        tl.store(grad_pooled + n * rows * C + ch, total, mask=ch < C)
        for r in range(1, rows):
            tl.store(grad_pooled + (n * rows + r) * C + ch, 0. * total,
                     mask=ch < C)


@triton.jit
def _gate_kernels_channel_backward_kernel(
        gate_d, update, lam, a, grad_kx, grad_kr, qk_partial, grad_value,
        grad_update, grad_lam, grad_q_kernel, grad_k_kernel, N, C,
        K: tl.constexpr, K_BLOCK: tl.constexpr, BLOCK_C: tl.constexpr):
    """Grid ``(channel blocks, )``: per channel, over the batch in order,
    the gradients of ``value`` and ``update`` ``[C, 9]`` and ``lambda``;
    program 0 also adds the samples' shares of the query and key kernels'
    gradients."""
    c = tl.program_id(0) * BLOCK_C + tl.arange(0, BLOCK_C)
    mask_c = c < C
    taps = tl.arange(0, TAP_ROWS)
    mask = (taps < TAPS)[:, None] & mask_c[None, :]
    tap_rows = taps[:, None] * C + c[None, :]
    upd = tl.load(update + c[None, :] * TAPS + taps[:, None], mask=mask,
                  other=0.)
    acc_value = tl.full((TAP_ROWS, BLOCK_C), 0., tl.float32)
    acc_update = tl.full((TAP_ROWS, BLOCK_C), 0., tl.float32)
    acc_centre = tl.full((BLOCK_C, ), 0., tl.float32)
    for n in range(N):
        gx = tl.load(grad_kx + n * TAPS * C + tap_rows, mask=mask, other=0.)
        gr = tl.load(grad_kr + n * TAPS * C + tap_rows, mask=mask, other=0.)
        acc_value += gx * tl.load(
            a + n * C + c, mask=mask_c, other=0.)[None, :]
        acc_update += gr
        acc_centre += tl.load(
            grad_kr + (n * TAPS + CENTER_TAP) * C + c, mask=mask_c,
            other=0.) * tl.load(gate_d + n * C + c, mask=mask_c, other=0.)
    lm = tl.load(lam + c, mask=mask_c, other=0.)
    dst = c[None, :] * TAPS + taps[:, None]
    tl.store(grad_value + dst, acc_value, mask=mask)
    tl.store(grad_update + dst, acc_update * lm[None, :], mask=mask)
    tl.store(
        grad_lam + c, column_sums(acc_update * upd) + acc_centre,
        mask=mask_c)
    if tl.program_id(0) == 0:
        offs_k = tl.arange(0, K_BLOCK)
        total_q = tl.full((K_BLOCK, ), 0., tl.float32)
        total_k = tl.full((K_BLOCK, ), 0., tl.float32)
        for n in range(N):
            total_q += tl.load(qk_partial + n * 2 * K_BLOCK + offs_k)
            total_k += tl.load(qk_partial + (n * 2 + 1) * K_BLOCK + offs_k)
        tl.store(grad_q_kernel + offs_k, total_q, mask=offs_k < K)
        tl.store(grad_k_kernel + offs_k, total_k, mask=offs_k < K)


# Launchers, called by the custom ops of .dla_light_gate_ops.


def dsu_combine(x_proj: torch.Tensor, row: int, h_proj: torch.Tensor,
                c_prev: torch.Tensor, h_out: torch.Tensor,
                c_out: torch.Tensor) -> None:
    """Write the DSU's new ``h`` and ``c`` ``[N, C]`` from the input
    projection ``x_proj[:, row]`` (``x_proj`` ``[N, R, 3C]``, contiguous),
    ``h_proj`` ``[N, 3C]`` and ``c_prev``."""
    n, c = c_prev.shape
    launch(
        _dsu_combine_kernel, (cdiv(c, layout.CHANNEL_BLOCK), n), x_proj,
        h_proj, c_prev, h_out, c_out, c, row * 3 * c, x_proj.stride(0),
        h_proj.stride(0), BLOCK=layout.CHANNEL_BLOCK)


def dsu_combine_backward(x_proj: torch.Tensor, row: int,
                         h_proj: torch.Tensor, c_prev: torch.Tensor,
                         grad_h: Optional[torch.Tensor],
                         grad_c: Optional[torch.Tensor],
                         grad_x_proj: torch.Tensor, grad_h_proj: torch.Tensor,
                         grad_c_prev: torch.Tensor) -> None:
    """Write the gradients of :func:`dsu_combine`'s inputs (``grad_x_proj``
    ``[N, R, 3C]``, zero but in row ``row``); ``grad_h`` or ``grad_c``
    None: a zero gradient."""
    n, c = c_prev.shape
    launch(
        _dsu_combine_backward_kernel, (cdiv(c, layout.CHANNEL_BLOCK), n),
        x_proj, h_proj, c_prev, c_prev if grad_h is None else grad_h,
        c_prev if grad_c is None else grad_c, grad_x_proj, grad_h_proj,
        grad_c_prev, c, row * 3 * c, x_proj.shape[1], x_proj.stride(0),
        h_proj.stride(0), HAS_GRAD_H=grad_h is not None,
        HAS_GRAD_C=grad_c is not None, BLOCK=layout.CHANNEL_BLOCK)


def _heads_per_step(head_dim: int) -> int:
    """Heads a program handles at a time: about 256 channels."""
    return max(1, layout.CHANNEL_BLOCK // head_dim)


def gate_kernels(pooled: torch.Tensor, gate_d: torch.Tensor,
                 q_kernel: torch.Tensor, k_kernel: torch.Tensor,
                 value: torch.Tensor, update: torch.Tensor,
                 lam: torch.Tensor, head_dim: int, kx: torch.Tensor,
                 kr: torch.Tensor, a: torch.Tensor) -> None:
    """Write the tap-major kernels ``kx``, ``kr`` ``[N, 9, C]`` and the head
    gates per channel ``a`` ``[N, C]`` from ``GAP(x)`` (row 0 of ``pooled``
    ``[N, R, C]``), the update gate ``gate_d`` ``[N, C]`` and the
    parameters."""
    n, _, c = pooled.shape
    launch(
        _gate_kernels_kernel, (n, ), pooled, gate_d, q_kernel, k_kernel,
        value, update, lam, kx, kr, a, c, c // head_dim, pooled.stride(0),
        head_dim**-0.5,
        K=q_kernel.numel(), HEAD_DIM=head_dim,
        HEADS=_heads_per_step(head_dim))


def gate_kernels_backward(pooled: torch.Tensor, gate_d: torch.Tensor,
                          q_kernel: torch.Tensor, k_kernel: torch.Tensor,
                          value: torch.Tensor, update: torch.Tensor,
                          lam: torch.Tensor, a: torch.Tensor,
                          grad_kx: torch.Tensor, grad_kr: torch.Tensor,
                          head_dim: int, grads: tuple) -> None:
    """Fill ``grads``, the gradients of (pooled, d, q_kernel, k_kernel,
    value, update, lambda), from those of ``kx`` and ``kr``: a per-sample
    pass (means, ``d``, and the samples' shares of the query and key
    kernels' gradients), then a per-channel pass over the batch."""
    (grad_pooled, grad_d, grad_q_kernel, grad_k_kernel, grad_value,
     grad_update, grad_lam) = grads
    n, rows, c = pooled.shape
    k = q_kernel.numel()
    k_block = next_power_of_2(k)
    grad_qk = pooled.new_empty(n, 2, c)  # of q and k
    qk_partial = pooled.new_empty(n, 2, k_block)
    launch(
        _gate_kernels_sample_backward_kernel, (n, ), pooled, q_kernel,
        k_kernel, value, lam, a, grad_kx, grad_kr, grad_qk, grad_pooled,
        grad_d, qk_partial, c, c // head_dim, pooled.stride(0), rows,
        head_dim**-0.5, K=k,
        K_BLOCK=k_block, HEAD_DIM=head_dim, HEADS=_heads_per_step(head_dim))
    block_c = min(64, next_power_of_2(c))
    launch(
        _gate_kernels_channel_backward_kernel, (cdiv(c, block_c), ), gate_d,
        update, lam, a, grad_kx, grad_kr, qk_partial, grad_value,
        grad_update, grad_lam, grad_q_kernel, grad_k_kernel, n, c, K=k,
        K_BLOCK=k_block, BLOCK_C=block_c)
