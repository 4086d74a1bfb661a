"""The Triton kernels of :mod:`mmdla.ops` on CPU tensors, in Triton's
interpreter (``TRITON_INTERPRET=1``).

Triton reads the variable when a kernel is defined, so the fixture sets it
and then imports the kernel module afresh, whatever imported the module
earlier in the session. Triton itself is imported before, without it, so
that its own library stays compiled-mode for later GPU use in the same
process (the kernels need none of it in the interpreter).
"""
import importlib
import os
import sys
from unittest import mock

import pytest

from mmdla.ops.dla_light_ops import KERNELS_MODULE as KERNELS


@pytest.fixture(scope='module')
def interpreted_kernels() -> None:
    """The Triton kernels defined under the interpreter for a module's
    tests; the next use after them imports them afresh."""
    pytest.importorskip('triton', reason='triton is not installed')
    with mock.patch.dict(os.environ, TRITON_INTERPRET='1'):
        if KERNELS in sys.modules:
            importlib.reload(sys.modules[KERNELS])
        else:
            importlib.import_module(KERNELS)
        yield
    sys.modules.pop(KERNELS, None)
