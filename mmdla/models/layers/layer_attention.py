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

    def query_key(self,
                  pooled: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Per-head queries and keys in fp32.

        Args:
            pooled (Tensor): ``GAP(x)``, ``[N, C]``.

        Returns:
            tuple[Tensor, Tensor]: ``q`` and ``k``, each
            ``[N, G, head_dim]``, float32.
        """
        with torch.autocast(pooled.device.type, enabled=False):
            y = pooled.float().unsqueeze(1)  # [N, 1, C]
            shape = (pooled.shape[0], self.num_heads, self.head_dim)
            return self.query(y).view(shape), self.key(y).view(shape)

    def value_conv(self, x: torch.Tensor) -> torch.Tensor:
        """Values ``V = DWConv3x3(x)``, ``[N, C, H, W]``."""
        return F.conv2d(
            x, self.value.weight.to(x.dtype), padding=1, groups=self.channels)

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

    def head_gates(self, pooled: torch.Tensor) -> torch.Tensor:
        """Attention weights ``a_t`` ``[N, C, 1, 1]`` (per head, repeated
        over its channels) from ``GAP(x)`` ``[N, C]``."""
        q, k = self.query_key(pooled)
        logits = (q * k).sum(-1) / math.sqrt(self.head_dim)
        return self.expand_heads(torch.sigmoid(logits))

    def forward(self,
                x: torch.Tensor,
                prev: Optional[torch.Tensor] = None,
                pooled: Optional[torch.Tensor] = None) -> torch.Tensor:
        """``o_t = V_t * a_t + lambda_t * prev``.

        Args:
            x (Tensor): Block output, ``[N, C, H, W]``.
            prev (Tensor, optional): Previous output, ``[N, C, H, W]``.
            pooled (Tensor, optional): ``GAP(x)`` ``[N, C]`` if already
                computed.

        Returns:
            Tensor: ``o_t``, ``[N, C, H, W]``.
        """
        if pooled is None:
            pooled = x.mean((2, 3), dtype=torch.float32)
        out = self.value_conv(x) * self.head_gates(pooled).to(x.dtype)
        if prev is not None:
            out = out + self.lambda_t.to(out.dtype) * prev
        return out

    def forward_updated(self, x: torch.Tensor, pooled: torch.Tensor,
                        shortcut: torch.Tensor, gate: torch.Tensor,
                        update_weight: torch.Tensor) -> torch.Tensor:
        """DLA-L: attend with the updated shortcut as previous output.

        Computes ``forward(x, prev=shortcut * gate + DWConv(shortcut))``
        with the per-channel factors folded together, so that the full-size
        tensors are passed over fewer times::

            o = DWConv_{lambda * w}(shortcut) + shortcut * (lambda * gate)
                + V * a

        Args:
            x (Tensor): Block output, ``[N, C, H, W]``.
            pooled (Tensor): ``GAP(x)``, ``[N, C]``.
            shortcut (Tensor): The block's shortcut ``r_t``,
                ``[N, C, H, W]``.
            gate (Tensor): Update gate ``d_t``, ``[N, C]``.
            update_weight (Tensor): The stage's depthwise update kernel,
                ``[C, 1, 3, 3]``.

        Returns:
            Tensor: ``o_t``, ``[N, C, H, W]``.
        """
        dtype = x.dtype
        lam = self.lambda_t.to(dtype)
        out = F.conv2d(
            shortcut, update_weight.to(dtype) * lam[:, None], padding=1,
            groups=self.channels)
        out = out.addcmul_(shortcut, lam * gate.to(dtype)[..., None, None])
        return out.addcmul_(
            self.value_conv(x), self.head_gates(pooled).to(dtype))


class MRLABase(LayerAttention):
    """MRLA-base: softmax attention over the blocks of a stage so far.

    For block ``t`` with query ``q_t`` and the stacked keys ``k_0..k_t`` and
    values ``v_0..v_t``::

        out_g = sum_j softmax_j(<q_g, k_{j,g}> / sqrt(head_dim)) * v_{j,g}
    """

    def project(self, x: torch.Tensor,
                pooled: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Query ``[N, G, d]``, key ``[N, G, d]`` (fp32) and value
        ``[N, C, H, W]`` of a block output ``x`` with ``GAP(x)``
        ``pooled``."""
        q, k = self.query_key(pooled)
        return q, k, self.value_conv(x)

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
