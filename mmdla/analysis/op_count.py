"""Counting the operators a training step dispatches.

In eager PyTorch the host pays for every operator it dispatches (tens of
microseconds each with autograd on a GPU), so a model of many small ops can
be bound by the host however fast its kernels are. The count is taken on
the ``meta`` device, where nothing runs: every aten op that launches a
kernel on a real device is counted (custom ops as one), views and bare
allocations are not.
"""
import collections
from typing import Callable, Counter

import torch
from torch.utils._python_dispatch import TorchDispatchMode

aten = torch.ops.aten
# ops that allocate without writing: no kernel
ALLOCATIONS = {
    aten.empty.memory_format, aten.empty_strided.default,
    aten.empty_like.default, aten.new_empty.default,
    aten.new_empty_strided.default, aten.detach.default,
    aten.lift_fresh.default, aten._unsafe_view.default
}


class OpCounter(TorchDispatchMode):
    """Counts the dispatched ops that launch a kernel, by name."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: Counter[str] = collections.Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if not (func.is_view or func in ALLOCATIONS):
            self.counts[str(func.overloadpacket)] += 1
        return func(*args, **(kwargs or {}))


def count_step_ops(step: Callable[[], object]) -> Counter[str]:
    """The ops ``step()`` dispatches, by name (``sum(...values())`` is the
    total)."""
    counter = OpCounter()
    with counter:
        step()
    return counter.counts
