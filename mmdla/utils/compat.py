"""Fixes that keep the OpenMMLab 2.x stack working on recent PyTorch.

Both fixes are applied by :func:`apply_compat_patches`, which runs on
``import mmdla``; our tools import mmdla first, and a config that lists
``custom_imports=dict(imports=['mmdla'])`` imports it before the runner is
built, so training, testing and resuming all get them.

1. **Resuming runner checkpoints on torch >= 2.6.** Since PyTorch 2.6,
   ``torch.load`` defaults to ``weights_only=True``: it unpickles only tensors,
   containers and an allowlist of classes. MMEngine 0.10.7 calls ``torch.load``
   without ``weights_only``, so ``resume=True`` fails with ``Weights only load
   failed ... HistoryBuffer``: besides weights, a runner checkpoint stores the
   message hub, whose :class:`~mmengine.logging.HistoryBuffer` objects hold
   numpy arrays and scalars and the buffer's own bound statistics methods.

   Instead of turning safe loading off (``weights_only=False`` would let any
   checkpoint run arbitrary code), we add exactly these globals to PyTorch's
   allowlist with :func:`torch.serialization.add_safe_globals`:

   - ``mmengine.logging.HistoryBuffer``;
   - ``numpy.ndarray``, ``numpy.dtype`` with the class of each dtype
     (``numpy.dtypes.Float64DType``, ...) and numpy's ``_reconstruct`` and
     ``scalar`` helpers, under their numpy 1 (``numpy.core``) and numpy 2
     (``numpy._core``) paths, so a checkpoint written with either loads;
   - ``builtins.getattr``, with which pickle restores the bound methods kept
     in ``HistoryBuffer._statistics_methods``. The weights-only unpickler
     still calls nothing outside the allowlist, so this only allows reading
     attributes of objects the checkpoint is already allowed to build.

   Loading stays weights-only for every other global, so a crafted file still
   cannot execute code.

2. **``read_base()`` imports of ``mmdla.configs`` from an editable install.**
   ``setup.py`` maps the top-level ``configs/`` folder to the package
   ``mmdla.configs``. MMEngine resolves ``with read_base(): from
   mmdla.configs.<name> import *`` on the file system as
   ``<installed path of mmdla>/configs/<name>.py`` and finds that path through
   the distribution's location, which for an editable install (``pip install
   -e .``) is ``site-packages`` and holds no ``mmdla`` folder. We let
   MMEngine's config parser use :func:`mmdla_config_root` for ``mmdla``: the
   installed package folder when it ships ``configs/`` (a wheel), otherwise
   the checkout whose ``configs/`` folder the package maps. Only the lookup of
   ``mmengine.config.config`` is replaced; other packages resolve as before.
   A config using ``read_base()`` must therefore be loaded after ``import
   mmdla`` (as ``tools/train.py`` does).
"""
import builtins
import functools
import importlib
import os.path as osp
from typing import Any, Callable, List, Optional, Tuple, Union

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

SafeGlobal = Union[Callable, Tuple[Callable, str]]

_PACKAGE_DIR = osp.dirname(osp.dirname(osp.abspath(__file__)))


def _numpy_multiarray() -> Any:
    """Return numpy's ``multiarray`` module without deprecation warnings."""
    try:
        return importlib.import_module('numpy._core.multiarray')
    except ImportError:  # numpy < 1.26 has no ``numpy._core``
        return importlib.import_module('numpy.core.multiarray')


def _numpy_dtype_classes() -> List[type]:
    """Return the classes of numpy's dtypes (``numpy.dtypes.Float64DType``...).

    Unpickling a dtype sets its state, which weights-only loading allows only
    for allowlisted types; since numpy 1.25 every dtype has its own class.
    """
    classes = []
    for code in np.typecodes['All']:
        try:
            dtype_class = type(np.dtype(code))
        except TypeError:  # a code this numpy release does not know
            continue
        if dtype_class not in classes:
            classes.append(dtype_class)
    return classes


def runner_checkpoint_globals() -> List[SafeGlobal]:
    """List the non-tensor globals that MMEngine runner checkpoints contain.

    Returns:
        list: Classes and functions, some paired with the dotted path under
        which older or newer numpy releases pickle them, in the format of
        :func:`torch.serialization.add_safe_globals`.
    """
    multiarray = _numpy_multiarray()
    safe_globals: List[SafeGlobal] = [
        HistoryBuffer, np.ndarray, np.dtype, builtins.getattr
    ]
    safe_globals.extend(_numpy_dtype_classes())
    for name in ('_reconstruct', 'scalar'):
        helper = getattr(multiarray, name)
        for module in ('numpy.core.multiarray', 'numpy._core.multiarray'):
            safe_globals.append((helper, f'{module}.{name}'))
    return safe_globals


def register_runner_checkpoint_globals() -> bool:
    """Allow ``weights_only`` loading of MMEngine runner checkpoints.

    Returns:
        bool: Whether the globals were registered; ``False`` on torch < 2.4,
        which has no allowlist (and loads without ``weights_only`` anyway).
    """
    add_safe_globals = getattr(torch.serialization, 'add_safe_globals', None)
    if add_safe_globals is None:
        return False
    add_safe_globals(runner_checkpoint_globals())
    return True


def runner_checkpoint_globals_registered() -> bool:
    """Whether torch's ``weights_only`` allowlist holds MMEngine's globals."""
    get_safe_globals = getattr(torch.serialization, 'get_safe_globals', None)
    if get_safe_globals is None:
        return False
    return all(entry in get_safe_globals()
               for entry in runner_checkpoint_globals())


def mmdla_config_root() -> Optional[str]:
    """Return the folder whose ``configs/`` holds ``mmdla.configs``.

    Returns:
        str, optional: The installed ``mmdla`` folder when it ships
        ``configs/`` (installed from a wheel), the checkout root for an
        editable install or a source checkout, or ``None`` when neither has a
        ``configs/`` folder.
    """
    checkout_root = osp.dirname(_PACKAGE_DIR)
    for root in (_PACKAGE_DIR, checkout_root):
        if osp.isdir(osp.join(root, 'configs')):
            return root
    return None


def _make_config_path_resolver(
        get_installed_path: Callable[[str], str]) -> Callable[[str], str]:
    """Wrap MMEngine's ``get_installed_path`` to resolve ``mmdla.configs``."""

    @functools.wraps(get_installed_path)
    def get_installed_path_with_mmdla(package: str) -> str:
        if package == 'mmdla':
            root = mmdla_config_root()
            if root is not None:
                return root
        return get_installed_path(package)

    return get_installed_path_with_mmdla


def patch_config_base_lookup() -> None:
    """Let MMEngine's config parser find ``mmdla.configs`` (idempotent)."""
    config_module = importlib.import_module('mmengine.config.config')
    current = config_module.get_installed_path
    if not hasattr(current, '__wrapped__'):
        config_module.get_installed_path = _make_config_path_resolver(current)


def config_base_lookup_patched() -> bool:
    """Whether :func:`patch_config_base_lookup` is in effect."""
    config_module = importlib.import_module('mmengine.config.config')
    return hasattr(config_module.get_installed_path, '__wrapped__')


def apply_compat_patches() -> None:
    """Apply every fix of this module; safe to call more than once."""
    register_runner_checkpoint_globals()
    patch_config_base_lookup()
