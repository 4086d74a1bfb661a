"""mmdla.engine.model_check: a neck that does not fit its backbone, a
misspelt backbone argument and a training length below one are named with
their fix, before a runner is built."""
import inspect

import pytest
from mmengine.config import Config

from mmdla.engine.cli import build_runner
from mmdla.engine.model_check import (backbone_out_channels,
                                      check_backbone_arguments,
                                      check_config_options,
                                      check_neck_channels, check_train_loop,
                                      constructor_arguments)
from mmdla.models import ResNetDLA


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


class _Base:

    def __init__(self, a, b=1, *, c=2) -> None:
        pass


class _Passing(_Base):

    def __init__(self, d, **kwargs) -> None:
        super().__init__(**kwargs)


class _Open:

    def __init__(self, *args, **kwargs) -> None:
        pass


def test_constructor_arguments_follow_kwargs_to_the_base():
    assert constructor_arguments(_Base) == ['a', 'b', 'c']
    assert constructor_arguments(_Passing) == ['a', 'b', 'c', 'd']
    # **kwargs that reach no named argument cannot be checked
    assert constructor_arguments(_Open) is None


def test_misspelt_backbone_key_names_the_closest_argument(cls_demo):
    cfg = Config.fromfile(cls_demo)
    cfg.merge_from_dict({'model.backbone.dsu_reductoin': 4})
    with pytest.raises(ValueError) as error:
        check_config_options(cfg)
    assert str(error.value) == (
        "model.backbone.dsu_reductoin: mmdla.ResNetDLACifar has no argument "
        "'dsu_reductoin'; did you mean 'dsu_reduction' "
        '(model.backbone.dsu_reduction)? Correct the key, in the config or '
        'in --cfg-options.')


def test_backbone_key_without_close_match_lists_the_arguments(
        faster_rcnn_demo):
    cfg = Config.fromfile(faster_rcnn_demo)
    cfg.merge_from_dict({'model.backbone.xyz': 1})
    with pytest.raises(ValueError) as error:
        check_backbone_arguments(cfg)
    head = "model.backbone.xyz: mmdla.ResNetDLA has no argument 'xyz'; its " \
        'arguments are '
    tail = '. Correct the key, in the config or in --cfg-options.'
    message = str(error.value)
    assert message.startswith(head) and message.endswith(tail)
    listed = message[len(head):-len(tail)].split(', ')
    assert listed == sorted(inspect.signature(ResNetDLA).parameters)


def test_unscoped_mmdla_backbone_in_the_mmdla_scope_is_checked():
    cfg = Config(
        dict(
            default_scope='mmdla',
            model=dict(backbone=dict(type='ResNetDLA', depth=18, fusd=False))))
    with pytest.raises(ValueError, match="'fusd'; did you mean 'fused'"):
        check_backbone_arguments(cfg)


def test_backbones_of_other_codebases_are_left_to_their_constructors():
    cfg = Config(
        dict(
            default_scope='mmdet',
            model=dict(backbone=dict(type='ResNet', depth=50, dpeth=1))))
    check_backbone_arguments(cfg)


def test_demo_configs_pass_the_option_checks(cls_demo, faster_rcnn_demo):
    for config in (cls_demo, faster_rcnn_demo):
        check_config_options(Config.fromfile(config))


@pytest.mark.parametrize('train_cfg, message', [
    (dict(by_epoch=True, max_epochs=0, val_interval=1),
     'train_cfg.max_epochs must be an integer >= 1 (the number of epochs to '
     'train), got 0; give at least 1, e.g. --cfg-options '
     'train_cfg.max_epochs=1.'),
    (dict(by_epoch=True, max_epochs=12, val_interval=0),
     'train_cfg.val_interval must be an integer >= 1 (validate every '
     'val_interval epochs), got 0; give 1 to validate after every epoch, a '
     'larger value to validate less often, or train without validating '
     '(tools/train.py --no-validate).'),
    (dict(type='IterBasedTrainLoop', max_iters=-5),
     'train_cfg.max_iters must be an integer >= 1 (the number of iterations '
     'to train), got -5; give at least 1, e.g. --cfg-options '
     'train_cfg.max_iters=1.'),
    (dict(type='IterBasedTrainLoop', max_iters=100, val_interval=0),
     'train_cfg.val_interval must be an integer >= 1 (validate every '
     'val_interval iterations), got 0; give 1 to validate after every '
     'iteration, a larger value to validate less often, or train without '
     'validating (tools/train.py --no-validate).'),
])
def test_training_length_below_one_is_named(train_cfg, message):
    with pytest.raises(ValueError) as error:
        check_train_loop(Config(dict(train_cfg=train_cfg)))
    assert str(error.value) == message


@pytest.mark.parametrize('train_cfg', [
    None,
    dict(by_epoch=True, max_epochs=1, val_interval=1),
    dict(type='IterBasedTrainLoop', max_iters=1),
])
def test_valid_or_absent_training_length_passes(train_cfg):
    check_train_loop(Config(dict(train_cfg=train_cfg)))


def test_build_runner_checks_the_options_first(cls_demo, tmp_path):
    cfg = Config.fromfile(cls_demo)
    cfg.work_dir = str(tmp_path / 'work_dir')
    cfg.merge_from_dict({'train_cfg.val_interval': 0})
    with pytest.raises(ValueError, match='train_cfg.val_interval must be'):
        build_runner(cfg)
    assert not (tmp_path / 'work_dir').exists()
