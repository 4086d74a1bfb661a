"""Layer attention modules: MRLA-light and MRLA-base.

Both read the current block output ``x`` ``[N, C, H, W]``. Queries and keys are
1-D convolutions (ECA kernel size) over the channel descriptor ``GAP(x)``;
values are a depthwise 3x3 convolution of ``x``. Channels are split into
``G = C / head_dim`` heads. The query-key logits are computed in fp32, also
under autocast.
"""
import math
from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule


def eca_kernel_size(channels: int) -> int:
    """Odd kernel size of the ECA rule: ``t = int(|(log2(C) + 1) / 2|)``."""
    t = int(abs((math.log2(channels) + 1) / 2))
    return t if t % 2 else t + 1


class LayerAttention(BaseModule):
    """Query, key and value projections shared by the MRLA modules.

    Args:
        channels (int): Channels ``C`` of the attended features.
        head_dim (int): Channels per head. ``C`` must be divisible by it;
            fewer than ``head_dim`` channels form a single head.
    """

    def __init__(self, channels: int, head_dim: int = 32,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        if head_dim < 1 or (channels > head_dim and channels % head_dim):
            raise ValueError(
                f'{channels} channels cannot be split into heads of '
                f'head_dim={head_dim}; choose a head_dim that divides them.')
        self.channels = channels
        self.head_dim = min(head_dim, channels)
        self.num_heads = channels // self.head_dim
        k = eca_kernel_size(channels)
        self.query = nn.Conv1d(1, 1, k, padding=(k - 1) // 2, bias=False)
        self.key = nn.Conv1d(1, 1, k, padding=(k - 1) // 2, bias=False)
        self.value = nn.Conv2d(
            channels, channels, 3, padding=1, groups=channels, bias=False)

    def query_key(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Per-head queries and keys in fp32.

        Args:
            x (Tensor): ``[N, C, H, W]``.

        Returns:
            tuple[Tensor, Tensor]: ``q`` and ``k``, each
            ``[N, G, head_dim]``, float32.
        """
        with torch.autocast(x.device.type, enabled=False):
            y = x.float().mean((2, 3)).unsqueeze(1)  # [N, 1, C]
            shape = (x.shape[0], self.num_heads, self.head_dim)
            return (self.query(y).view(shape), self.key(y).view(shape))

    def expand_heads(self, gates: torch.Tensor) -> torch.Tensor:
        """``[N, G]`` per-head gates -> ``[N, C, 1, 1]`` per-channel."""
        return gates.repeat_interleave(self.head_dim, dim=1)[..., None, None]


class MRLALight(LayerAttention):
    """MRLA-light: ``o_t = V_t * a_t + lambda_t * o_prev``.

    ``a_t = sigmoid(<q_g, k_g> / sqrt(head_dim))`` is one scalar per sample
    and head. ``lambda_t`` (one per channel) scales the previous output
    ``o_prev``: the previous block's output in static MRLA, the updated
    shortcut in DLA-L.

    Args:
        channels (int): Channels ``C``.
        head_dim (int): Channels per head. Defaults to 32.
        lambda_init (str | float): ``'normal'`` draws ``lambda_t`` from a
            standard normal (the reference); a number sets it to a constant.
    """

    def __init__(self, channels: int, head_dim: int = 32,
                 lambda_init='normal', init_cfg=None) -> None:
        super().__init__(channels, head_dim, init_cfg=init_cfg)
        self.lambda_t = nn.Parameter(torch.empty(channels, 1, 1))
        self.lambda_init = lambda_init
        self.reset_lambda()

    def reset_lambda(self) -> None:
        """Initialise ``lambda_t`` according to ``lambda_init``."""
        if self.lambda_init == 'normal':
            nn.init.normal_(self.lambda_t)
        elif isinstance(self.lambda_init, (int, float)):
            nn.init.constant_(self.lambda_t, float(self.lambda_init))
        else:
            raise ValueError("lambda_init must be 'normal' or a number, got "
                             f'{self.lambda_init!r}.')

    def head_gates(self, x: torch.Tensor) -> torch.Tensor:
        """Attention weights ``a_t`` as per-channel gates ``[N, C, 1, 1]``."""
        q, k = self.query_key(x)
        logits = (q * k).sum(-1) / math.sqrt(self.head_dim)
        return self.expand_heads(torch.sigmoid(logits)).to(x.dtype)

    def forward(self, x: torch.Tensor,
                prev: Optional[torch.Tensor] = None) -> torch.Tensor:
        """``x`` and ``prev`` ``[N, C, H, W]`` -> ``o_t`` ``[N, C, H, W]``."""
        out = self.value(x) * self.head_gates(x)
        if prev is not None:
            out = out + self.lambda_t.to(out.dtype) * prev
        return out


class MRLABase(LayerAttention):
    """MRLA-base: softmax attention over the blocks of a stage so far.

    For block ``t`` with query ``q_t`` and the stacked keys ``k_0..k_t`` and
    values ``v_0..v_t``::

        out_g = sum_j softmax_j(<q_g, k_{j,g}> / sqrt(head_dim)) * v_{j,g}
    """

    def project(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Query ``[N, G, d]``, key ``[N, G, d]`` (fp32) and value
        ``[N, C, H, W]`` of a block output ``x``."""
        q, k = self.query_key(x)
        return q, k, self.value(x)

    def forward(self, query: torch.Tensor, keys: torch.Tensor,
                values: torch.Tensor) -> torch.Tensor:
        """Attend over the stage so far.

        Args:
            query (Tensor): ``[N, G, d]``.
            keys (Tensor): ``[N, T, G, d]`` for the ``T`` blocks so far.
            values (Tensor): ``[N, T, C, H, W]``.

        Returns:
            Tensor: ``[N, C, H, W]``.
        """
        n, t, c, h, w = values.shape
        logits = (keys * query.unsqueeze(1)).sum(-1)  # [N, T, G]
        weights = F.softmax(logits / math.sqrt(self.head_dim), dim=1)
        weights = self.expand_heads(weights.flatten(0, 1)).view(n, t, c, 1, 1)
        return (values * weights.to(values.dtype)).sum(1)
