"""Training-time helpers of mmdla: hooks (atomic checkpoints, a stop on a
non-finite loss), checks of checkpoint files
and of their keys, and the distributed launch on the CPU.

The hooks are registered in :data:`mmdla.registry.HOOKS`, which imports this
package on first use: configs name them as ``mmdla.<HookName>``.
"""
from .checkpoint_files import (CheckpointFileError, check_checkpoint_file,
                               find_resume_checkpoint)
from .checkpoint_match import (CheckpointMismatchError, check_checkpoint_fits,
                               check_state_dict_matches, compare_state_dicts)
from .distributed import setup_distributed, shutdown_distributed
from .hooks import (AtomicCheckpointHook, FiniteLossHook, NonFiniteLossError,
                    atomic_write_text)

__all__ = [
    'AtomicCheckpointHook', 'CheckpointFileError', 'CheckpointMismatchError',
    'FiniteLossHook', 'NonFiniteLossError', 'atomic_write_text',
    'check_checkpoint_file', 'check_checkpoint_fits',
    'check_state_dict_matches', 'compare_state_dicts',
    'find_resume_checkpoint', 'setup_distributed', 'shutdown_distributed'
]
