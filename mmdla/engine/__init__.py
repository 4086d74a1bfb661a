"""Training-time helpers of mmdla: atomic checkpoints, CPU distributed."""
from .distributed import setup_distributed, shutdown_distributed
from .hooks import AtomicCheckpointHook, atomic_write_text

__all__ = [
    'AtomicCheckpointHook', 'atomic_write_text', 'setup_distributed',
    'shutdown_distributed'
]
