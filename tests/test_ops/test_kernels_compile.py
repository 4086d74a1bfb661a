"""Every Triton kernel of :mod:`mmdla.ops` compiles for a Hopper GPU
(sm_90), without one: the checks of Triton's code generator and of
``ptxas`` that the interpreter does not make.

The launchers run on small CPU tensors with the launch intercepted, so that
each kernel is compiled with the argument types and constexprs its
launcher really passes (bf16 activations, both layouts, every option).
"""
import importlib
import os
import sys
from unittest import mock

import pytest
import torch

from mmdla.ops.dla_light_ops import KERNELS_MODULE as KERNELS

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


@pytest.fixture(scope='module')
def compiled_mode_kernels():
    """The kernel module imported afresh without ``TRITON_INTERPRET``."""
    triton = pytest.importorskip('triton', reason='triton is not installed')
    with mock.patch.dict(os.environ):
        os.environ.pop('TRITON_INTERPRET', None)
        sys.modules.pop(KERNELS, None)
        yield triton, importlib.import_module(KERNELS)
    sys.modules.pop(KERNELS, None)


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
def test_kernels_compile_for_sm90(compiled_mode_kernels, channels_last,
                                  flags):
    triton, kernels = compiled_mode_kernels
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource
    every_kernel = {
        name
        for name in dir(kernels) if name.endswith('_kernel')
        and isinstance(getattr(kernels, name), triton.runtime.jit.JITFunction)
    }
    calls = launches(kernels, channels_last, flags)
    assert {kernel.__name__ for kernel, *_ in calls} == every_kernel
    for kernel, args, constexprs, num_warps in calls:
        compiled = triton.compile(
            ASTSource(kernel, *signature(kernel, args, constexprs)),
            target=GPUTarget('cuda', 90, 32),
            options=dict(num_warps=num_warps))
        assert compiled.asm['cubin'], kernel.__name__
