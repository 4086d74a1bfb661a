"""Residual blocks that also return their shortcut.

DLA's backward (update) path needs the shortcut ``r_t`` of every block, so
these blocks return ``(out, shortcut)``. Apart from that they are the blocks
of MMPretrain's ResNet, with the same parameter names, so that a plain ResNet
checkpoint loads into a DLA backbone.
"""
from typing import Optional, Tuple

import torch
import torch.nn as nn
from mmcv.cnn import build_conv_layer, build_norm_layer
from mmengine.model import BaseModule


class ResidualBlock(BaseModule):
    """``relu(residual(x) + shortcut(x))``, returned with the shortcut.

    Subclasses build ``conv1``, ``conv2``, ... with :meth:`add_norm` and
    define :meth:`residual`.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        downsample (nn.Module, optional): Shortcut projection.
        norm_cfg (dict): Norm config.
    """
    expansion = 1

    def __init__(self, in_channels: int, out_channels: int,
                 downsample: Optional[nn.Module], norm_cfg: dict,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.norm_cfg = norm_cfg
        self.norm_names = []
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def add_norm(self, channels: int) -> None:
        """Add the next norm layer, named as in MMPretrain (``bn1``, ...)."""
        name, norm = build_norm_layer(
            self.norm_cfg, channels, postfix=len(self.norm_names) + 1)
        self.add_module(name, norm)
        self.norm_names.append(name)

    def norm(self, index: int) -> nn.Module:
        """The ``index``-th norm layer, counted from 1."""
        return getattr(self, self.norm_names[index - 1])

    @property
    def last_norm(self) -> nn.Module:
        """The norm zeroed by ``zero_init_residual``."""
        return self.norm(len(self.norm_names))

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self,
                x: torch.Tensor,
                activate: bool = True) -> Tuple[torch.Tensor, torch.Tensor]:
        """``[N, C_in, H, W]`` -> (output, shortcut), each
        ``[N, C_out, H / s, W / s]``.

        With ``activate=False`` the first is ``residual(x)``, before the
        shortcut is added and the ReLU applied (for a layer attention step
        that fuses them, see :meth:`LayerAttentionStep.plan`).
        """
        shortcut = x if self.downsample is None else self.downsample(x)
        if not activate:
            return self.residual(x), shortcut
        return self.relu(self.residual(x) + shortcut), shortcut


class BasicBlock(ResidualBlock):
    """Two 3x3 convolutions with a shortcut.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        expansion (int): Must be 1 (``out_channels`` / middle channels).
        stride (int): Stride of the first convolution.
        dilation (int): Dilation of the first convolution.
        downsample (nn.Module, optional): Shortcut projection.
        style (str): Unused; kept for the API of :class:`Bottleneck`.
        conv_cfg (dict, optional): Convolution config.
        norm_cfg (dict): Norm config.
    """
    expansion = 1

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 expansion: int = 1,
                 stride: int = 1,
                 dilation: int = 1,
                 downsample: Optional[nn.Module] = None,
                 style: str = 'pytorch',
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 init_cfg=None) -> None:
        super().__init__(in_channels, out_channels, downsample, norm_cfg,
                         init_cfg)
        if expansion != 1:
            raise ValueError('BasicBlock requires expansion=1.')
        self.conv1 = build_conv_layer(
            conv_cfg, in_channels, out_channels, 3, stride=stride,
            padding=dilation, dilation=dilation, bias=False)
        self.add_norm(out_channels)
        self.conv2 = build_conv_layer(
            conv_cfg, out_channels, out_channels, 3, padding=1, bias=False)
        self.add_norm(out_channels)

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.norm(1)(self.conv1(x)))
        return self.norm(2)(self.conv2(out))


class Bottleneck(ResidualBlock):
    """1x1 -> 3x3 -> 1x1 convolutions with a shortcut.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        expansion (int): ``out_channels`` / middle channels. Defaults to 4.
        stride (int): Stride of the block.
        dilation (int): Dilation of the 3x3 convolution.
        downsample (nn.Module, optional): Shortcut projection.
        style (str): ``'pytorch'`` puts the stride on the 3x3 convolution,
            ``'caffe'`` on the first 1x1.
        conv_cfg (dict, optional): Convolution config.
        norm_cfg (dict): Norm config.
    """
    expansion = 4

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 expansion: int = 4,
                 stride: int = 1,
                 dilation: int = 1,
                 downsample: Optional[nn.Module] = None,
                 style: str = 'pytorch',
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 init_cfg=None) -> None:
        super().__init__(in_channels, out_channels, downsample, norm_cfg,
                         init_cfg)
        if style not in ('pytorch', 'caffe'):
            raise ValueError(
                f"style must be 'pytorch' or 'caffe', got {style!r}.")
        if out_channels % expansion:
            raise ValueError(f'out_channels {out_channels} is not divisible '
                             f'by expansion {expansion}.')
        mid_channels = out_channels // expansion
        conv1_stride, conv2_stride = ((1, stride) if style == 'pytorch' else
                                      (stride, 1))
        self.conv1 = build_conv_layer(
            conv_cfg, in_channels, mid_channels, 1, stride=conv1_stride,
            bias=False)
        self.add_norm(mid_channels)
        self.conv2 = build_conv_layer(
            conv_cfg, mid_channels, mid_channels, 3, stride=conv2_stride,
            padding=dilation, dilation=dilation, bias=False)
        self.add_norm(mid_channels)
        self.conv3 = build_conv_layer(
            conv_cfg, mid_channels, out_channels, 1, bias=False)
        self.add_norm(out_channels)

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.norm(1)(self.conv1(x)))
        out = self.relu(self.norm(2)(self.conv2(out)))
        return self.norm(3)(self.conv3(out))
