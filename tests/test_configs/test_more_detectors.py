"""RetinaNet, Cascade Mask R-CNN and DINO with a DLA-L ResNet-50.

Each config is its mmdet base with the backbone swapped for
``mmdla.ResNetDLA`` (torchvision's ResNet-50 with every layer attention at
identity) and the mmdla loop, hooks and runner. Its model builds in the
mmdet scope, starts as exactly the torchvision ResNet it loads (a random
one saved to a temporary file: nothing is downloaded) and trains one
iteration on a tiny synthetic batch on the CPU, in which the optimiser
moves the attention norms of every stage but the frozen ``layer1``.
"""
import math
from pathlib import Path

import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper

from mmdla.analysis import build_model

CONFIG_DIR = Path(__file__).resolve().parents[2] / 'configs'
# config -> (its mmdet base, losses of a training step, with masks)
DETECTORS = {
    'retinanet_dla50_fpn_1x_coco.py':
    ('retinanet/retinanet_r50_fpn_1x_coco.py', ('loss_cls', 'loss_bbox'),
     False),
    'cascade_mask_rcnn_dla50_fpn_1x_coco.py':
    ('cascade_rcnn/cascade-mask-rcnn_r50_fpn_1x_coco.py',
     ('loss_rpn_cls', 's0.loss_cls', 's2.loss_bbox', 's2.loss_mask'), True),
    'cascade_mask_rcnn_dla50_fpn_ms-3x_coco.py':
    ('cascade_rcnn/cascade-mask-rcnn_r50_fpn_ms-3x_coco.py',
     ('loss_rpn_cls', 's0.loss_cls', 's2.loss_bbox', 's2.loss_mask'), True),
    'dino_4scale_dla50_12e_coco.py':
    ('dino/dino-4scale_r50_8xb2-12e_coco.py',
     ('loss_cls', 'loss_iou', 'd0.loss_bbox', 'dn_loss_cls'), False),
}
NAMES = sorted(DETECTORS)


def load(name: str) -> Config:
    return Config.fromfile(str(CONFIG_DIR / name))


def load_base(name: str, tmp_path: Path) -> Config:
    """The mmdet config that ``name`` inherits, loaded by its scoped
    name."""
    path = tmp_path / 'base.py'
    path.write_text(f"_base_ = 'mmdet::{DETECTORS[name][0]}'\n")
    return Config.fromfile(str(path))


def num_classes(model_cfg: dict) -> int:
    if 'roi_head' in model_cfg:
        return model_cfg.roi_head.bbox_head[0].num_classes
    return model_cfg.bbox_head.num_classes


def training_batch(name: str, cfg: Config, size: int) -> dict:
    """One random image of ``size`` x ``size`` with 4 boxes (and masks),
    as a data loader yields it."""
    from mmdet.testing import demo_mm_inputs
    return demo_mm_inputs(
        batch_size=1,
        image_shapes=[(3, size, size)],
        num_items=[4],
        num_classes=num_classes(cfg.model),
        with_mask=DETECTORS[name][2])


def attention_norms(model: nn.Module) -> dict:
    return {
        name: param.detach().clone()
        for name, param in model.backbone.named_parameters()
        if '.layer_attention.norms.' in name
    }


@pytest.mark.parametrize('name', NAMES)
def test_config_is_its_mmdet_base_with_a_dla_backbone(name, tmp_path):
    cfg = load(name).to_dict()
    base = load_base(name, tmp_path).to_dict()
    backbone = cfg['model'].pop('backbone')
    base_backbone = base['model'].pop('backbone')
    assert cfg['model'] == base['model']
    # the backbone: the base's arguments, DLA-L at identity on top
    assert backbone.pop('type') == 'mmdla.ResNetDLA'
    assert backbone.pop('zero_init_attention') is True
    assert backbone.pop('drop_path_rate') == 0
    if 'layer_attention' in backbone:
        assert backbone.pop('layer_attention')['type'] == 'DLALightStep'
    else:
        assert (backbone.pop('variant'), backbone.pop('dual_path')) == (
            'light', True)
    base_backbone.pop('type')
    assert backbone == base_backbone
    assert backbone['init_cfg'] == dict(
        type='Pretrained', checkpoint='torchvision://resnet50')
    # the base's loop with mmdla's type (max_epochs, val_interval kept)
    train_cfg = cfg.pop('train_cfg')
    assert train_cfg.pop('type') == 'mmdla.PreemptibleEpochBasedTrainLoop'
    base['train_cfg'].pop('type')
    assert train_cfg == base.pop('train_cfg')
    assert 'by_epoch' not in train_cfg
    hooks = cfg.pop('default_hooks')
    for key, value in base.pop('default_hooks').items():
        hooks[key].pop('type')
        value.pop('type')
        assert hooks.pop(key) == value, key
    assert hooks == dict(
        finite_loss=dict(type='mmdla.FiniteLossHook'),
        random_state=dict(type='mmdla.RandomStateHook'))
    assert cfg.pop('runner_type') == 'mmdla.SafeLoadRunner'
    env_cfg = cfg.pop('env_cfg')
    assert env_cfg['dist_cfg'].pop('timeout') == 900
    assert env_cfg == base.pop('env_cfg')
    # everything else (data, schedule, optimiser) is the base's
    assert cfg == base


def test_dino_layer_attention_trains_where_its_resnet_norms_do_not():
    cfg = load('dino_4scale_dla50_12e_coco.py')
    cfg.model.backbone.init_cfg = None
    model = build_model(cfg)
    assert model.backbone.out_indices == (1, 2, 3)
    num_attention, num_resnet = 0, 0
    for name, module in model.backbone.named_modules():
        if not isinstance(module, nn.BatchNorm2d):
            continue
        trainable = [param.requires_grad for param in module.parameters()]
        if '.layer_attention.norms.' in name:
            # frozen_stages=1 freezes layer1, its layer attention included
            num_attention += 1
            assert trainable == [not name.startswith('layer1.')] * 2, name
        else:
            # as in mmdet's DINO: norm_cfg=dict(requires_grad=False)
            num_resnet += 1
            assert trainable == [False, False], name
    assert (num_attention, num_resnet) == (16, 53)


@pytest.mark.parametrize('name', NAMES)
def test_one_training_iteration_from_the_identity_start(
        name, torchvision_resnet, torchvision_stages):
    cfg = load(name)
    resnet, checkpoint = torchvision_resnet(50, seed=50)
    cfg.model.backbone.init_cfg.checkpoint = checkpoint
    if 'num_queries' in cfg.model:
        # DINO selects its queries among the encoder's tokens: 85 for a
        # 64 x 64 image (8 x 8 + 4 x 4 + 2 x 2 + 1 x 1), 900 in the config
        cfg.model.num_queries = 64
    torch.manual_seed(0)
    model = build_model(cfg)
    model.init_weights()

    # the backbone computes the torchvision ResNet it was loaded from
    backbone = model.backbone.eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        expected = torchvision_stages(resnet, x)
        outs = backbone(x)
    assert len(outs) == len(cfg.model.backbone.out_indices)
    for out, index in zip(outs, cfg.model.backbone.out_indices):
        assert torch.equal(out, expected[index])

    # one training step moves the attention norms of layer2-4
    model.train()
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    before = attention_norms(model)
    log_vars = model.train_step(
        training_batch(name, cfg, 64), optim_wrapper)
    assert math.isfinite(log_vars['loss'].item())
    for key in DETECTORS[name][1]:
        assert key in log_vars, key
    after = attention_norms(model)
    for key, value in before.items():
        assert torch.equal(after[key], value) == key.startswith('layer1.'), key
