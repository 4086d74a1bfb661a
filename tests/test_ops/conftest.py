"""The Triton kernels of :mod:`mmdla.ops` on CPU tensors, in Triton's
interpreter (``TRITON_INTERPRET=1``).

Triton reads the variable when a kernel is defined, so the fixture sets it
and then imports the kernel module afresh, whatever imported Triton or the
module earlier in the session.
"""
import importlib
import os
import sys
from unittest import mock

import pytest

KERNELS = 'mmdla.ops.dla_light_kernels'


@pytest.fixture(scope='module')
def interpreted_kernels():
    """The Triton kernels defined under the interpreter for a module's
    tests; the next use after them imports them afresh."""
    with mock.patch.dict(os.environ, TRITON_INTERPRET='1'):
        pytest.importorskip('triton', reason='triton is not installed')
        if KERNELS in sys.modules:
            importlib.reload(sys.modules[KERNELS])
        else:
            importlib.import_module(KERNELS)
        yield
    sys.modules.pop(KERNELS, None)
