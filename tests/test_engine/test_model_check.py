"""mmdla.engine.model_check: a neck that does not fit its backbone is named
with the channels to set, before a runner is built."""
import pytest
from mmengine.config import Config

from mmdla.engine.model_check import backbone_out_channels, check_neck_channels


@pytest.mark.parametrize('depth, channels', [
    (18, [64, 128, 256, 512]),
    (34, [64, 128, 256, 512]),
    (50, [256, 512, 1024, 2048]),
    (101, [256, 512, 1024, 2048]),
])
def test_backbone_out_channels_of_each_depth(depth, channels):
    backbone = dict(
        type='mmdla.ResNetDLA', depth=depth, out_indices=(0, 1, 2, 3))
    assert backbone_out_channels(backbone) == channels


def test_backbone_of_another_scope():
    backbone = dict(type='ResNet', depth=50, out_indices=(1, 3))
    assert backbone_out_channels(backbone, 'mmdet') == [512, 2048]


def test_unprobed_backbone_is_left_to_the_runner():
    # the runner's own build reports the unknown type
    assert backbone_out_channels(dict(type='NoSuchBackbone')) is None


def test_demo_detector_fits_its_neck(faster_rcnn_demo):
    cfg = Config.fromfile(faster_rcnn_demo)
    assert backbone_out_channels(cfg.model.backbone,
                                 cfg.default_scope) == [32, 64, 128, 256]
    check_neck_channels(cfg)


def test_deeper_backbone_names_the_neck_channels(faster_rcnn_demo):
    cfg = Config.fromfile(faster_rcnn_demo)
    cfg.merge_from_dict({'model.backbone.depth': 50})
    with pytest.raises(ValueError) as error:
        check_neck_channels(cfg)
    # the demo's half-width backbone: 32 base channels, 4 x in bottlenecks
    assert str(error.value) == (
        'model.neck.in_channels is [32, 64, 128, 256], but the backbone '
        '(mmdla.ResNetDLA, depth 50) returns features of '
        '[128, 256, 512, 1024] channels. Set model.neck.in_channels to '
        '[128, 256, 512, 1024], in the config or with --cfg-options '
        '"model.neck.in_channels=[128,256,512,1024]".')


def test_config_without_neck_channels_is_not_checked(cls_demo):
    check_neck_channels(Config.fromfile(cls_demo))
