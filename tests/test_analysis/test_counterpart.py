"""mmdla.analysis.counterpart: the plain ResNet a DLA model extends."""
from pathlib import Path

import pytest

from mmdla.analysis import (build_model, default_initialised, load_config,
                            plain_counterpart)

CONFIG_DIR = Path(__file__).resolve().parents[2] / 'configs'


def test_plain_counterpart_of_a_classifier_is_resnet50():
    cfg = load_config(CONFIG_DIR / 'dla50_8xb32_in1k.py')
    assert cfg.model.backbone.drop_path_rate > 0
    plain = plain_counterpart(cfg)
    backbone = plain.model.backbone
    assert backbone.type == 'mmpretrain.ResNet' and backbone.depth == 50
    assert 'variant' not in backbone and 'dual_path' not in backbone
    # ResNetDLA drops the attention branch; mmpretrain's ResNet would drop
    # its residual branches: not copied, so that like models are compared
    assert 'drop_path_rate' not in backbone
    # the DLA config itself is left untouched
    assert cfg.model.backbone.type == 'mmdla.ResNetDLA'
    model = build_model(plain)
    # torchvision's ResNet-50 size (He et al., 2016; torchvision.models)
    assert sum(p.numel() for p in model.parameters()) == 25_557_032


def test_plain_counterpart_of_a_detector_keeps_detection_settings():
    cfg = load_config(CONFIG_DIR / 'faster_rcnn_dla101_fpn_1x_coco.py')
    backbone = plain_counterpart(cfg).model.backbone
    assert backbone.type == 'mmdet.ResNet' and backbone.depth == 101
    assert backbone.frozen_stages == 1 and backbone.norm_eval is True
    assert backbone.out_indices == (0, 1, 2, 3)
    assert 'init_cfg' not in backbone  # its class default, not ImageNet
    assert 'drop_path_rate' not in backbone  # mmdet's ResNet has none


def test_plain_counterpart_of_a_cifar_model_points_to_against():
    cfg = load_config(CONFIG_DIR / 'dla110_1xb128_cifar100.py')
    with pytest.raises(ValueError, match='--against'):
        plain_counterpart(cfg)


def test_default_initialised_drops_the_pretrained_checkpoint():
    cfg = load_config(CONFIG_DIR / 'mask_rcnn_dla50_fpn_1x_coco.py')
    initialised = default_initialised(cfg)
    assert 'init_cfg' not in initialised.model.backbone
    assert cfg.model.backbone.init_cfg.type == 'Pretrained'  # untouched
    model = build_model(initialised)
    model.init_weights()  # loads no file
