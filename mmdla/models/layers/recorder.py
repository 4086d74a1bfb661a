"""Recording what the layer attention computes inside a forward pass.

The layer attention modules report intermediate tensors (gates, attention
weights) with :func:`report`. While no :class:`Recorder` is active,
:func:`report` returns at once and keeps nothing; inside ``with recorder:``
every reported tensor is kept, detached, under its module and name::

    with Recorder() as recorder:
        backbone(images)
    gates = recorder.get(step.attentions[2], 'head_gates')  # one per call

What is reported (per block ``t`` of a stage with step ``step``, all under
the block's attention module ``step.attentions[t]``):

- ``'head_gates'``: ``a_t``, ``[N, G]``, by :class:`MRLALight` (DLA-L and
  MRLA-light);
- ``'attention_weights'``: the softmax over the blocks so far,
  ``[N, t + 1, G]``, by :class:`MRLABase` (DLA-B and MRLA-base);
- ``'update_gate'``: ``d_t``, ``[N, C]``, by :class:`DLALightStep`.
"""
from collections import defaultdict
from typing import Dict, List, Tuple

import torch
import torch.nn as nn

# the recorders entered and not yet exited; the last one records
_ACTIVE: List['Recorder'] = []


def report(module: nn.Module, name: str, tensor: torch.Tensor) -> None:
    """Hand ``tensor``, computed by ``module``, to the active recorder.

    A no-op unless a :class:`Recorder` is active.
    """
    if _ACTIVE:
        _ACTIVE[-1].records[module, name].append(tensor.detach())


def recording() -> bool:
    """Whether a :class:`Recorder` is active (so that a fused computation
    that does not report its internals should step aside)."""
    return bool(_ACTIVE)


class Recorder:
    """Keeps the tensors reported while it is active (``with recorder:``).

    Recorders nest: the innermost active one records.

    Attributes:
        records (dict): ``(module, name)`` -> the reported tensors, in the
            order of the calls.
    """

    def __init__(self) -> None:
        self.records: Dict[Tuple[nn.Module, str],
                           List[torch.Tensor]] = defaultdict(list)

    def __enter__(self) -> 'Recorder':
        _ACTIVE.append(self)
        return self

    def __exit__(self, *exc_info) -> None:
        _ACTIVE.remove(self)

    def get(self, module: nn.Module, name: str) -> List[torch.Tensor]:
        """The tensors ``module`` reported as ``name`` (empty if none)."""
        return self.records.get((module, name), [])
