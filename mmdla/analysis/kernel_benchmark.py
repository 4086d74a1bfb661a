"""Speed of the fused DLA-L custom ops (:mod:`mmdla.ops`) at given shapes.

Each op runs alone on inputs of one block's shape; its time is set against
the bytes it must move (every tensor it reads and writes, once) and the
memory bandwidth of the GPU. On CUDA the time is
:func:`triton.testing.do_bench` (the median of many runs, caches flushed);
elsewhere (the CPU, the kernels in Triton's interpreter) a plain wall-clock
mean, for testing the tool.
"""
import time
from typing import Callable, Dict, Iterator, List, NamedTuple, Sequence, Tuple

import torch
from torch import Tensor

from mmdla.models.layers.layer_attention import eca_kernel_size
from mmdla.ops import dla_light_gate_ops as gate_ops
from mmdla.ops import dla_light_ops as ops
from mmdla.ops.dla_light_layout import MEANS, TAPS, norm_coefficient_rows

# The stages of ResNet-50 at 224 x 224 and of a detector's backbone at
# 800 x 1216: (channels, height, width) of each stage's blocks.
RESNET50_STAGES = ((256, 56, 56), (512, 28, 28), (1024, 14, 14), (2048, 7, 7))
DETECTION_STAGES = ((256, 200, 304), (512, 100, 152), (1024, 50, 76), (2048,
                                                                       25, 38))
PRESETS = {
    # preset: (batch, stages)
    'classification': (128, RESNET50_STAGES),
    'detection': (2, DETECTION_STAGES),
}
H200_BANDWIDTH = 4.8e12  # bytes per second


class OpCase(NamedTuple):
    """One custom op on the inputs of one shape."""
    name: str
    run: Callable[[], object]
    bytes_moved: int


def _nbytes(values) -> int:
    """Bytes of the tensors in ``values`` (nested tuples allowed)."""
    if isinstance(values, Tensor):
        return values.numel() * values.element_size()
    if isinstance(values, (tuple, list)):
        return sum(_nbytes(v) for v in values)
    return 0


def _case(name: str, op: Callable, *args) -> OpCase:
    """The case of ``op(*args)``: bytes of its tensor inputs and outputs."""
    out = op(*args)
    return OpCase(name, lambda: op(*args), _nbytes(args) + _nbytes(out))


