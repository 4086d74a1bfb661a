"""The backbones build from the registries of MMDetection and MMPretrain."""
import importlib

import pytest
import torch
from mmengine.registry import DefaultScope

from mmdla.models import MRLALightStep, ResNetDLA, ResNetDLACifar


@pytest.mark.parametrize('scope', ['mmdet', 'mmpretrain'])
def test_build_from_codebase_scope(scope):
    registry = importlib.import_module(f'{scope}.registry').MODELS
    with DefaultScope.overwrite_default_scope(scope):
        model = registry.build(
            dict(type='mmdla.ResNetDLA', depth=18, out_indices=(0, 3)))
        cifar = registry.build(
            dict(type='mmdla.ResNetDLACifar', depth=20, variant='base'))
    assert type(model) is ResNetDLA and type(cifar) is ResNetDLACifar
    outs = model.eval()(torch.rand(1, 3, 32, 32))
    assert [o.shape[1] for o in outs] == [64, 512]


def test_build_in_own_scope():
    from mmdla.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmdla'):
        model = MODELS.build(
            dict(type='ResNetDLA', depth=18, dual_path=False))
    assert type(model.layer1.layer_attention) is MRLALightStep
