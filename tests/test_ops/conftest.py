"""The Triton kernels of :mod:`mmdla.ops` on CPU tensors, in Triton's
interpreter (``TRITON_INTERPRET=1``), or compiled for a GPU without one.

Triton reads the variable when a kernel is defined, so the fixtures set it
(or clear it) and then import the kernel modules afresh (the helpers they
share first), whatever imported them earlier in the session. Triton itself
is imported before, without it, so that its own library stays
compiled-mode for later GPU use in the same process (the kernels need none
of it in the interpreter).
"""
import importlib
import os
import sys
from typing import Iterator
from unittest import mock

import pytest

import mmdla.ops

# The modules that define Triton functions, in import order.
KERNEL_MODULES = ('triton_helpers', 'dla_light_kernels',
                  'dla_light_gate_kernels')


def forget_kernel_modules() -> None:
    """Drop the kernel modules, so that their next use imports them afresh
    (also where the ops import them with ``from . import ...``)."""
    for name in KERNEL_MODULES:
        sys.modules.pop(f'{mmdla.ops.__name__}.{name}', None)
        if hasattr(mmdla.ops, name):
            delattr(mmdla.ops, name)


@pytest.fixture(scope='module')
def interpreted_kernels() -> Iterator[None]:
    """The Triton kernels defined under the interpreter for a module's
    tests; the next use after them imports them afresh."""
    pytest.importorskip('triton', reason='triton is not installed')
    with mock.patch.dict(os.environ, TRITON_INTERPRET='1'):
        forget_kernel_modules()
        for name in KERNEL_MODULES:
            importlib.import_module(f'{mmdla.ops.__name__}.{name}')
        yield
    forget_kernel_modules()


@pytest.fixture(scope='module')
def compiled_mode_kernels():
    """The kernel modules imported afresh without ``TRITON_INTERPRET``:
    ``(triton, dla_light_kernels, dla_light_gate_kernels)``."""
    triton = pytest.importorskip('triton', reason='triton is not installed')
    with mock.patch.dict(os.environ):
        os.environ.pop('TRITON_INTERPRET', None)
        forget_kernel_modules()
        from mmdla.ops import dla_light_gate_kernels, dla_light_kernels
        yield triton, dla_light_kernels, dla_light_gate_kernels
    forget_kernel_modules()
