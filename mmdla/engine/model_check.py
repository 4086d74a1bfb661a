"""Checks of a config's model that run before a runner builds it, so that a
setting that does not fit the rest of the model is named with its fix
instead of surfacing as a shape error at the first forward pass."""
from typing import List, Optional

import torch
from mmengine.config import Config
from mmengine.registry import MODELS, DefaultScope

#: Side of the square input of the shape probe: a multiple of the largest
#: stride (32) of the supported backbones.
_PROBE_SIZE = 64


def backbone_out_channels(backbone_cfg: dict,
                          scope: Optional[str] = None) -> Optional[List[int]]:
    """Channels of the feature maps a backbone config returns.

    The backbone is built on PyTorch's ``meta`` device (no weight is
    initialised), given uninitialised CPU memory and run on a small black
    image: only the shapes of its outputs are used.

    Args:
        backbone_cfg (dict): The ``model.backbone`` of a config.
        scope (str, optional): Default scope the backbone is built in (the
            config's ``default_scope``).

    Returns:
        list[int] | None: One entry per returned feature map, or None if
        the backbone cannot be probed that way (it is then left to the
        runner to build, with its own errors).
    """
    in_channels = backbone_cfg.get('in_channels', 3)
    try:
        with DefaultScope.overwrite_default_scope(scope):
            with torch.device('meta'):
                backbone = MODELS.build(backbone_cfg)
            backbone.to_empty(device='cpu')
            backbone.eval()  # some backbones' train() returns None
            with torch.no_grad():
                outs = backbone(
                    torch.zeros(1, in_channels, _PROBE_SIZE, _PROBE_SIZE))
    except Exception:  # any failure here is reported by the real build
        return None
    if isinstance(outs, torch.Tensor):
        outs = (outs, )
    return [out.shape[1] for out in outs]


def check_neck_channels(cfg: Config) -> None:
    """Check that ``model.neck.in_channels`` lists the channels of the
    backbone's outputs (e.g. after ``--cfg-options model.backbone.depth=50``
    on a config written for depth 18).

    Configs without a neck that takes ``in_channels`` are left alone.

    Raises:
        ValueError: If the lists differ, with the backbone's channels.
    """
    model = cfg.get('model') or {}
    backbone, neck = model.get('backbone'), model.get('neck')
    if not isinstance(backbone, dict) or not isinstance(neck, dict) or (
            'in_channels' not in neck):
        return
    expected = neck['in_channels']
    expected = list(expected) if isinstance(expected,
                                            (list, tuple)) else [expected]
    channels = backbone_out_channels(backbone, cfg.get('default_scope'))
    if channels is None or channels == expected:
        return
    depth = f', depth {backbone["depth"]}' if 'depth' in backbone else ''
    value = '[' + ','.join(map(str, channels)) + ']'
    raise ValueError(
        f'model.neck.in_channels is {expected}, but the backbone '
        f'({backbone["type"]}{depth}) returns features of {channels} '
        f'channels. Set model.neck.in_channels to {channels}, in the '
        f'config or with --cfg-options "model.neck.in_channels={value}".')
