"""A fix that keeps the OpenMMLab 2.x stack working with mmdla's configs.

:func:`apply_compat_patches` runs on ``import mmdla``; our tools import mmdla
first, and a config that lists ``custom_imports=dict(imports=['mmdla'])``
imports it before the runner is built.

(Loading runner checkpoints on torch >= 2.6 is not patched globally: see
:mod:`mmdla.utils.checkpoint_allowlist`, which scopes its allowlist to the
loads of mmdla's tools.)

The fix: ``read_base()`` imports of ``mmdla.configs`` from an editable
install. ``setup.py`` maps the top-level ``configs/`` folder to the package
``mmdla.configs``. MMEngine resolves ``with read_base(): from
mmdla.configs.<name> import *`` on the file system as ``<installed path of
mmdla>/configs/<name>.py`` and finds that path through the distribution's
location, which for an editable install (``pip install -e .``) is
``site-packages`` and holds no ``mmdla`` folder. We let MMEngine's config
parser use :func:`mmdla_config_root` for ``mmdla``: the installed package
folder when it ships ``configs/`` (a wheel), otherwise the checkout whose
``configs/`` folder the package maps. Only the lookup of
``mmengine.config.config`` is replaced; other packages resolve as before. A
config using ``read_base()`` must therefore be loaded after ``import mmdla``
(as ``tools/train.py`` does).
"""
import functools
import importlib
import os.path as osp
from typing import Callable, Optional

_PACKAGE_DIR = osp.dirname(osp.dirname(osp.abspath(__file__)))


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
    """Apply the fix of this module; safe to call more than once."""
    patch_config_base_lookup()
