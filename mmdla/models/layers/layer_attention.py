"""Layer attention modules: MRLA-light and MRLA-base.

Both read the current block output ``x`` ``[N, C, H, W]``. Queries and keys are
1-D convolutions (ECA kernel size) over the channel descriptor ``GAP(x)``;
values are a depthwise 3x3 convolution of ``x``. Channels are split into
``G = C / head_dim`` heads. The query-key logits are computed in fp32, also
under autocast.
"""
import math
from typing import NamedTuple, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule

from .legacy_keys import rename_legacy_keys
from .recorder import report


def eca_kernel_size(channels: int) -> int:
    """Odd kernel size of the ECA rule: ``t = int(|(log2(C) + 1) / 2|)``."""
    t = int(abs((math.log2(channels) + 1) / 2))
    return t if t % 2 else t + 1


class _GlobalAvgPool(torch.autograd.Function):
    """Spatial mean whose gradient is a broadcast view, not a full tensor."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        ctx.shape, ctx.dtype = x.shape, x.dtype
        return x.mean((-2, -1),
                      dtype=torch.promote_types(x.dtype, torch.float32))

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        h, w = ctx.shape[-2:]
        return (grad / (h * w)).to(ctx.dtype)[..., None, None].expand(
            ctx.shape)


def global_avg_pool(x: torch.Tensor) -> torch.Tensor:
    """Mean over the two spatial dimensions: ``[..., H, W]`` -> ``[...]``.

    Accumulated and returned in float32 (or wider) for any input dtype. The
    gradient reaches ``x`` as an expanded view of ``[..., 1, 1]``, so that
    autograd adds it to ``x``'s other gradients without first materialising
    a full-size tensor.
    """
    return _GlobalAvgPool.apply(x)


def kaiming_init_depthwise(kernel: torch.Tensor) -> None:
    """Draw a depthwise kernel ``[C, 1, kh, kw]`` as MMEngine's default
    ``Kaiming`` init draws a convolution's weight (normal, fan-out, ReLU
    gain)."""
    nn.init.kaiming_normal_(kernel, mode='fan_out', nonlinearity='relu')


def fold_gates(weight: torch.Tensor,
               scale: torch.Tensor,
               center: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Per-sample depthwise 3x3 kernels ``scale * weight``, plus ``center``
    at the middle tap: ``DWConv3x3_weight(x) * scale + x * center`` as one
    convolution.

    Args:
        weight (Tensor): Depthwise kernel, ``[C, 1, 3, 3]``.
        scale (Tensor): Per-sample, per-channel scale, ``[N, C]`` (or
            ``[1, C]``).
        center (Tensor, optional): Per-sample, per-channel weight of the
            middle tap, ``[N, C]``.

    Returns:
        Tensor: ``[N, C, 3, 3]`` (``[1, C, 3, 3]`` for one scale and no
        ``center``).
    """
    kernels = weight.view(1, -1, 3, 3) * scale[..., None, None]
    if center is not None:
        kernels = kernels + F.pad(center[..., None, None], (1, 1, 1, 1))
    return kernels


