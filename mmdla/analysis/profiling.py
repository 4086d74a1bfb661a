"""Where the time of a step goes: the kernels of a GPU step (or the ops
of a CPU step) from ``torch.profiler``, per step."""
import collections
from dataclasses import dataclass
from typing import Callable, List

import torch
from torch.autograd import DeviceType

from .timing import synchronize


@dataclass(frozen=True)
class KernelTime:
    """One kernel (or CPU op) name: its calls and milliseconds per step."""
    name: str
    calls: float
    ms: float


@dataclass(frozen=True)
class StepProfile:
    """The work of one step, averaged over the profiled steps.

    Attributes:
        unit: What was counted: ``'CUDA kernels'`` (copies and fills
            included) or ``'CPU ops'`` (every op, also those called by
            another op).
        count: Kernels (or ops) per step.
        ms: Their milliseconds per step, summed: kernel time, or the ops'
            self time (without the ops they call, so that no time is
            counted twice; the profiler's own overhead is in it).
        kernels: Every kernel name, most time first.
    """
    unit: str
    count: float
    ms: float
    kernels: List[KernelTime]


def profile_step(step: Callable[[], object], steps: int,
                 device: torch.device) -> StepProfile:
    """Profile ``steps`` calls of ``step`` (already warmed up) on
    ``device``: CUDA kernels on a GPU, CPU ops with their self time
    otherwise."""
    if steps < 1:
        raise ValueError(f'steps must be at least 1, got {steps}')
    cuda = device.type == 'cuda'
    activities = [torch.profiler.ProfilerActivity.CPU]
    if cuda:
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    synchronize(device)
    with torch.profiler.profile(activities=activities) as profiler:
        for _ in range(steps):
            step()
        synchronize(device)
    device_type = DeviceType.CUDA if cuda else DeviceType.CPU
    work = [e for e in profiler.events() if e.device_type == device_type]
    totals = collections.defaultdict(lambda: [0, 0.0])
    for event in work:
        us = (
            event.time_range.elapsed_us()
            if cuda else event.self_cpu_time_total)
        totals[event.name][0] += 1
        totals[event.name][1] += us / 1000
    kernels = sorted((KernelTime(name, calls / steps, ms / steps)
                      for name, (calls, ms) in totals.items()),
                     key=lambda k: -k.ms)
    return StepProfile(
        unit='CUDA kernels' if cuda else 'CPU ops',
        count=len(work) / steps,
        ms=sum(k.ms for k in kernels),
        kernels=kernels)


def format_profile(profile: StepProfile,
                   wall_ms: float,
                   top: int = 10,
                   width: int = 90) -> List[str]:
    """Lines describing ``profile``: the count and time of its kernels per
    step against ``wall_ms`` (the step's wall-clock time measured without
    the profiler), then a table of the ``top`` kernels (names cut to
    ``width`` characters) with their share of the kernel time."""
    kind = profile.unit.split()[-1][:-1]  # 'kernel' or 'op'
    lines = [
        f'{profile.count:.0f} {profile.unit} per step, {profile.ms:.1f} ms '
        f'of {kind} time per step against {wall_ms:.1f} ms of wall time '
        f'({profile.ms / wall_ms:.0%})', '',
        f'| {kind} | calls per step | ms per step | share |',
        '|---|---|---|---|'
    ]
    for kernel in profile.kernels[:top]:
        name = kernel.name.replace('|', '/')
        if len(name) > width:
            name = name[:width - 3] + '...'
        share = kernel.ms / profile.ms if profile.ms else 0.0
        lines.append(f'| `{name}` | {kernel.calls:g} | {kernel.ms:.2f} '
                     f'| {share:.0%} |')
    return lines
