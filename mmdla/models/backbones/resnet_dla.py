"""ResNet backbones with Dynamic Layer Attention (DLA).

Paper: K. Wang, X. Xia, J. Liu, Z. Yi, T. He, "Strengthening Layer Interaction
via Dynamic Layer Attention", IJCAI 2024 (arXiv 2406.13392).
"""
import inspect
import logging
import warnings
from typing import Dict, List, Optional, Sequence, Tuple, Type, Union

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule, build_conv_layer, build_norm_layer
from mmengine.logging import print_log
from mmengine.model import BaseModule
from mmengine.model.weight_init import PretrainedInit, constant_init
from torch.nn.modules.batchnorm import _BatchNorm

from mmdla.registry import MODELS
from ..layers import (BasicBlock, Bottleneck, DLAStage, LayerAttentionStep,
                      ResidualBlock, layer_attention_step)
from ..layers.legacy_keys import rename_legacy_keys
from ..layers.options import (accepted_options, check_options_taken,
                              registered_class)
from .pretrained import (LoadedCheckpoint, abbreviate_keys,
                         load_backbone_checkpoint)


def is_pretrained(init_cfg: dict) -> bool:
    """Whether an ``init_cfg`` entry loads a checkpoint."""
    return init_cfg.get('type') in ('Pretrained', PretrainedInit)


Block = Union[Type[BasicBlock], Type[Bottleneck]]
BLOCKS = {'basic': BasicBlock, 'bottleneck': Bottleneck}
InitCfg = Union[dict, List[dict]]

#: What ``init_cfg=None`` initialises: as MMDetection's and MMSegmentation's
#: ``ResNet`` without a checkpoint.
DEFAULT_INIT_CFG: List[dict] = [
    dict(type='Kaiming', layer=['Conv2d']),
    dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm'])
]


def resolve_init_cfg(init_cfg: Optional[InitCfg],
                     pretrained: Optional[str]) -> InitCfg:
    """The ``init_cfg`` of a backbone built with ``init_cfg`` and the
    deprecated ``pretrained``, as MMDetection's and MMSegmentation's
    ``ResNet`` resolve them.

    ``pretrained`` (set by bases such as ``mmseg::_base_/models/
    upernet_r50.py``, whose ``EncoderDecoder`` passes its ``pretrained`` on
    to the backbone) becomes ``dict(type='Pretrained', checkpoint=
    pretrained)``, with a :class:`DeprecationWarning`; without either,
    :data:`DEFAULT_INIT_CFG`.

    Raises:
        TypeError: If ``pretrained`` is neither a string nor None.
        ValueError: If both ``pretrained`` and ``init_cfg`` are given.
    """
    if pretrained is None:
        # BaseModule keeps a deep copy
        return DEFAULT_INIT_CFG if init_cfg is None else init_cfg
    if not isinstance(pretrained, str):
        raise TypeError(
            f'pretrained must be the path or URL of a checkpoint, or None; '
            f'got the {type(pretrained).__name__} {pretrained!r}.')
    if init_cfg is not None:
        raise ValueError(
            f'the backbone got both pretrained={pretrained!r} and '
            f'init_cfg={init_cfg!r}; set only init_cfg, e.g. '
            f"init_cfg=dict(type='Pretrained', checkpoint={pretrained!r}), "
            'and pretrained=None (in a config whose model passes its '
            'pretrained on to the backbone, as the EncoderDecoder of '
            'mmseg:: bases does, set model.pretrained=None).')
    warnings.warn(
        f'pretrained={pretrained!r} is deprecated: it is taken as '
        f"init_cfg=dict(type='Pretrained', checkpoint={pretrained!r}); "
        'set that init_cfg (and pretrained=None) instead.',
        DeprecationWarning,
        stacklevel=3)
    return dict(type='Pretrained', checkpoint=pretrained)


