"""The plain-ResNet counterpart of a config's DLA model."""
import copy
import inspect

from mmengine.config import Config, ConfigDict
from mmengine.registry import MODELS

# Arguments that ResNetDLA and the ResNets of mmpretrain or mmdet share by
# name but not by meaning: ResNetDLA's drop_path_rate drops the attention
# branch, mmpretrain's the residual branch of every block.
DIFFERENT_MEANING = ('drop_path_rate', )


def plain_counterpart(cfg: Config) -> Config:
    """The config with its backbone replaced by the same-depth ResNet.

    The ResNet is the one of the config's codebase (``mmdet.ResNet`` or
    ``mmpretrain.ResNet``). The backbone arguments it accepts with the same
    meaning are kept; the DLA-only ones (``variant``, ``dual_path``, ...),
    those of :data:`DIFFERENT_MEANING` and a pretrained ``init_cfg`` (see
    :func:`default_initialised`) are dropped, so that the counterpart is the
    ResNet that the DLA model extends.

    Raises:
        ValueError: If the backbone is not a ``ResNetDLA``.
    """
    backbone = cfg.model.backbone
    if backbone.type.split('.')[-1] != 'ResNetDLA':
        raise ValueError(
            f'No plain ResNet counterpart is defined for a {backbone.type} '
            'backbone (the CIFAR ResNets of mmdla have no attention-free '
            'twin in mmpretrain); compare with another config instead, e.g. '
            '--against configs/mrla110_1xb128_cifar100.py.')
    resnet_type = f'{cfg.default_scope}.ResNet'
    resnet_cls = MODELS.get(resnet_type)
    accepted = inspect.signature(resnet_cls.__init__).parameters
    plain = {
        key: value
        for key, value in backbone.items() if key in accepted
        and key != 'init_cfg' and key not in DIFFERENT_MEANING
    }
    plain['type'] = resnet_type
    counterpart = cfg.copy()
    counterpart.model = cfg.model.copy()
    counterpart.model.backbone = ConfigDict(plain)
    return counterpart


def default_initialised(cfg: Config) -> Config:
    """The config with its backbone's default initialisation.

    A pretrained backbone ``init_cfg`` (the detection configs name
    ``torchvision://`` weights, or an ImageNet DLA checkpoint that may not
    exist yet, and neither is needed to count or time) is dropped, so that both
    models are initialised the way their classes do by default and their
    heads keep comparable numbers of proposals after NMS.
    """
    cfg = copy.deepcopy(cfg)
    cfg.model.backbone.pop('init_cfg', None)
    return cfg
