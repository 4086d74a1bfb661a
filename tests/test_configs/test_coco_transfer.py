"""The COCO configs start from torchvision's ResNet with the identity start.

Each backbone is initialised from a randomly initialised torchvision ResNet
of its depth, with random norm statistics, saved to a temporary file and
named through ``model.backbone.init_cfg.checkpoint`` (no download): in eval
mode it returns exactly torchvision's ``layer1`` ... ``layer4`` outputs, and
a training step of the detector then trains the layer attention.
"""
import math
from pathlib import Path
from typing import Dict, Tuple

import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import MODELS, init_default_scope

from mmdla.analysis import build_model, synthetic_batch

CONFIG_DIR = Path(__file__).resolve().parents[2] / 'configs'
# The COCO configs that start from torchvision's ResNets with the backbone
# of the R-CNN recipe (DINO's, which takes stages 2-4 with frozen norms, is
# checked in test_more_detectors.py).
TRANSFER_CONFIGS = sorted(
    p for p in CONFIG_DIR.glob('*_coco.py')
    if '-in1k-pre_' not in p.name and not p.name.startswith('dino_'))
# One config per backbone: DLA-L and DLA-B R-50, the static baseline, R-101.
BACKBONES = [
    ('faster_rcnn_dla50_fpn_1x_coco.py', {}),
    ('faster_rcnn_dla50_fpn_1x_coco.py', {
        'model.backbone.variant': 'base'
    }),
    ('faster_rcnn_mrla50_fpn_1x_coco.py', {}),
    ('faster_rcnn_dla101_fpn_1x_coco.py', {}),
]


@pytest.fixture(scope='module')
def resnets(torchvision_resnet) -> Dict[int, Tuple[nn.Module, str]]:
    """Depth -> (torchvision ResNet, file of its state dict)."""
    return {
        depth: torchvision_resnet(depth, seed=depth)
        for depth in (50, 101)
    }


def load(name: str, options: dict) -> Config:
    cfg = Config.fromfile(str(CONFIG_DIR / name))
    cfg.merge_from_dict(options)
    return cfg


@pytest.mark.parametrize('path', TRANSFER_CONFIGS, ids=lambda p: p.name)
def test_backbone_starts_from_torchvision_resnet(path):
    backbone = Config.fromfile(str(path)).model.backbone
    depth = backbone.depth
    assert backbone.init_cfg == dict(
        type='Pretrained', checkpoint=f'torchvision://resnet{depth}')
    assert backbone.zero_init_attention is True
    # checked below for one config of each backbone
    checked = [
        load(name, options).model.backbone for name, options in BACKBONES
    ]
    assert backbone in checked


@pytest.mark.parametrize(
    'name, options', BACKBONES, ids=['dla50', 'dlab50', 'mrla50', 'dla101'])
def test_backbone_computes_torchvision_resnet(name, options, resnets,
                                              torchvision_stages):
    cfg = load(name, options)
    resnet, checkpoint = resnets[cfg.model.backbone.depth]
    cfg.model.backbone.init_cfg.checkpoint = checkpoint
    init_default_scope(cfg.default_scope)
    backbone = MODELS.build(cfg.model.backbone)
    backbone.init_weights()
    backbone.eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        for out, expected in zip(backbone(x), torchvision_stages(resnet, x)):
            assert torch.equal(out, expected)


def attention_gradients(model: nn.Module, batch: dict) -> Dict[str, bool]:
    """One forward and backward pass of the detector's losses: whether each
    layer attention parameter of the backbone received a gradient."""
    model.zero_grad()
    data = model.data_preprocessor(batch, True)
    loss, log_vars = model.parse_losses(model(**data, mode='loss'))
    assert math.isfinite(log_vars['loss'].item())
    loss.backward()
    return {
        name: param.grad is not None and bool(param.grad.any())
        for name, param in model.backbone.named_parameters()
        if '.layer_attention.' in name
    }


def test_training_steps_train_the_layer_attention(resnets):
    torch.manual_seed(0)
    cfg = load('faster_rcnn_dla50_fpn_1x_coco.py',
               {'model.backbone.init_cfg.checkpoint': resnets[50][1]})
    model = build_model(cfg)
    model.init_weights()
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.02)
    batch = synthetic_batch(cfg, 1, (64, 64))
    norms = {
        name: param.detach().clone()
        for name, param in model.backbone.named_parameters()
        if '.layer_attention.norms.' in name
    }

    # first step: only the attention norms receive gradients, but those of
    # the frozen layer1 (frozen_stages=1); the optimiser moves them
    first = attention_gradients(model, batch)
    assert first == {
        name: name in norms and not name.startswith('layer1.')
        for name in first
    }
    optimizer.step()
    now = dict(model.backbone.named_parameters())
    assert all(
        torch.equal(now[name], value) == name.startswith('layer1.')
        for name, value in norms.items())

    # second step: every layer attention parameter of layer2-4. The kernels
    # read through a head's gate sigmoid(<q, k>) only receive one where the
    # gate is not saturated, which these random features do to some heads.
    second = attention_gradients(model, batch)
    gated = ('query_kernel', 'key_kernel', 'value_kernel')
    for name, received in second.items():
        if name.startswith('layer1.'):
            assert not received, name
        elif not name.endswith(gated):
            assert received, name
    for stage in ('layer2.', 'layer3.', 'layer4.'):
        assert any(received for name, received in second.items()
                   if name.startswith(stage) and name.endswith(gated))


def test_checkpoint_of_another_depth_says_what_to_pass(resnets):
    cfg = load('faster_rcnn_dla101_fpn_1x_coco.py',
               {'model.backbone.init_cfg.checkpoint': resnets[50][1]})
    init_default_scope(cfg.default_scope)
    backbone = MODELS.build(cfg.model.backbone)
    with pytest.raises(ValueError) as error:
        backbone.init_weights()
    assert str(error.value).endswith(
        'the backbone is a ResNet-101 (Bottleneck blocks, (3, 4, 23, 3) per '
        'stage): pass a ResNet-101 checkpoint (e.g. torchvision://resnet101)'
        ', or build the backbone with depth=50.')


def test_dla_checkpoint_sibling_names_the_missing_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # where no work_dirs/ exists
    cfg = load('faster_rcnn_dla50-in1k-pre_fpn_1x_coco.py', {})
    init_default_scope(cfg.default_scope)
    backbone = MODELS.build(cfg.model.backbone)
    with pytest.raises(
            ValueError,
            match='checkpoint work_dirs/dla50_8xb32_'
            'in1k/epoch_100.pth not found'):
        backbone.init_weights()
