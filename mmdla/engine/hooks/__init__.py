from .atomic_checkpoint_hook import AtomicCheckpointHook, atomic_write_text
from .finite_loss_hook import FiniteLossHook, NonFiniteLossError
from .random_state_hook import (RandomStateHook, capture_random_states,
                                restore_random_states)
from .resumed_config_hook import (OptimizerChangedError, ResumedConfigHook,
                                  apply_optimizer_settings)

__all__ = [
    'AtomicCheckpointHook', 'FiniteLossHook', 'NonFiniteLossError',
    'OptimizerChangedError', 'RandomStateHook', 'ResumedConfigHook',
    'apply_optimizer_settings', 'atomic_write_text', 'capture_random_states',
    'restore_random_states'
]