def gated_depthwise_conv(x: torch.Tensor,
                         weight: torch.Tensor,
                         scale: torch.Tensor,
                         center: Optional[torch.Tensor] = None
                         ) -> torch.Tensor:
    """``DWConv3x3_weight(x) * scale + x * center``, gated per sample.

    Args:
        x (Tensor): ``[N, C, H, W]``.
        weight (Tensor): Depthwise kernel shared by the batch,
            ``[C, 1, 3, 3]``.
        scale (Tensor): Per-sample, per-channel output scale, ``[N, C]``
            (or ``[1, C]`` for one scale for the whole batch).
        center (Tensor, optional): Per-sample, per-channel weight of ``x``
            itself, ``[N, C]``.

    Returns:
        Tensor: ``[N, C, H, W]``.

    The gates are linear in the kernel, so on the CPU with NCHW inputs they
    are folded into one 3x3 kernel per sample and channel
    (:func:`fold_gates`) and applied as a single grouped convolution over
    the batch viewed as ``[1, N * C, H, W]``.
    Its backward pass yields the gates' gradients from the kernel's
    gradient, instead of from full-size products. Elsewhere (CUDA,
    channels_last, where that view would copy) and while the model is
    exported or traced (a graph cannot carry ``groups = N * C`` with a
    symbolic batch) the gates are applied after a shared-kernel convolution.
    """
    n, c, h, w = x.shape
    weight = weight.to(x.dtype)
    scale = scale.to(x.dtype)
    center = None if center is None else center.to(x.dtype)
    if (x.device.type == 'cpu' and x.is_contiguous()
            and not torch.compiler.is_exporting()
            and not torch.jit.is_tracing()):
        kernels = fold_gates(weight, scale, center).expand(n, c, 3, 3)
        return F.conv2d(
            x.view(1, n * c, h, w),
            kernels.reshape(n * c, 1, 3, 3),
            padding=1,
            groups=n * c).view(n, c, h, w)
    scale = scale[..., None, None]
    if scale.shape[0] == 1:  # one scale for the batch: fold it into weight
        out = F.conv2d(x, weight * scale[0, :, None], padding=1, groups=c)
    else:
        out = F.conv2d(x, weight, padding=1, groups=c) * scale
    if center is not None:
        out = out.addcmul_(x, center[..., None, None])
    return out


class LightGates(NamedTuple):
    """The per-channel factors of MRLA-light's output in DLA-L::

        o = DWConv_v(x) * value + DWConv_u(r) * update + r * center

    (static MRLA-light: ``o = DWConv_v(x) * value + update * o_prev``).
    Both paths of :class:`DLALightStep` use them: the PyTorch path applies
    them around the two depthwise convolutions
    (:func:`gated_depthwise_conv`), the fused path folds them into the
    convolutions' kernels (:func:`fold_gates`).
    """
    value: torch.Tensor  # a_t, [N, C]
    update: torch.Tensor  # lambda_t, [1, C]
    center: Optional[torch.Tensor]  # lambda_t * d, [N, C]


