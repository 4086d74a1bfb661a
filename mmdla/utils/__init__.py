"""Utilities of mmdla.

:mod:`mmdla.utils.compat` holds the fixes applied on ``import mmdla``;
:mod:`mmdla.utils.collect_env` reports the installed stack (run it with
``python tools/check_env.py``).
"""
from .compat import (apply_compat_patches, config_base_lookup_patched,
                     mmdla_config_root, register_runner_checkpoint_globals,
                     runner_checkpoint_globals,
                     runner_checkpoint_globals_registered)

__all__ = [
    'apply_compat_patches', 'config_base_lookup_patched', 'mmdla_config_root',
    'register_runner_checkpoint_globals', 'runner_checkpoint_globals',
    'runner_checkpoint_globals_registered'
]
