"""Training-time helpers of mmdla: hooks (atomic checkpoints, a stop on a
non-finite loss, random states in checkpoints), a training loop that stops
on a signal and resumes mid-epoch, a runner that loads checkpoints without
letting them run code, checks of checkpoint files and of their keys, and the
distributed launch on the CPU (with torchrun for the launch scripts).

The hooks are registered in :data:`mmdla.registry.HOOKS`, which imports this
package on first use: configs name them as ``mmdla.<HookName>``.
"""
from .checkpoint_files import (CheckpointFileError, check_checkpoint_file,
                               find_resume_checkpoint)
from .checkpoint_match import (CheckpointMismatchError, check_checkpoint_fits,
                               check_state_dict_matches, compare_state_dicts)
from .distributed import (exit_distributed_run, setup_distributed,
                          shutdown_distributed)
from .hooks import (AtomicCheckpointHook, FiniteLossHook, NonFiniteLossError,
                    RandomStateHook, atomic_write_text, capture_random_states,
                    restore_random_states)
from .preemptible_loop import (EXIT_STOPPED, PreemptibleEpochBasedTrainLoop,
                               TrainingStopped)
from .safe_load_runner import SafeLoadRunner

__all__ = [
    'EXIT_STOPPED', 'AtomicCheckpointHook', 'CheckpointFileError',
    'CheckpointMismatchError', 'FiniteLossHook', 'NonFiniteLossError',
    'PreemptibleEpochBasedTrainLoop', 'RandomStateHook', 'SafeLoadRunner',
    'TrainingStopped', 'atomic_write_text', 'capture_random_states',
    'check_checkpoint_file', 'check_checkpoint_fits',
    'check_state_dict_matches', 'compare_state_dicts', 'exit_distributed_run',
    'find_resume_checkpoint', 'restore_random_states', 'setup_distributed',
    'shutdown_distributed'
]
