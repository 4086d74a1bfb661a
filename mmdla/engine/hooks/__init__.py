from .atomic_checkpoint_hook import AtomicCheckpointHook, atomic_write_text
from .finite_loss_hook import FiniteLossHook, NonFiniteLossError

__all__ = [
    'AtomicCheckpointHook', 'FiniteLossHook', 'NonFiniteLossError',
    'atomic_write_text'
]
