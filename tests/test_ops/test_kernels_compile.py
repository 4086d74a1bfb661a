"""Every Triton kernel of :mod:`mmdla.ops` compiles for a Hopper GPU
(sm_90), without one: the checks of Triton's code generator and of
``ptxas`` that the interpreter does not make."""
import importlib
import os
import sys
from unittest import mock

import pytest

from mmdla.ops.dla_light_ops import KERNELS_MODULE as KERNELS

# argument names of the kernels -> types (the rest: fp32 pointers)
ACTIVATIONS = {'x', 'r', 'g', 'y', 'o', 'o_out', 'dx', 'dr'}
SCALARS = {'inv_hw', 'inv_count', 'unbiased', 'eps', 'momentum'}
SIZES = {'N', 'C', 'H', 'W', 'NC'}
BLOCKS = dict(BLOCK_P=64, BLOCK_C=32, BLOCK=256)


def signature(fn, flags: bool):
    """Types and constexpr values of ``fn``'s arguments for bf16
    activations, every boolean option set to ``flags``."""
    types, constants = {}, {}
    for name in fn.arg_names:
        if name in BLOCKS or name.isupper() and name not in SIZES:
            constants[name] = BLOCKS.get(name, flags)
            types[name] = 'constexpr'
        elif name in SCALARS:
            types[name] = 'fp32'
        elif name in SIZES or (len(name) == 3 and name[0] == 's'):
            types[name] = 'i32'  # sizes and strides (sxn, ...)
        else:
            types[name] = '*bf16' if name in ACTIVATIONS else '*fp32'
    return types, constants


@pytest.fixture(scope='module')
def compiled_mode_kernels():
    """The kernel module imported afresh without ``TRITON_INTERPRET``."""
    triton = pytest.importorskip('triton', reason='triton is not installed')
    with mock.patch.dict(os.environ):
        os.environ.pop('TRITON_INTERPRET', None)
        sys.modules.pop(KERNELS, None)
        yield triton, importlib.import_module(KERNELS)
    sys.modules.pop(KERNELS, None)


@pytest.mark.parametrize('flags', [False, True])
def test_kernels_compile_for_sm90(compiled_mode_kernels, flags):
    triton, kernels = compiled_mode_kernels
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource
    names = [
        name for name in dir(kernels) if name.endswith('_kernel')
        and isinstance(getattr(kernels, name), triton.runtime.jit.JITFunction)
    ]
    assert len(names) == 9
    for name in names:
        fn = getattr(kernels, name)
        compiled = triton.compile(
            ASTSource(fn, *signature(fn, flags)),
            target=GPUTarget('cuda', 90, 32))
        assert compiled.asm['cubin'], name
