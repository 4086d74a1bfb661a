"""Triton helpers that the kernel modules of :mod:`mmdla.ops` share.

The reductions are written with the builtin ``tl.reduce`` rather than
``tl.sum``: Triton defines ``tl.sum`` as a compiled-only function when it
was imported without ``TRITON_INTERPRET``, while the interpreter recognises
the sum's combine function and reduces with NumPy. So the kernels run in the
interpreter even if Triton was imported before the variable was set. Like
the kernel modules, this module is imported on first use and re-imported
by the tests that switch the interpreter on (see
``tests/test_ops/conftest.py``).
"""
from typing import Tuple

import triton
import triton.language as tl


@triton.jit
def column_sums(v):
    """``v.sum(0)`` for fp32 ``v``."""
    return tl.reduce(v, 0, tl.standard._sum_combine)


@triton.jit
def row_sums(v):
    """``v.sum(1)`` for fp32 ``v``."""
    return tl.reduce(v, 1, tl.standard._sum_combine)


def launch(kernel: triton.runtime.jit.JITFunction, grid: Tuple[int, ...],
           *args, **constexprs) -> None:
    """Launch ``kernel`` on ``grid``: the single launch point of the kernel
    modules (each calls it through its own module-level name, which tests
    intercept)."""
    kernel[grid](*args, **constexprs)
