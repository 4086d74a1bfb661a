"""Peak tensor memory of a step on the CPU or a GPU."""
from typing import Callable, Iterable, Optional

import torch
from torch import nn

from .timing import synchronize


def tensor_bytes(tensors: Iterable[Optional[torch.Tensor]]) -> int:
    """Total storage of an iterable of tensors (None entries skipped)."""
    return sum(t.numel() * t.element_size() for t in tensors if t is not None)


def held_bytes(model: nn.Module, optimizer: Optional[torch.optim.Optimizer],
               batch: dict) -> int:
    """Tensor memory held between steps: weights, gradients, optimizer
    state (if an optimizer is given) and the input batch."""
    state = [] if optimizer is None else [
        value for param_state in optimizer.state.values()
        for value in param_state.values() if torch.is_tensor(value)
    ]
    return tensor_bytes([
        *model.parameters(), *(p.grad for p in model.parameters()),
        *model.buffers(), *state, batch['inputs']
    ])


def peak_memory(step: Callable[[], object], device: torch.device,
                held: Callable[[], int]) -> int:
    """Peak tensor memory in bytes during one call of ``step``.

    Args:
        step: The work to measure, called once.
        device: Device the work runs on.
        held: Returns the bytes held before the step (used on the CPU, where
            the profiler only sees the allocations made during the step).
    """
    if device.type == 'cuda':
        synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        step()
        synchronize(device)
        return torch.cuda.max_memory_allocated(device)
    baseline = held()
    with torch.profiler.profile(
            activities=[torch.profiler.ProfilerActivity.CPU],
            profile_memory=True) as profiler:
        step()
    events = sorted((event.start_ns(), event.nbytes())
                    for event in profiler.profiler.kineto_results.events()
                    if event.name() == '[memory]'
                    and event.device_type() == torch.autograd.DeviceType.CPU)
    current = peak = 0
    for _, nbytes in events:
        current += nbytes
        peak = max(peak, current)
    return baseline + peak
