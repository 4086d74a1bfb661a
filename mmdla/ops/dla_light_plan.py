"""Which path a DLA-L block step takes, decided in one place.

A block's step runs either in PyTorch or through the fused kernels, and the
fused step has two forms: the eager autograd function, which also forms the
block's output ``relu(residual + shortcut)`` (the activation), and the
traceable form that ``torch.compile`` puts in its graph. The gates (the
``[N, C]`` part) run in their own kernels or in PyTorch.
:func:`plan_fused_step` resolves all of it into a :class:`StepPlan` that
names the condition that chose each part. A DLA stage asks for the plan of
each block from the block's input before the block runs, and hands a plan
that forms the activation to the step; otherwise the step asks again for the
tensors it receives (the block's output and shortcut). ``explain_fused`` in
:mod:`mmdla.analysis` lists the plans of a model's blocks for a batch.

Measured speeds, which :data:`AUTO_FUSED_DEVICES` follows, are in
``docs/speed.md``.
"""
from typing import Callable, NamedTuple, Optional, Tuple, Union

import torch
import torch.nn as nn
from torch import Tensor

FUSED_MODES = ('auto', True, False)
FUSED_DTYPES = (torch.float32, torch.float16, torch.bfloat16)

# Device types on which ``fused='auto'`` takes the fused step: those where
# a measurement showed it faster than the PyTorch path (none yet). The
# ``meta`` device traces what CUDA would run.
AUTO_FUSED_DEVICES: Tuple[str, ...] = ()

# The paths of a step.
PYTORCH = 'pytorch'
FUSED = 'fused'  # the eager autograd function, forming the activation
TRACEABLE = 'fused traceable'  # under torch.compile


class StepPlan(NamedTuple):
    """How one block's step runs.

    Attributes:
        path (str): :data:`PYTORCH`, :data:`FUSED` or :data:`TRACEABLE`.
        reason (str): The condition that chose ``path``.
        fuse_gates (bool): The fused step also runs the gates in kernels.
        gates_reason (str): The condition that chose ``fuse_gates``.
    """
    path: str
    reason: str
    fuse_gates: bool = False
    gates_reason: str = ''

    @property
    def fuses_activation(self) -> bool:
        """The step forms the block's output: the stage hands it the
        block's residual branch instead."""
        return self.path == FUSED

    def __str__(self) -> str:
        gates = ''
        if self.path != PYTORCH:
            gates = (f'; gates {"fused" if self.fuse_gates else "in PyTorch"}'
                     f' ({self.gates_reason})')
        return f'{self.path} ({self.reason}){gates}'


def check_fused_mode(fused: Union[str, bool]) -> None:
    """Raise ``ValueError`` unless ``fused`` is one of :data:`FUSED_MODES`."""
    if fused not in FUSED_MODES:
        raise ValueError(f'fused must be one of {FUSED_MODES}, got {fused!r}.')


def tracing() -> bool:
    """Whether ``torch.compile`` is tracing the caller (the one place that
    asks)."""
    return torch.compiler.is_compiling()


def unsupported_reason(x: Tensor, r: Tensor, norm: nn.Module) -> str:
    """Why the fused step does not cover these inputs and this norm; empty
    where it does.

    Covered: 4-D ``x`` and ``r`` of one shape and one dtype (fp32, fp16,
    bf16), each contiguous in NCHW or channels_last, and a plain
    :class:`torch.nn.BatchNorm2d` (synchronised, group or other norms take
    the PyTorch path).
    """

    def dense(t: Tensor) -> bool:
        return t.is_contiguous() or t.is_contiguous(
            memory_format=torch.channels_last)

    if type(norm) is not nn.BatchNorm2d:
        return f'the norm is {type(norm).__name__}, not nn.BatchNorm2d'
    if x.dim() != 4 or x.shape != r.shape:
        return (f'input {tuple(x.shape)} and shortcut {tuple(r.shape)} are '
                'not 4-D of one shape')
    if x.dtype != r.dtype or x.dtype not in FUSED_DTYPES:
        return f'dtype {x.dtype} / {r.dtype} (covered: fp32, fp16, bf16)'
    if not (dense(x) and dense(r)):
        return 'the input is neither contiguous nor channels_last'
    return ''


def fused_step_supported(x: Tensor, r: Tensor, norm: nn.Module) -> bool:
    """Whether the fused step covers these inputs and this norm (see
    :func:`unsupported_reason`)."""
    return not unsupported_reason(x, r, norm)


def _triton_available() -> bool:
    try:
        import triton  # noqa: F401
    except ImportError:
        return False
    return True


def _fused_path(fused: Union[str, bool], x: Tensor, r: Tensor,
                norm: nn.Module) -> Tuple[str, str]:
    """``(path, reason)`` of :func:`plan_fused_step`."""
    if fused is False:
        return PYTORCH, 'fused=False'
    unsupported = unsupported_reason(x, r, norm)
    if unsupported:
        return PYTORCH, unsupported
    if tracing():
        if fused == 'auto':
            return PYTORCH, ("fused='auto' under torch.compile: Inductor "
                             'fuses the PyTorch path itself')
        if norm.momentum is None:
            return PYTORCH, ('a cumulative-average norm (momentum=None) '
                             'under torch.compile')
        return TRACEABLE, 'fused=True under torch.compile'
    if fused is True:
        return FUSED, 'fused=True'
    device = 'cuda' if x.device.type == 'meta' else x.device.type
    if device not in AUTO_FUSED_DEVICES:
        return PYTORCH, (f"fused='auto' and {device!r} is not in "
                         f'AUTO_FUSED_DEVICES {AUTO_FUSED_DEVICES}')
    if device == 'cuda' and not _triton_available():
        return PYTORCH, "fused='auto' and Triton is not installed"
    return FUSED, f"fused='auto' and {device!r} is in AUTO_FUSED_DEVICES"


def plan_fused_step(
        fused: Union[str, bool],
        x: Tensor,
        r: Tensor,
        norm: nn.Module,
        gates_unfused: Optional[Callable[[], str]] = None) -> StepPlan:
    """The plan of a block's step.

    ``fused=True`` takes the fused step on any device (CUDA, or CPU tensors
    under ``TRITON_INTERPRET=1``), ``False`` never, ``'auto'`` on the
    devices of :data:`AUTO_FUSED_DEVICES` (the ``meta`` device follows
    CUDA); either only where :func:`fused_step_supported`. While
    ``torch.compile`` traces, only ``True`` takes it, in its traceable form
    (not with a cumulative-average norm, ``momentum=None``): ``'auto'``
    keeps the PyTorch path, which Inductor fuses itself.

    Args:
        fused (str | bool): The step's option, one of :data:`FUSED_MODES`
            (checked by :func:`check_fused_mode` when the step is built).
        x (Tensor): The block's input (or output), ``[N, C, H, W]``.
        r (Tensor): The block's shortcut; ``x`` again before the block.
        norm (nn.Module): The step's attention norm.
        gates_unfused (callable, optional): Returns why the gates cannot
            run in their kernels, empty where they can; asked only for a
            fused path. None: they cannot (no gate kernels).
    """
    path, reason = _fused_path(fused, x, r, norm)
    if path == PYTORCH:
        return StepPlan(path, reason)
    unfused = 'no gate kernels' if gates_unfused is None else gates_unfused()
    if unfused:
        return StepPlan(path, reason, False, unfused)
    return StepPlan(path, reason, True, 'their kernels cover this step')
