"""Context cells: the recurrent unit of DLA's forward (context) path.

A context cell reads a pooled feature ``x`` of shape ``[N, C]`` and a state
``(h, c)``, each ``[N, C]``, and returns the new state. ``h`` is what DLA uses
as a channel gate. The Dynamic Sharing Unit is the paper's cell; standard
LSTM and GRU cells are offered for ablations.
"""
from typing import Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule

from mmdla.registry import MODELS

State = Tuple[torch.Tensor, torch.Tensor]


class ContextCell(BaseModule):
    """Base class of the context cells (hidden size = input size).

    A step is split into two projections and an element-wise combination::

        x_proj = project_input(x)    # [..., P]
        h_proj = project_hidden(h)   # [..., P]
        h', c' = combine(x_proj, h_proj, c)

    so that callers can batch the input projections of several steps into
    one matrix product and reuse the projection of a hidden state for every
    step that starts from it. ``combine`` broadcasts over leading dimensions.
    """

    def __init__(self, channels: int, init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.channels = channels

    def project_input(self, x: torch.Tensor) -> torch.Tensor:
        """``[..., C]`` -> ``[..., P]``."""
        raise NotImplementedError

    def project_hidden(self, h: torch.Tensor) -> torch.Tensor:
        """``[..., C]`` -> ``[..., P]``."""
        raise NotImplementedError

    def combine(self, x_proj: torch.Tensor, h_proj: torch.Tensor,
                c: torch.Tensor) -> State:
        """New ``(h, c)``, each ``[..., C]``, from the projections
        ``[..., P]`` and the cell state ``c`` ``[..., C]``."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor, state: State) -> State:
        """Advance the context by one step.

        Args:
            x (Tensor): Pooled feature, ``[N, C]``.
            state (tuple[Tensor, Tensor]): ``(h, c)``, each ``[N, C]``.

        Returns:
            tuple[Tensor, Tensor]: The new ``(h, c)``, each ``[N, C]``.
        """
        h, c = state
        return self.combine(self.project_input(x), self.project_hidden(h), c)


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

    def project_input(self, x: torch.Tensor) -> torch.Tensor:
        return self.input_transform(x)

    def project_hidden(self, h: torch.Tensor) -> torch.Tensor:
        return self.hidden_transform(h)

    def combine(self, x_proj: torch.Tensor, h_proj: torch.Tensor,
                c: torch.Tensor) -> State:
        i, f, g = (x_proj + h_proj).chunk(3, dim=-1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(c), c


class _TorchCellProjections(ContextCell):
    """A context cell that holds a :mod:`torch.nn` RNN cell as ``cell`` (so
    that its parameters keep their names) and evaluates its projections
    apart from its gates."""

    cell_type: type  # set by the subclasses: nn.LSTMCell, nn.GRUCell

    def __init__(self, channels: int, init_cfg=None) -> None:
        super().__init__(channels, init_cfg=init_cfg)
        self.cell = self.cell_type(channels, channels)

    def project_input(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.cell.weight_ih, self.cell.bias_ih)

    def project_hidden(self, h: torch.Tensor) -> torch.Tensor:
        return F.linear(h, self.cell.weight_hh, self.cell.bias_hh)


@MODELS.register_module()
class LSTMContextCell(_TorchCellProjections):
    """A standard LSTM cell as context cell (ablation).

    Computes what :class:`torch.nn.LSTMCell` computes, with its parameters
    (``cell.weight_ih`` ...), split into the projections of
    :class:`ContextCell`.
    """

    cell_type = nn.LSTMCell

    def combine(self, x_proj: torch.Tensor, h_proj: torch.Tensor,
                c: torch.Tensor) -> State:
        i, f, g, o = (x_proj + h_proj).chunk(4, dim=-1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c


@MODELS.register_module()
class GRUContextCell(_TorchCellProjections):
    """A standard GRU cell as context cell (ablation).

    Computes what :class:`torch.nn.GRUCell` computes, with its parameters,
    split into the projections of :class:`ContextCell`. A GRU has no cell
    state: ``c`` is returned equal to ``h``.
    """

    cell_type = nn.GRUCell

    def combine(self, x_proj: torch.Tensor, h_proj: torch.Tensor,
                c: torch.Tensor) -> State:
        x_r, x_z, x_n = x_proj.chunk(3, dim=-1)
        h_r, h_z, h_n = h_proj.chunk(3, dim=-1)
        reset = torch.sigmoid(x_r + h_r)
        update = torch.sigmoid(x_z + h_z)
        new = torch.tanh(x_n + reset * h_n)
        h = new + update * (c - new)
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