@MODELS.register_module()
class ResNetDLA(BaseModule):
    """ResNet with Dynamic Layer Attention (DLA-L / DLA-B) or static MRLA.

    Takes the place of MMPretrain's, MMDetection's and MMSegmentation's
    ``ResNet`` (and, with ``deep_stem=True``, of their ``ResNetV1c``): the
    same stage layout
    (``layer1`` ... ``layer4``), output channels and parameter names for the
    ResNet part, plus the layer attention of every stage
    (``layerN.layer_attention``: ``attentions``, ``norms`` and, with DLA,
    ``context_cell`` and ``update_kernel``). The constructor takes their
    arguments except MMDetection's and MMSegmentation's ``dcn``,
    ``stage_with_dcn`` and ``plugins``, MMSegmentation's ``multi_grid`` and
    MMPretrain's ``expansion``; ``drop_path_rate`` applies to the attention
    branch, not to the residual branch as in MMPretrain's ``ResNet``.

    Kinds of layer attention (``layer_attention``, or the shorthands
    ``variant`` and ``dual_path``):

    - DLA-L (the paper's ImageNet and COCO model): ``'DLALightStep'``,
      ``variant='light', dual_path=True``.
    - DLA-B: ``'DLABaseStep'``, ``variant='base', dual_path=True``.
    - Static layer attention baselines MRLA-light / MRLA-base:
      ``'MRLALightStep'`` / ``'MRLABaseStep'``, ``dual_path=False``.
    - Context cell ablations: ``context_cell='lstm'`` or ``'gru'``.

    Args:
        depth (int): Network depth, one of {18, 34, 50, 101, 152}.
        in_channels (int): Input image channels. Defaults to 3.
        stem_channels (int): Output channels of the stem. Defaults to 64.
        base_channels (int): Middle channels of the first stage.
            Defaults to 64.
        num_stages (int): Number of stages, 1 to 4. Defaults to 4.
        strides (Sequence[int]): Stride of the first block of each stage.
        dilations (Sequence[int]): Dilation of the 3x3 convolutions of the
            blocks of each stage (e.g. ``(1, 1, 2, 4)`` with strides
            ``(1, 2, 1, 1)``: output stride 8, MMSegmentation's ``-d8``
            models). The layer attention is not dilated: its depthwise 3x3
            convolutions (DLA-L's value and update kernels) see 3x3
            neighbourhoods at the resolution of their stage, which a
            dilated stage keeps 2 or 4 times finer.
        contract_dilation (bool): With a stage's dilation ``d > 1``, give
            its first block ``d // 2`` (as MMDetection's and
            MMSegmentation's ``ResLayer``). Defaults to False.
        out_indices (Sequence[int]): Stages whose outputs are returned, a
            sequence even for one stage. Defaults to ``(3, )``.
        style (str): ``'pytorch'`` (stride on the 3x3 convolution) or
            ``'caffe'`` (stride on the first 1x1).
        deep_stem (bool): Three 3x3 convolutions instead of the 7x7 stem.
        avg_down (bool): Average-pool before the shortcut projection when
            downsampling.
        frozen_stages (int): Freeze the stem and the first ``frozen_stages``
            stages, their layer attention included. -1 freezes nothing.
        conv_cfg (dict, optional): Config of the ResNet convolutions.
        norm_cfg (dict): Config of every norm layer, the attention norms
            included (e.g. ``dict(type='SyncBN')`` or
            ``dict(type='GN', num_groups=32)``; a GN config needs
            ``num_groups``).
        norm_eval (bool): Keep the BatchNorm layers in eval mode during
            training (frozen statistics).
        with_cp (bool): Gradient checkpointing of every block step
            (non-reentrant, so the context cell shared by a stage's blocks
            receives all its gradients).
        zero_init_residual (bool): Zero the last norm of every block
            (not when ``init_cfg`` loads a checkpoint).
        zero_init_attention (bool): Start every layer attention at
            identity, after ``init_cfg`` (a loaded checkpoint included):
            every step returns its block's output unchanged, so that the
            backbone computes exactly its plain ResNet, e.g. the torchvision
            ResNet of ``init_cfg=dict(type='Pretrained',
            checkpoint='torchvision://resnet50')``. The weight and bias of
            every attention norm are zeroed
            (:meth:`LayerAttentionStep.init_identity`); the first backward
            pass reaches only them, the optimiser's first step makes them
            non-zero, and from the second step on the attention kernels and
            the context cells train too (see
            :mod:`mmdla.models.layers.attention_steps`). Defaults to False.
        drop_path_rate (float): DropPath rate, in ``[0, 1)``, of the
            attention branch of every block (``x + DropPath(Norm(o))``,
            constant over depth, as in the paper). The residual branch of
            the blocks has none (unlike ``drop_path_rate`` of MMPretrain's
            ``ResNet``).
        variant (str): ``'light'`` (MRLA-light) or ``'base'`` (MRLA-base).
            Not used when ``layer_attention`` is given.
        dual_path (bool): DLA's context and update paths; ``False`` gives
            the static MRLA baseline. Not used when ``layer_attention`` is
            given.
        layer_attention (str | dict, optional): Registered name or config
            of the :class:`LayerAttentionStep` of every stage, e.g.
            ``'DLABaseStep'``; replaces ``variant`` and ``dual_path``.
        context_cell (str | dict): ``'dsu'`` (default), ``'lstm'``, ``'gru'``
            or a config dict of a registered context cell.
        dsu_reduction (int): ``reduction`` of a context cell that takes one
            (the DSU), unless the ``context_cell`` config sets it.
            Defaults to 16.
        head_dim (int): Channels per attention head. Defaults to 32.
        lambda_init (str | float): Initialisation of MRLA-light's per-channel
            ``lambda``: ``'normal'`` (standard normal) or a constant.
        legacy_batch0_context (bool): Reproduce the reference code, whose
            update path uses the first sample's context for the whole batch.
            Only for comparing with its checkpoints; defaults to False.
        fused (str | bool): The fused GPU kernels of the DLA-L step (see
            :class:`DLALightStep`): ``'auto'`` (default: where measured
            faster than the PyTorch path), ``True`` or ``False``.
        block (str, optional): ``'basic'`` or ``'bottleneck'`` blocks, passed
            to :meth:`get_arch`: each depth of ``ResNetDLA`` has one
            (checked if given); :class:`ResNetDLACifar` chooses.
        pretrained (str, optional): Deprecated, as in MMDetection's and
            MMSegmentation's ``ResNet``: a checkpoint taken as
            ``init_cfg=dict(type='Pretrained', checkpoint=pretrained)``, with
            a ``DeprecationWarning``; an error together with ``init_cfg``
            (see :func:`resolve_init_cfg`). Defaults to None.
        init_cfg (dict | list[dict], optional): Initialisation config;
            None (default) gives :data:`DEFAULT_INIT_CFG`. A
            ``dict(type='Pretrained', checkpoint=..., prefix=...)`` is
            loaded by :func:`load_backbone_checkpoint`: a plain ResNet
            (torchvision's, MMPretrain's, MMDetection's or MMSegmentation's
            layout, with or without ``prefix``; a deep stem in either
            MMPretrain's or MMDetection's and MMSegmentation's naming, e.g.
            ``open-mmlab://resnet50_v1c``) or a DLA checkpoint of the same
            layer attention; it logs one line with what was loaded and
            raises a ``ValueError`` naming the mismatch for any other
            checkpoint.

    ``norm_cfg``, ``drop_path_rate``, ``context_cell``, ``dsu_reduction``,
    ``head_dim``, ``lambda_init``, ``legacy_batch0_context`` and ``fused``
    are passed to the layer attention step if its constructor names them
    (see :mod:`mmdla.models.layers.options`); values in a
    ``layer_attention`` config take precedence.

    Example:
        >>> import torch
        >>> from mmdla.models import ResNetDLA
        >>> model = ResNetDLA(depth=18, out_indices=(0, 1, 2, 3)).eval()
        >>> for out in model(torch.rand(1, 3, 64, 64)):
        ...     print(tuple(out.shape))
        (1, 64, 16, 16)
        (1, 128, 8, 8)
        (1, 256, 4, 4)
        (1, 512, 2, 2)
    """

    arch_settings = {
        18: (BasicBlock, (2, 2, 2, 2)),
        34: (BasicBlock, (3, 4, 6, 3)),
        50: (Bottleneck, (3, 4, 6, 3)),
        101: (Bottleneck, (3, 4, 23, 3)),
        152: (Bottleneck, (3, 8, 36, 3)),
    }

    def __init__(self,
                 depth: int,
                 in_channels: int = 3,
                 stem_channels: int = 64,
                 base_channels: int = 64,
                 num_stages: int = 4,
                 strides: Sequence[int] = (1, 2, 2, 2),
                 dilations: Sequence[int] = (1, 1, 1, 1),
                 contract_dilation: bool = False,
                 out_indices: Sequence[int] = (3, ),
                 style: str = 'pytorch',
                 deep_stem: bool = False,
                 avg_down: bool = False,
                 frozen_stages: int = -1,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN', requires_grad=True),
                 norm_eval: bool = False,
                 with_cp: bool = False,
                 zero_init_residual: bool = True,
                 zero_init_attention: bool = False,
                 drop_path_rate: float = 0.0,
                 variant: str = 'light',
                 dual_path: bool = True,
                 layer_attention: Optional[Union[str, dict]] = None,
                 context_cell='dsu',
                 dsu_reduction: int = 16,
                 head_dim: int = 32,
                 lambda_init='normal',
                 legacy_batch0_context: bool = False,
                 fused: Union[str, bool] = 'auto',
                 block: Optional[str] = None,
                 pretrained: Optional[str] = None,
                 init_cfg: Optional[InitCfg] = None) -> None:
        super().__init__(init_cfg=resolve_init_cfg(init_cfg, pretrained))
        if not isinstance(depth, int):
            raise TypeError(f'depth must be an int, got the '
                            f'{type(depth).__name__} {depth!r}.')
        block, stage_blocks = self.get_arch(depth, block)
        if not 1 <= num_stages <= len(stage_blocks):
            raise ValueError(f'num_stages must be in [1, {len(stage_blocks)}]'
                             f', got {num_stages}.')
        if not len(strides) == len(dilations) == num_stages:
            raise ValueError(
                f'strides {tuple(strides)} and dilations {tuple(dilations)} '
                f'must both have num_stages={num_stages} entries.')
        if not isinstance(out_indices, (list, tuple)):
            raise ValueError(
                f'out_indices must be a sequence of stage indices, got '
                f'{out_indices!r}; write ({out_indices!r}, ) for one stage.')
        if not out_indices or not all(0 <= i < num_stages
                                      for i in out_indices):
            raise ValueError(f'out_indices {tuple(out_indices)} must index '
                             f'the {num_stages} stages (0 to '
                             f'{num_stages - 1}).')
        if not -1 <= frozen_stages <= num_stages:
            raise ValueError(f'frozen_stages must be in [-1, {num_stages}], '
                             f'got {frozen_stages}.')
        if not 0 <= drop_path_rate < 1:
            raise ValueError(f'drop_path_rate must be in [0, 1), got '
                             f'{drop_path_rate}.')
        if norm_cfg.get('type') in ('GN', nn.GroupNorm) and (
                'num_groups' not in norm_cfg):
            raise ValueError(
                f'norm_cfg {norm_cfg} has no num_groups; GroupNorm needs '
                "one, e.g. dict(type='GN', num_groups=32).")
        layer_attention = self._layer_attention_cfg(
            layer_attention or layer_attention_step(variant, dual_path),
            dict(
                norm_cfg=norm_cfg,
                drop_path_rate=drop_path_rate,
                context_cell=context_cell,
                dsu_reduction=dsu_reduction,
                head_dim=head_dim,
                lambda_init=lambda_init,
                legacy_batch0_context=legacy_batch0_context,
                fused=fused))
        self.depth = depth
        self.deep_stem = deep_stem
        self.out_indices = tuple(out_indices)
        self.frozen_stages = frozen_stages
        self.conv_cfg = conv_cfg
        self.norm_cfg = norm_cfg
        self.norm_eval = norm_eval
        self.zero_init_residual = zero_init_residual
        self.zero_init_attention = zero_init_attention
        self.stage_blocks = stage_blocks[:num_stages]

        self._make_stem_layer(in_channels, stem_channels)
        self.res_layers = []
        in_chs, out_chs = stem_channels, base_channels * block.expansion
        for i, num_blocks in enumerate(self.stage_blocks):
            stage = self.make_res_layer(
                block=block,
                num_blocks=num_blocks,
                in_channels=in_chs,
                out_channels=out_chs,
                stride=strides[i],
                dilation=dilations[i],
                contract_dilation=contract_dilation,
                style=style,
                avg_down=avg_down,
                conv_cfg=conv_cfg,
                norm_cfg=norm_cfg,
                layer_attention=layer_attention,
                with_cp=with_cp)
            self.add_module(f'layer{i + 1}', stage)
            self.res_layers.append(f'layer{i + 1}')
            in_chs, out_chs = out_chs, out_chs * 2
        self.feat_dim = in_chs
        self._freeze_stages()

    @classmethod
    def get_arch(cls,
                 depth: int,
                 block: Optional[str] = None) -> Tuple[Block, Tuple[int, ...]]:
        """Block class and blocks per stage of a ResNet.

        Args:
            depth (int): One of :attr:`arch_settings`.
            block (str, optional): ``'basic'`` or ``'bottleneck'``; each
                depth has one, checked if given.
        """
        if depth not in cls.arch_settings:
            raise ValueError(f'depth must be one of '
                             f'{tuple(cls.arch_settings)}, got {depth}.')
        block_cls, stage_blocks = cls.arch_settings[depth]
        if block is not None and BLOCKS.get(block) is not block_cls:
            raise ValueError(
                f'a ResNet-{depth} has {block_cls.__name__} blocks, got '
                f'block={block!r}; leave block unset.')
        return block_cls, stage_blocks

    def _layer_attention_cfg(self, cfg: Union[str, dict],
                             options: dict) -> dict:
        """The step config ``cfg`` completed with the ``options`` that its
        class takes and that it does not set itself; an option set to other
        than its default that the class does not take is an error."""
        if isinstance(cfg, str):
            cfg = dict(type=cfg)
        step_cls = registered_class(cfg, LayerAttentionStep)
        defaults = {}  # of this class's constructor and those it extends
        for cls in reversed(type(self).__mro__[:type(self).__mro__.index(
                ResNetDLA) + 1]):
            defaults.update(
                (name, param.default) for name, param in inspect.signature(
                    cls.__init__).parameters.items()
                if param.default is not param.empty)
        check_options_taken(step_cls, options, defaults)
        return {**accepted_options(step_cls, options), **cfg}

    def make_res_layer(self,
                       block: Block,
                       num_blocks: int,
                       in_channels: int,
                       out_channels: int,
                       stride: int,
                       dilation: int,
                       style: str,
                       avg_down: bool,
                       conv_cfg: Optional[dict],
                       norm_cfg: dict,
                       contract_dilation: bool = False,
                       **stage_kwargs) -> DLAStage:
        """Build one stage; override to change its blocks or attention.

        Every block has ``dilation``, but the first one ``dilation // 2``
        with ``contract_dilation`` and ``dilation > 1``. ``stage_kwargs``
        (``layer_attention``, ``with_cp``) are passed to :class:`DLAStage`.
        """
        first_dilation = (
            dilation // 2 if contract_dilation and dilation > 1 else dilation)
        downsample = None
        if stride != 1 or in_channels != out_channels:
            layers = []
            conv_stride = stride
            if avg_down and stride != 1:
                conv_stride = 1
                layers.append(
                    nn.AvgPool2d(stride, stride, ceil_mode=True,
                                 count_include_pad=False))
            layers += [
                build_conv_layer(conv_cfg, in_channels, out_channels, 1,
                                 stride=conv_stride, bias=False),
                build_norm_layer(norm_cfg, out_channels)[1]
            ]
            downsample = nn.Sequential(*layers)
        blocks = [
            block(in_channels if i == 0 else out_channels, out_channels,
                  expansion=block.expansion, stride=stride if i == 0 else 1,
                  dilation=first_dilation if i == 0 else dilation,
                  downsample=downsample if i == 0 else None,
                  style=style, conv_cfg=conv_cfg, norm_cfg=norm_cfg)
            for i in range(num_blocks)
        ]
        return DLAStage(blocks, out_channels, **stage_kwargs)

    def _make_stem_layer(self, in_channels: int, stem_channels: int) -> None:
        if self.deep_stem:
            self.stem = nn.Sequential(
                ConvModule(in_channels, stem_channels // 2, 3, stride=2,
                           padding=1, conv_cfg=self.conv_cfg,
                           norm_cfg=self.norm_cfg, inplace=True),
                ConvModule(stem_channels // 2, stem_channels // 2, 3,
                           padding=1, conv_cfg=self.conv_cfg,
                           norm_cfg=self.norm_cfg, inplace=True),
                ConvModule(stem_channels // 2, stem_channels, 3, padding=1,
                           conv_cfg=self.conv_cfg, norm_cfg=self.norm_cfg,
                           inplace=True))
        else:
            self._make_conv_stem(in_channels, stem_channels, 7, stride=2)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)

    def _make_conv_stem(self,
                        in_channels: int,
                        stem_channels: int,
                        kernel_size: int,
                        stride: int = 1) -> None:
        """The one-convolution stem ``conv1``, ``norm1`` and ``relu``: a
        ``kernel_size`` convolution (padded to keep the size at stride 1)
        without bias, its norm and ReLU."""
        self.conv1 = build_conv_layer(
            self.conv_cfg,
            in_channels,
            stem_channels,
            kernel_size,
            stride=stride,
            padding=kernel_size // 2,
            bias=False)
        self.norm1_name, norm1 = build_norm_layer(
            self.norm_cfg, stem_channels, postfix=1)
        self.add_module(self.norm1_name, norm1)
        self.relu = nn.ReLU(inplace=True)

    def _sequential_stem_keys(self) -> Dict[str, str]:
        """Names of the deep stem's tensors in MMDetection's and
        MMSegmentation's ``ResNet`` (one ``nn.Sequential`` of convolution,
        norm and ReLU: ``stem.0.weight``, ``stem.1.running_mean``, ...)
        mapped to this backbone's (``ConvModule`` s, as in MMPretrain:
        ``stem.0.conv.weight``, ``stem.0.bn.running_mean``, ...)."""
        renames = {}
        for i, conv_module in enumerate(self.stem):
            for name in conv_module.conv.state_dict():
                renames[f'stem.{3 * i}.{name}'] = f'stem.{i}.conv.{name}'
            for name in conv_module.norm.state_dict():
                renames[f'stem.{3 * i + 1}.{name}'] = (
                    f'stem.{i}.{conv_module.norm_name}.{name}')
        return renames

    def _load_from_state_dict(self, state_dict: dict, prefix: str,
                              local_metadata: dict, *args, **kwargs) -> None:
        """Load, renaming a deep stem in MMDetection's and MMSegmentation's
        layout (e.g. ``open-mmlab://resnet50_v1c``) to this one's."""
        if self.deep_stem:
            rename_legacy_keys(state_dict, prefix,
                               self._sequential_stem_keys())
        super()._load_from_state_dict(state_dict, prefix, local_metadata,
                                      *args, **kwargs)

    @property
    def norm1(self) -> nn.Module:
        return getattr(self, self.norm1_name)

    def stem_forward(self, x: torch.Tensor) -> torch.Tensor:
        """Stem: ``[N, C_in, H, W]`` -> ``[N, stem_channels, H/4, W/4]``."""
        if self.deep_stem:
            x = self.stem(x)
        else:
            x = self.relu(self.norm1(self.conv1(x)))
        return self.maxpool(x)

    def stem_modules(self) -> Tuple[nn.Module, ...]:
        """Modules of the stem that ``frozen_stages >= 0`` freezes."""
        return (self.stem, ) if self.deep_stem else (self.conv1, self.norm1)

    def _freeze_stages(self) -> None:
        frozen = list(self.stem_modules()) if self.frozen_stages >= 0 else []
        frozen += [
            getattr(self, f'layer{i}')
            for i in range(1, self.frozen_stages + 1)
        ]
        for m in frozen:
            m.eval()
            for param in m.parameters():
                param.requires_grad = False

    def init_weights(self) -> None:
        """Initialise as ``init_cfg`` says, then apply
        ``zero_init_residual`` (unless a checkpoint was loaded) and
        ``zero_init_attention``.

        The ``Pretrained`` entry of ``init_cfg`` is loaded by
        :func:`load_backbone_checkpoint` rather than by MMEngine, after the
        other entries and the submodules' own initialisation, and reported
        in one log line.
        """
        if self.is_init:  # MMEngine warns that it was called again
            super().init_weights()
            return
        init_cfg = self.init_cfg
        init_cfgs = (init_cfg if isinstance(init_cfg, list) else
                     [init_cfg] if init_cfg else [])
        pretrained = [cfg for cfg in init_cfgs if is_pretrained(cfg)]
        self.init_cfg = [cfg for cfg in init_cfgs if not is_pretrained(cfg)]
        try:
            super().init_weights()
        finally:
            self.init_cfg = init_cfg
        for cfg in pretrained:
            loaded = load_backbone_checkpoint(
                self,
                cfg['checkpoint'],
                prefix=cfg.get('prefix'),
                map_location=cfg.get('map_location', 'cpu'),
                step_name=self.attention_step_name())
            print_log(
                self._loading_report(cfg['checkpoint'], loaded),
                logger='current',
                level=(logging.WARNING if loaded.with_attention ==
                       self.zero_init_attention else logging.INFO))
        if self.zero_init_residual and not pretrained:
            for m in self.modules():
                if isinstance(m, ResidualBlock):
                    constant_init(m.last_norm, 0)
        if self.zero_init_attention:
            for name in self.res_layers:
                getattr(self, name).layer_attention.init_identity()
            if not pretrained:
                print_log(
                    f'{self._name()}: layer attention of '
                    f'{self._stage_names()} starts at identity '
                    '(zero_init_attention=True).',
                    logger='current')

    def attention_step_name(self) -> str:
        """Class name of the stages' layer attention step."""
        return type(getattr(self, self.res_layers[0]).layer_attention).__name__

    def _name(self) -> str:
        return f'{type(self).__name__}-{self.depth}'

    def _stage_names(self) -> str:
        """``'layer1-layer4'`` (``layer1`` alone for one stage)."""
        names = self.res_layers
        return names[0] if len(names) == 1 else f'{names[0]}-{names[-1]}'

    def _loading_report(self, checkpoint: str,
                        loaded: LoadedCheckpoint) -> str:
        """The log line of a loaded checkpoint."""
        part = ('the ResNet and its layer attention'
                if loaded.with_attention else 'the ResNet')
        ignored = (f', ignored {len(loaded.ignored)} not in the backbone '
                   f'({abbreviate_keys(loaded.ignored)})'
                   if loaded.ignored else '')
        attention = f'layer attention of {self._stage_names()} ' + (
            f'({self.attention_step_name()}, '
            f'{sum(self.stage_blocks)} blocks)')
        if self.zero_init_attention:
            start = f'{attention} starts at identity' + (
                ' (zero_init_attention=True replaces the loaded one; '
                'set it False to keep it)' if loaded.with_attention else
                ': the backbone computes the checkpoint\'s ResNet')
        elif loaded.with_attention:
            start = f'{attention} loaded'
        else:
            start = (f'{attention} is not in the checkpoint and keeps its '
                     'random initialisation; zero_init_attention=True '
                     'would start it at identity')
        frozen = ''
        if self.frozen_stages >= 0:
            frozen = '; frozen: ' + ', '.join(
                ['stem'] + self.res_layers[:self.frozen_stages])
        return (f'{self._name()}: loaded {loaded.loaded} tensors '
                f'({part}) from {checkpoint}{ignored}; {start}{frozen}.')

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """``[N, C_in, H, W]`` -> the outputs of the ``out_indices`` stages."""
        x = self.stem_forward(x)
        outs = []
        for i, name in enumerate(self.res_layers):
            x = getattr(self, name)(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def train(self, mode: bool = True) -> 'ResNetDLA':
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self


@MODELS.register_module()
class ResNetDLACifar(ResNetDLA):
    """ResNet-DLA for CIFAR: a 3x3 stem without pooling and three stages.

    Depth follows the CIFAR ResNets: ``9n + 2`` with bottleneck blocks
    (e.g. 56, 110, 164) or ``6n + 2`` with basic blocks
    (``block='basic'``; e.g. 20, 56, 110), ``n`` blocks per stage.
    Arguments are those of :class:`ResNetDLA` with CIFAR defaults
    (16-channel stem, strides ``(1, 2, 2)``, ``dsu_reduction=4``).

    Args:
        depth (int): Network depth.
        block (str): ``'bottleneck'`` (default) or ``'basic'``.
    """

    def __init__(self,
                 depth: int,
                 block: str = 'bottleneck',
                 stem_channels: int = 16,
                 base_channels: int = 16,
                 num_stages: int = 3,
                 strides: Sequence[int] = (1, 2, 2),
                 dilations: Sequence[int] = (1, 1, 1),
                 out_indices: Sequence[int] = (2, ),
                 dsu_reduction: int = 4,
                 **kwargs) -> None:
        if kwargs.get('deep_stem'):
            raise ValueError('ResNetDLACifar has a fixed 3x3 stem; '
                             'deep_stem is not supported.')
        super().__init__(
            depth,
            stem_channels=stem_channels,
            base_channels=base_channels,
            num_stages=num_stages,
            strides=strides,
            dilations=dilations,
            out_indices=out_indices,
            dsu_reduction=dsu_reduction,
            block=block,
            **kwargs)

    @classmethod
    def get_arch(cls,
                 depth: int,
                 block: Optional[str] = 'bottleneck'
                 ) -> Tuple[Block, Tuple[int, ...]]:
        """Block class and blocks per stage of a CIFAR ResNet: ``n`` blocks
        per stage for a depth of ``9n + 2`` (``'bottleneck'``) or ``6n + 2``
        (``'basic'``)."""
        if block not in BLOCKS:
            raise ValueError(
                f"block must be 'bottleneck' or 'basic', got {block!r}.")
        per_block = 9 if block == 'bottleneck' else 6
        if depth < per_block + 2 or (depth - 2) % per_block:
            raise ValueError(
                f'depth of a CIFAR ResNet with {block} blocks must be '
                f'{per_block}n + 2 (e.g. {per_block * 6 + 2}), got {depth}.')
        return BLOCKS[block], ((depth - 2) // per_block, ) * 3

    def _make_stem_layer(self, in_channels: int, stem_channels: int) -> None:
        self._make_conv_stem(in_channels, stem_channels, 3)

    def stem_forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.norm1(self.conv1(x)))