def op_cases(shape: Sequence[int], dtype: torch.dtype,
             device: torch.device) -> List[OpCase]:
    """The custom ops of one training step of a block (forward with batch
    statistics, backward with batch statistics and with a frozen norm, and
    the ops of the ``[N, C]`` part, fp32) on channels_last inputs ``[N, C,
    H, W]`` of ``dtype``."""
    n, c, h, w = shape
    gen = torch.Generator(device='cpu').manual_seed(0)

    def full_size() -> Tensor:
        return torch.randn(
            shape, generator=gen).to(
                device, dtype, memory_format=torch.channels_last)

    x, r, grad = full_size(), full_size(), full_size()
    kx = torch.randn(n, TAPS, c, generator=gen).to(device)
    kr = torch.randn(n, TAPS, c, generator=gen).to(device)
    scale = torch.ones(n, device=device)
    weight, bias = torch.ones(c, device=device), torch.zeros(c, device=device)
    mean, var = torch.zeros(c, device=device), torch.ones(c, device=device)
    sums = ops.output_sums(x, r, kx, kr, False)
    coefs = ops.norm_coefficients(sums, weight, bias, None, None, c, n * h * w,
                                  1e-5, 0.0)
    alpha, shift = norm_coefficient_rows(coefs)[2:]
    o, grad_sums, taps = ops.grad_reduce(grad, x, r, kx, kr, scale, True,
                                         False)
    grad_coefs = ops.norm_grad_coefficients(grad_sums, coefs, n * h * w, True)
    _, _, eval_taps = ops.grad_reduce(grad, x, r, kx, kr, scale, False, False)
    pooled_grad = torch.zeros(n, MEANS, c, device=device)
    # the [N, C] part (default head_dim 32 and the ECA kernel size)
    head_dim = min(32, c)
    pooled = torch.randn(n, 2, c, generator=gen).to(device)
    proj = torch.randn(n, 2, 3 * c, generator=gen).to(device)
    h_proj = torch.randn(n, 3 * c, generator=gen).to(device)
    cell = torch.randn(n, c, generator=gen).to(device)
    gate = torch.rand(n, c, generator=gen).to(device)
    qk = torch.randn(eca_kernel_size(c), generator=gen).to(device)
    value, update = (
        torch.randn(c, 1, 3, 3, generator=gen).to(device) for _ in range(2))
    lam = torch.randn(c, 1, 1, generator=gen).to(device)
    gate_args = (pooled, gate, qk, qk, value, update, lam)
    *_, gates_a = gate_ops.gate_kernels(*gate_args, head_dim)
    return [
        _case('spatial_means', ops.spatial_means, x, r, False),
        _case('output_sums', ops.output_sums, x, r, kx, kr, False),
        _case('norm_coefficients', ops.norm_coefficients, sums, weight, bias,
              mean, var, c, n * h * w, 1e-5, 0.1),
        _case('epilogue', ops.epilogue, x, r, kx, kr, alpha, shift, scale,
              False),
        _case('grad_reduce', ops.grad_reduce, grad, x, r, kx, kr, scale, True,
              False),
        _case('grad_reduce (frozen norm)', ops.grad_reduce, grad, x, r, kx, kr,
              scale, False, False),
        _case('norm_grad_coefficients', ops.norm_grad_coefficients, grad_sums,
              coefs, n * h * w, True),
        _case('kernel_grads', ops.kernel_grads, taps, coefs, grad_coefs, n),
        _case('kernel_grads (frozen norm)', ops.kernel_grads, eval_taps, coefs,
              None, n),
        _case('input_grads', ops.input_grads, grad, o, x, r, scale, coefs,
              grad_coefs, kx, kr, pooled_grad, False),
        _case('input_grads (frozen norm)', ops.input_grads, grad, None, x, r,
              scale, coefs, None, kx, kr, pooled_grad, False),
        _case('dsu_combine', gate_ops.dsu_combine, proj, 0, h_proj, cell),
        _case('dsu_combine_backward', gate_ops.dsu_combine_backward, proj, 0,
              h_proj, cell, cell, cell),
        _case('gate_kernels', gate_ops.gate_kernels, *gate_args, head_dim),
        _case('gate_kernels_backward', gate_ops.gate_kernels_backward,
              *gate_args, gates_a, kx, kr, head_dim),
    ]


def op_milliseconds(case: OpCase,
                    device: torch.device,
                    iters: int = 3) -> float:
    """Milliseconds of one call of ``case``: ``do_bench`` on CUDA, else a
    wall-clock mean of ``iters`` calls."""
    if device.type == 'cuda':
        from triton.testing import do_bench
        return do_bench(case.run)
    start = time.perf_counter()
    for _ in range(iters):
        case.run()
    return (time.perf_counter() - start) / iters * 1e3


def benchmark_ops(batch: int,
                  stages: Sequence[Tuple[int, int, int]],
                  dtype: torch.dtype,
                  device: torch.device,
                  bandwidth: float = H200_BANDWIDTH,
                  iters: int = 3) -> Iterator[Dict[str, object]]:
    """Rows ``{op, shape, ms, GB/s, bandwidth share}`` of every op at every
    stage shape."""
    for c, h, w in stages:
        shape = (batch, c, h, w)
        for case in op_cases(shape, dtype, device):
            ms = op_milliseconds(case, device, iters)
            rate = case.bytes_moved / (ms * 1e-3)
            yield dict(
                op=case.name,
                shape='x'.join(map(str, shape)),
                ms=ms,
                gbps=rate / 1e9,
                share=rate / bandwidth)
