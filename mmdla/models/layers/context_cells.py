"""Context cells: the recurrent unit of DLA's forward (context) path.

A context cell reads a pooled feature ``x`` of shape ``[N, C]`` and a state
``(h, c)``, each ``[N, C]``, and returns the new state. ``h`` is what DLA uses
as a channel gate. The Dynamic Sharing Unit is the paper's cell; standard
LSTM and GRU cells are offered for ablations.
"""
from typing import Tuple, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModule

from mmdla.registry import MODELS

State = Tuple[torch.Tensor, torch.Tensor]


class ContextCell(BaseModule):
    """Base class of the context cells (hidden size = input size)."""

    def __init__(self, channels: int, init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.channels = channels

    def forward(self, x: torch.Tensor, state: State) -> State:
        """Advance the context by one step.

        Args:
            x (Tensor): Pooled feature, ``[N, C]``.
            state (tuple[Tensor, Tensor]): ``(h, c)``, each ``[N, C]``.

        Returns:
            tuple[Tensor, Tensor]: The new ``(h, c)``, each ``[N, C]``.
        """
        raise NotImplementedError


class _LowRankMLP(nn.Sequential):
    """``Linear(C -> C/r) -> ReLU -> Linear(C/r -> out)``, biases on."""

    def __init__(self, channels: int, hidden: int, out_channels: int) -> None:
        super().__init__(
            nn.Linear(channels, hidden), nn.ReLU(inplace=True),
            nn.Linear(hidden, out_channels))


@MODELS.register_module()
class DynamicSharingUnit(ContextCell):
    """The Dynamic Sharing Unit (DSU) of DLA.

    An LSTM-like cell without output gate whose input and hidden transforms
    are low-rank bottlenecks::

        i, f, g = split3(W_ih(x) + W_hh(h))
        c' = sigmoid(f) * c + sigmoid(i) * tanh(g)
        h' = sigmoid(c')

    Args:
        channels (int): Input and hidden size ``C``.
        reduction (int): Bottleneck ratio ``r`` of ``W_ih`` and ``W_hh``
            (hidden width ``C // r``). Defaults to 16.
    """

    def __init__(self, channels: int, reduction: int = 16,
                 init_cfg=None) -> None:
        super().__init__(channels, init_cfg=init_cfg)
        if reduction < 1 or channels // reduction < 1:
            raise ValueError(
                f'DSU reduction {reduction} leaves no hidden units for '
                f'{channels} channels; use a reduction in [1, {channels}].')
        hidden = channels // reduction
        self.input_transform = _LowRankMLP(channels, hidden, 3 * channels)
        self.hidden_transform = _LowRankMLP(channels, hidden, 3 * channels)

    def gates(self, x_proj: torch.Tensor, h: torch.Tensor,
              c: torch.Tensor) -> State:
        """Finish a step from an already computed ``W_ih(x)``, ``[N, 3C]``."""
        i, f, g = (x_proj + self.hidden_transform(h)).chunk(3, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(c), c

    def forward(self, x: torch.Tensor, state: State) -> State:
        return self.gates(self.input_transform(x), *state)


@MODELS.register_module()
class LSTMContextCell(ContextCell):
    """A standard :class:`torch.nn.LSTMCell` as context cell (ablation)."""

    def __init__(self, channels: int, init_cfg=None) -> None:
        super().__init__(channels, init_cfg=init_cfg)
        self.cell = nn.LSTMCell(channels, channels)

    def forward(self, x: torch.Tensor, state: State) -> State:
        return self.cell(x, state)


@MODELS.register_module()
class GRUContextCell(ContextCell):
    """A standard :class:`torch.nn.GRUCell` as context cell (ablation).

    A GRU has no cell state: ``c`` is returned equal to ``h``.
    """

    def __init__(self, channels: int, init_cfg=None) -> None:
        super().__init__(channels, init_cfg=init_cfg)
        self.cell = nn.GRUCell(channels, channels)

    def forward(self, x: torch.Tensor, state: State) -> State:
        h = self.cell(x, state[0])
        return h, h


CONTEXT_CELLS = {
    'dsu': 'DynamicSharingUnit',
    'lstm': 'LSTMContextCell',
    'gru': 'GRUContextCell',
}


def build_context_cell(cfg: Union[str, dict], channels: int,
                       reduction: int) -> ContextCell:
    """Build a context cell.

    Args:
        cfg (str | dict): ``'dsu'``, ``'lstm'``, ``'gru'``, or a config dict
            whose ``type`` names a registered :class:`ContextCell`.
        channels (int): Input and hidden size ``C``.
        reduction (int): Default reduction ratio of a DSU.
    """
    if isinstance(cfg, str):
        if cfg not in CONTEXT_CELLS:
            raise ValueError(f'context_cell must be one of '
                             f'{sorted(CONTEXT_CELLS)} or a config dict, '
                             f'got {cfg!r}.')
        cfg = dict(type=CONTEXT_CELLS[cfg])
    kwargs = dict(cfg)
    cell_type = kwargs.pop('type')
    cell_cls = MODELS.get(cell_type) if isinstance(cell_type,
                                                    str) else cell_type
    if cell_cls is None or not issubclass(cell_cls, ContextCell):
        raise ValueError(f'context_cell type {cell_type!r} is not a '
                         f'registered ContextCell of mmdla.')
    if issubclass(cell_cls, DynamicSharingUnit):
        kwargs.setdefault('reduction', reduction)
    return cell_cls(channels, **kwargs)
