"""Wall-clock timing of a step on the CPU or a GPU."""
import time
from typing import Callable

import torch


def synchronize(device: torch.device) -> None:
    """Wait for the queued kernels of ``device`` to finish."""
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def time_per_call(step: Callable[[], object], iters: int, warmup: int,
                  device: torch.device) -> float:
    """Mean wall-clock seconds of one call of ``step``.

    Args:
        step: The work to time, called ``warmup + iters`` times.
        iters: Number of timed calls.
        warmup: Number of untimed calls made first (allocator warm-up,
            cuDNN algorithm search, lazy initialisation).
        device: Device the work runs on, synchronised around the timed calls.
    """
    if iters < 1:
        raise ValueError(f'iters must be at least 1, got {iters}')
    for _ in range(warmup):
        step()
    synchronize(device)
    start = time.perf_counter()
    for _ in range(iters):
        step()
    synchronize(device)
    return (time.perf_counter() - start) / iters
