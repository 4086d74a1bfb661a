"""mmdla: Dynamic Layer Attention backbones for MMPretrain and MMDetection.

Importing the package applies the compatibility fixes of
:mod:`mmdla.utils.compat` (resuming runner checkpoints on torch >= 2.6 and
``read_base()`` imports of ``mmdla.configs``). Models are registered lazily:
``mmdla.registry.MODELS`` imports ``mmdla.models`` on first use.
"""
from .utils.compat import apply_compat_patches
from .version import __version__

apply_compat_patches()

__all__ = ['__version__']
