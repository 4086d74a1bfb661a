"""Every Triton kernel of :mod:`mmdla.ops` compiles for a Hopper GPU
(sm_90), without one: the checks of Triton's code generator and of
``ptxas`` that the interpreter does not make, and ``ptxas``'s report that
no kernel spills registers to local memory (a spilling kernel runs far
below the bandwidth).

The launchers run on CPU tensors with the launch intercepted, so that each
kernel is compiled with the argument types and constexprs its launcher
really passes (bf16 activations, both layouts, every option).
"""
import os
import re
import subprocess
from unittest import mock

import pytest
import torch

DTYPES = {
    torch.bfloat16: 'bf16',
    torch.float16: 'fp16',
    torch.float32: 'fp32',
}


def signature(fn, args, constexprs):
    """Types and constexpr values of ``fn``'s arguments, from the values a
    launcher passes."""
    names = [name for name in fn.arg_names if name not in constexprs]
    assert len(names) == len(args), fn.__name__
    types = {}
    for name, value in zip(names, args):
        if isinstance(value, torch.Tensor):
            types[name] = '*' + DTYPES[value.dtype]
        elif isinstance(value, bool):
            types[name] = 'i1'
        elif isinstance(value, int):
            types[name] = 'i32' if abs(value) < 2**31 else 'i64'
        else:
            assert isinstance(value, float), (name, value)
            types[name] = 'fp32'
    types.update({name: 'constexpr' for name in constexprs})
    return types, dict(constexprs)


def jit_kernels(triton, module) -> set:
    return {
        name
        for name in dir(module) if name.endswith('_kernel')
        and isinstance(getattr(module, name), triton.runtime.jit.JITFunction)
    }


def compile_for_sm90(triton, kernel, args, constexprs, num_warps):
    """Compile ``kernel`` for sm_90 and return ``(registers, spill bytes)``
    that ``ptxas`` reports."""
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource
    compiled = triton.compile(
        ASTSource(kernel, *signature(kernel, args, constexprs)),
        target=GPUTarget('cuda', 90, 32),
        options=dict(num_warps=num_warps))
    assert compiled.asm['cubin'], kernel.__name__
    ptxas = os.path.join(
        os.path.dirname(triton.__file__), 'backends', 'nvidia', 'bin', 'ptxas')
    ptx = compiled.asm['ptx']
    result = subprocess.run(
        [ptxas, '-arch=sm_90a', '-v', '-', '-o', os.devnull],
        input=ptx,
        capture_output=True,
        text=True)
    report = result.stdout + result.stderr
    assert result.returncode == 0, report
    return (int(re.search(r'Used (\d+) registers', report).group(1)),
            int(re.search(r'(\d+) bytes spill stores', report).group(1)))


def assert_every_kernel_compiles_unspilled(triton, module, calls) -> None:
    """``calls`` launch every kernel of ``module``, and each compiles for
    sm_90 as launched without spilling registers."""
    assert {kernel.__name__
            for kernel, *_ in calls} == jit_kernels(triton, module)
    for kernel, args, constexprs, num_warps in calls:
        registers, spilled = compile_for_sm90(triton, kernel, args, constexprs,
                                              num_warps)
        assert spilled == 0, (kernel.__name__, registers, spilled)


def launches(kernels, channels_last: bool, flags: bool):
    """``(kernel, args, constexprs, num_warps)`` of every launch of the
    launchers for one layout and every boolean option set to ``flags``."""
    calls = []

    def record(kernel, grid, *args, num_warps=4, **constexprs):
        calls.append((kernel, args, constexprs, num_warps))

    n, c, h, w = 2, 80, 5, 7
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    x = torch.zeros(n, c, h, w, dtype=torch.bfloat16).to(memory_format=fmt)
    k = torch.zeros(n, 9, c)
    vec, scale = torch.zeros(c), torch.ones(n)
    coefs = torch.zeros(4, c)
    sums = torch.zeros(n, 2, c)
    with mock.patch.object(kernels, 'launch', record):
        kernels.spatial_means(x, x, flags)
        kernels.output_sums(x, x, k, k, flags)
        kernels.norm_coefficients(sums if flags else None, vec, vec, vec, vec,
                                  10, 1e-5, 0.1, coefs)
        kernels.norm_grad_coefficients(sums, coefs, 10, flags, coefs)
        kernels.epilogue(x, x, k, k, vec, vec, scale, flags, x)
        _, taps = kernels.grad_reduce(x, x, x, k, k, scale, flags, flags, x)
        kernels.kernel_grads(taps, coefs, coefs if flags else None, n, k, k)
        kernels.input_grads(x, x if flags else None, x, x, scale, coefs,
                            coefs if flags else None, k, k, sums, flags, x, x)
    return calls


@pytest.mark.parametrize('channels_last', [False, True])
@pytest.mark.parametrize('flags', [False, True])
def test_kernels_compile_for_sm90(compiled_mode_kernels, channels_last, flags):
    triton, kernels, _ = compiled_mode_kernels
    calls = launches(kernels, channels_last, flags)
    assert_every_kernel_compiles_unspilled(triton, kernels, calls)


def test_gate_kernels_compile_for_sm90(compiled_mode_kernels):
    triton, _, gates = compiled_mode_kernels
    calls = []

    def record(kernel, grid, *args, num_warps=4, **constexprs):
        calls.append((kernel, args, constexprs, num_warps))

    n, c = 2, 512
    vec, state, proj = torch.zeros(c), torch.zeros(n, c), torch.zeros(
        n, 2, 3 * c)
    k = torch.zeros(n, 9, c)
    kernel3 = torch.zeros(c, 1, 3, 3)
    gate_args = (torch.zeros(n, 2, c), state, torch.zeros(5), torch.zeros(5),
                 kernel3, kernel3, vec)
    with mock.patch.object(gates, 'launch', record):
        gates.dsu_combine(proj, 1, proj[:, 0], state, state, state)
        gates.dsu_combine_backward(proj, 1, proj[:, 0], state, state, state,
                                   proj, proj[:, 0], state)
        gates.gate_kernels(*gate_args, 32, k, k, state)
        grads = tuple(torch.zeros_like(t) for t in gate_args)
        gates.gate_kernels_backward(*gate_args, state, k, k, 32, grads)
    assert_every_kernel_compiles_unspilled(triton, gates, calls)
