"""Utilities of mmdla.

:mod:`mmdla.utils.compat` holds the fix applied on ``import mmdla``;
:mod:`mmdla.utils.checkpoint_allowlist` loads runner checkpoints without
letting them run code; :mod:`mmdla.utils.collect_env` reports the installed
stack (run it with ``python tools/check_env.py``).
"""
from .checkpoint_allowlist import (runner_checkpoint_globals,
                                   runner_checkpoint_loading,
                                   runner_checkpoints_load)
from .compat import (apply_compat_patches, config_base_lookup_patched,
                     mmdla_config_root)
from .paths import is_local_path

__all__ = [
    'apply_compat_patches', 'config_base_lookup_patched', 'is_local_path',
    'mmdla_config_root',
    'runner_checkpoint_globals', 'runner_checkpoint_loading',
    'runner_checkpoints_load'
]
