"""Context cells: the recurrent unit of DLA's forward (context) path.

A context cell reads a pooled feature ``x`` of shape ``[N, C]`` and a state
``(h, c)``, each ``[N, C]``, and returns the new state. ``h`` is what DLA uses
as a channel gate. The Dynamic Sharing Unit is the paper's cell; standard
LSTM and GRU cells are offered for ablations.
"""
import math
from typing import Callable, Optional, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule

from mmdla.ops import dsu_combine
from mmdla.registry import MODELS
from .legacy_keys import rename_legacy_keys
from .options import accepted_options, registered_class

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

    A cell may also offer ``fused_combine(x_proj, row, h_proj, c)``:
    ``combine`` of ``x_proj[:, row]`` (input projections ``[N, R, P]``),
    ``h_proj`` ``[N, P]`` and the ``[N, C]`` fp32 state as one fused GPU op,
    used by the fused DLA-L step (None: the step runs ``combine`` in
    PyTorch).
    """
    fused_combine: Optional[Callable[..., State]] = None

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
    """``Linear(C -> C/r) -> ReLU -> Linear(C/r -> out)``, biases on.

    The input is cast to the dtype of the weights (e.g. the fp32 spatial
    means fed to a half-precision model); under autocast the products run
    in the autocast dtype as usual.
    """

    def __init__(self, channels: int, hidden: int, out_channels: int) -> None:
        # not in place: an in-place ReLU on the view a Linear returns for
        # [..., C] inputs costs a copy of its gradient in backward
        super().__init__(
            nn.Linear(channels, hidden), nn.ReLU(),
            nn.Linear(hidden, out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[..., C]`` -> ``[..., out]``."""
        return super().forward(x.to(self[0].weight.dtype))


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
            (hidden width ``C // r``). Defaults to 16. A backbone's
            ``dsu_reduction`` is passed as this argument unless the cell's
            config sets it.
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

    @staticmethod
    def fused_combine(x_proj: torch.Tensor, row: int, h_proj: torch.Tensor,
                      c: torch.Tensor) -> State:
        """:meth:`combine` of ``x_proj[:, row]`` (of the input projections
        ``[N, R, 3C]``), ``h_proj`` ``[N, 3C]`` and ``c`` ``[N, C]``, fp32,
        as one fused op (:func:`mmdla.ops.dsu_combine`)."""
        return dsu_combine(x_proj, row, h_proj, c)


class _GatedRNNCell(ContextCell):
    """A context cell with the parameters of a :mod:`torch.nn` RNN cell.

    Holds ``weight_ih`` ``[G * C, C]``, ``weight_hh`` ``[G * C, C]``,
    ``bias_ih`` and ``bias_hh`` ``[G * C]`` for ``G = num_gates``, named and
    initialised (uniform in ``+-1 / sqrt(C)``) as in
    :class:`torch.nn.LSTMCell` and :class:`torch.nn.GRUCell`, so that the
    state dicts are interchangeable. Inputs are cast to the parameters'
    dtype.
    """

    num_gates: int  # set by the subclasses
    # 2: the parameters are the cell's own; version 1 held a torch RNN cell
    # as ``cell`` (``cell.weight_ih``, ...).
    _version = 2

    def __init__(self, channels: int, init_cfg=None) -> None:
        super().__init__(channels, init_cfg=init_cfg)
        size = self.num_gates * channels
        self.weight_ih = nn.Parameter(torch.empty(size, channels))
        self.weight_hh = nn.Parameter(torch.empty(size, channels))
        self.bias_ih = nn.Parameter(torch.empty(size))
        self.bias_hh = nn.Parameter(torch.empty(size))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1 / math.sqrt(self.channels)
        for param in self.parameters():
            nn.init.uniform_(param, -bound, bound)

    def _load_from_state_dict(self, state_dict: dict, prefix: str,
                              local_metadata: dict, *args, **kwargs) -> None:
        if local_metadata.get('version', 1) < 2:
            rename_legacy_keys(state_dict, prefix, {'cell.': ''})
        super()._load_from_state_dict(state_dict, prefix, local_metadata,
                                      *args, **kwargs)

    def project_input(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(
            x.to(self.weight_ih.dtype), self.weight_ih, self.bias_ih)

    def project_hidden(self, h: torch.Tensor) -> torch.Tensor:
        return F.linear(
            h.to(self.weight_hh.dtype), self.weight_hh, self.bias_hh)


@MODELS.register_module()
class LSTMContextCell(_GatedRNNCell):
    """A standard LSTM cell as context cell (ablation).

    Computes what :class:`torch.nn.LSTMCell` computes with the same
    parameters, split into the projections of :class:`ContextCell`.
    """

    num_gates = 4

    def combine(self, x_proj: torch.Tensor, h_proj: torch.Tensor,
                c: torch.Tensor) -> State:
        i, f, g, o = (x_proj + h_proj).chunk(4, dim=-1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c


@MODELS.register_module()
class GRUContextCell(_GatedRNNCell):
    """A standard GRU cell as context cell (ablation).

    Computes what :class:`torch.nn.GRUCell` computes with the same
    parameters, split into the projections of :class:`ContextCell`. A GRU
    has no cell state: ``c`` is returned equal to ``h``.
    """

    num_gates = 3

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


def build_context_cell(cfg: Union[str, dict],
                       channels: int,
                       reduction: Optional[int] = None) -> ContextCell:
    """Build a context cell with ``MODELS.build``.

    Args:
        cfg (str | dict): ``'dsu'``, ``'lstm'``, ``'gru'`` (short for
            ``dict(type='DynamicSharingUnit')``, ...), or a config dict
            whose ``type`` names a registered :class:`ContextCell`.
        channels (int): Input and hidden size ``C``, passed to every cell.
        reduction (int, optional): Passed as ``reduction`` to a cell whose
            constructor takes one (the DSU), unless ``cfg`` sets it (see
            :mod:`mmdla.models.layers.options`).
    """
    if isinstance(cfg, str):
        if cfg not in CONTEXT_CELLS:
            raise ValueError(f'context_cell must be one of '
                             f'{sorted(CONTEXT_CELLS)} or a config dict, '
                             f'got {cfg!r}.')
        cfg = dict(type=CONTEXT_CELLS[cfg])
    options = {} if reduction is None else dict(reduction=reduction)
    cell_cls = registered_class(cfg, ContextCell)
    # built by class, so that the default scope (mmdet, ...) does not matter
    return MODELS.build(
        dict(cfg, type=cell_cls),
        default_args=dict(
            channels=channels, **accepted_options(cell_cls, options)))