class LayerAttention(BaseModule):
    """Query, key and value kernels shared by the MRLA modules.

    The kernels are plain parameters, read by :meth:`query_key` and
    :meth:`value_conv`:

    - ``query_kernel``, ``key_kernel`` ``[k]``: 1-D cross-correlation
      kernels over the channel descriptor ``GAP(x)`` (ECA kernel size ``k``,
      zero padding ``(k - 1) / 2``, no bias);
    - ``value_kernel`` ``[C, 1, 3, 3]``: a depthwise 3x3 kernel (padding 1,
      no bias).

    At construction the kernels are drawn as PyTorch draws the weights of
    the equivalent ``Conv1d`` and ``Conv2d`` (uniform in
    ``+-1 / sqrt(fan_in)``); :meth:`init_weights` redraws the value kernel
    as mmdla's backbones initialise their convolutions (Kaiming normal,
    fan-out, ReLU gain).

    Args:
        channels (int): Channels ``C`` of the attended features.
        head_dim (int): Channels per head. ``C`` must be divisible by it;
            fewer than ``head_dim`` channels form a single head.
    """
    # 2: plain kernels ``query_kernel`` ``[k]``, ``key_kernel``,
    # ``value_kernel`` instead of the weights of the ``query``, ``key`` and
    # ``value`` convolutions of version 1.
    _version = 2

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
        self.query_kernel = nn.Parameter(torch.empty(k))
        self.key_kernel = nn.Parameter(torch.empty(k))
        self.value_kernel = nn.Parameter(torch.empty(channels, 1, 3, 3))
        self.reset_kernels()

    def reset_kernels(self) -> None:
        """Draw the kernels uniformly in ``+-1 / sqrt(fan_in)``."""
        for kernel in (self.query_kernel, self.key_kernel, self.value_kernel):
            bound = 1 / math.sqrt(kernel[0].numel() if kernel.dim() > 1 else
                                  kernel.numel())
            nn.init.uniform_(kernel, -bound, bound)

    def init_weights(self) -> None:
        """Kaiming-normal value kernel (fan-out, ReLU gain)."""
        super().init_weights()
        kaiming_init_depthwise(self.value_kernel)

    def _load_from_state_dict(self, state_dict: dict, prefix: str,
                              local_metadata: dict, *args, **kwargs) -> None:
        if local_metadata.get('version', 1) < 2:
            rename_legacy_keys(
                state_dict, prefix, {
                    'query.weight': 'query_kernel',
                    'key.weight': 'key_kernel',
                    'value.weight': 'value_kernel'
                })
            for name in ('query_kernel', 'key_kernel'):
                if prefix + name in state_dict:  # [1, 1, k] -> [k]
                    state_dict[prefix + name] = state_dict[prefix +
                                                           name].flatten()
        super()._load_from_state_dict(state_dict, prefix, local_metadata,
                                      *args, **kwargs)

    def query_key(self,
                  pooled: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Per-head queries and keys in fp32.

        The two 1-D cross-correlations over the channel descriptor are
        evaluated together, as one product of its sliding windows
        ``[N, C, k]`` with the stacked kernels ``[k, 2]`` (without two tiny
        convolution calls and their backward passes).

        Args:
            pooled (Tensor): ``GAP(x)``, ``[N, C]``.

        Returns:
            tuple[Tensor, Tensor]: ``q`` and ``k``, each
            ``[N, G, head_dim]``, in float32 or wider.
        """
        device = pooled.device.type  # (the meta device has no autocast)
        with torch.autocast(device if device != 'meta' else 'cpu',
                            enabled=False):
            dtype = torch.promote_types(pooled.dtype, torch.float32)
            y = pooled.to(dtype)
            k = self.query_kernel.numel()
            windows = F.pad(y, ((k - 1) // 2, (k - 1) // 2)).unfold(-1, k, 1)
            # [2, k]: stacked along dim 0, so that the kernels' gradients
            # are contiguous slices of its gradient
            kernels = torch.stack((self.query_kernel, self.key_kernel))
            qk = windows @ kernels.to(dtype).t()  # [N, C, 2]
            shape = (pooled.shape[0], self.num_heads, self.head_dim)
            return qk[..., 0].view(shape), qk[..., 1].view(shape)

    def value_conv(self, x: torch.Tensor) -> torch.Tensor:
        """Values ``V = DWConv3x3(x)``, ``[N, C, H, W]``."""
        return F.conv2d(
            x, self.value_kernel.to(x.dtype), padding=1, groups=self.channels)

    def expand_heads(self, gates: torch.Tensor) -> torch.Tensor:
        """``[N, G]`` per-head gates -> ``[N, C]`` per-channel."""
        return gates.repeat_interleave(self.head_dim, dim=1)


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
        """Attention weights ``a_t`` ``[N, C]`` (per head, repeated over its
        channels) from ``GAP(x)`` ``[N, C]``."""
        q, k = self.query_key(pooled)
        logits = (q * k).sum(-1) / math.sqrt(self.head_dim)
        gates = torch.sigmoid(logits)
        report(self, 'head_gates', gates)
        return self.expand_heads(gates)

    def gates(self,
              pooled: torch.Tensor,
              update_gate: Optional[torch.Tensor] = None) -> LightGates:
        """The per-channel factors of ``o_t`` (see :class:`LightGates`).

        Args:
            pooled (Tensor): ``GAP(x)``, ``[N, C]``.
            update_gate (Tensor, optional): DLA-L's update gate ``d``
                ``[N, C]``: ``prev = r * d + DWConv_u(r)``, so that
                ``lambda * prev = DWConv_u(r) * lambda + r * (lambda * d)``.

        Returns:
            LightGates: ``value = a_t``, ``update = lambda_t`` ``[1, C]``
            and, given ``update_gate``, ``center = lambda_t * d``.
        """
        lam = self.lambda_t.view(1, -1)
        center = None
        if update_gate is not None:
            center = lam * update_gate.to(lam.dtype)
        return LightGates(self.head_gates(pooled), lam, center)

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
            pooled = global_avg_pool(x)
        gates = self.gates(pooled)
        out = gated_depthwise_conv(x, self.value_kernel, gates.value)
        if prev is not None:
            out = out + gates.update.to(out.dtype)[..., None, None] * prev
        return out


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
        report(self, 'attention_weights', weights)
        weights = self.expand_heads(weights.flatten(0, 1)).view(n, t, c, 1, 1)
        return (values * weights.to(values.dtype)).sum(1)
