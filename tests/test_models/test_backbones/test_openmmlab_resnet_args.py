"""Arguments that MMDetection's and MMSegmentation's ResNet bases pass.

The deprecated ``pretrained`` (which mmseg's ``EncoderDecoder`` passes on to
its backbone), ``contract_dilation`` of the dilated ``-d8`` models, SyncBN
reaching the attention norms, and the deep stem of ``ResNetV1c`` in
MMSegmentation's naming (``open-mmlab://resnet50_v1c``).
"""
from typing import Tuple

import pytest
import torch
import torch.nn as nn
from mmseg.models.backbones import ResNetV1c

from mmdla.models import ResNetDLA, ResNetDLACifar
from mmdla.models.backbones.resnet_dla import DEFAULT_INIT_CFG


def randomise_norms(model: nn.Module) -> None:
    """Draw the statistics and affine parameters of every BatchNorm, so
    that a norm left out by a load would show."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.normal_(0, 0.1)
                module.running_var.uniform_(0.5, 2)
                module.weight.uniform_(0.5, 1.5)
                module.bias.normal_(0, 0.1)


@pytest.fixture(scope='module')
def resnet18_v1c(tmp_path_factory) -> Tuple[nn.Module, str]:
    """mmseg's ResNetV1c-18 in eval mode with random weights, and the file
    of its state dict (the deep stem as ``stem.0.weight``, ``stem.1.*``
    ...)."""
    torch.manual_seed(0)
    model = ResNetV1c(depth=18)
    randomise_norms(model)
    path = tmp_path_factory.mktemp('v1c') / 'resnet18_v1c.pth'
    torch.save(model.state_dict(), path)
    model.eval()  # mmseg's ResNet.train returns None
    return model, str(path)


@pytest.mark.parametrize('backbone_cls, depth', [(ResNetDLA, 18),
                                                 (ResNetDLACifar, 20)])
def test_pretrained_becomes_init_cfg(backbone_cls, depth):
    with pytest.warns(DeprecationWarning, match='pretrained.*deprecated'):
        backbone = backbone_cls(
            depth, block='basic', pretrained='checkpoints/resnet.pth')
    assert backbone.init_cfg == dict(
        type='Pretrained', checkpoint='checkpoints/resnet.pth')


def test_pretrained_with_init_cfg_is_refused():
    init_cfg = dict(type='Pretrained', checkpoint='torchvision://resnet18')
    with pytest.raises(ValueError) as error:
        ResNetDLA(18, pretrained='other.pth', init_cfg=init_cfg)
    message = str(error.value)
    assert "pretrained='other.pth'" in message
    assert 'init_cfg=' in message and 'torchvision://resnet18' in message
    assert 'model.pretrained=None' in message  # the fix in an mmseg config


def test_pretrained_must_be_a_path():
    with pytest.raises(TypeError, match='pretrained must be'):
        ResNetDLA(18, pretrained=True)


def test_default_init_cfg():
    first, second = ResNetDLA(18), ResNetDLA(18, pretrained=None)
    assert first.init_cfg == second.init_cfg == DEFAULT_INIT_CFG
    first.init_cfg[0]['layer'].append('Linear')
    assert second.init_cfg == DEFAULT_INIT_CFG  # not shared
    explicit = [dict(type='Constant', val=0, layer='Conv2d')]
    assert ResNetDLA(18, init_cfg=explicit).init_cfg == explicit


def test_pretrained_loads_with_identity_attention(resnet18_v1c):
    resnet, checkpoint = resnet18_v1c
    with pytest.warns(DeprecationWarning):
        backbone = ResNetDLA(
            18,
            deep_stem=True,
            out_indices=(0, 1, 2, 3),
            zero_init_attention=True,
            pretrained=checkpoint)
    backbone.init_weights()
    backbone.eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        for out, expected in zip(backbone(x), resnet(x)):
            torch.testing.assert_close(out, expected, rtol=0, atol=1e-6)


def test_mmseg_stem_needs_deep_stem(resnet18_v1c):
    _, checkpoint = resnet18_v1c
    backbone = ResNetDLA(
        18, init_cfg=dict(type='Pretrained', checkpoint=checkpoint))
    with pytest.raises(ValueError, match='deep_stem'):
        backbone.init_weights()


def test_mmpretrain_stem_layout_still_loads(resnet18_v1c, tmp_path):
    """A deep stem saved by mmdla (MMPretrain's naming) loads unchanged."""
    source = ResNetDLA(18, deep_stem=True)
    source.load_state_dict(torch.load(resnet18_v1c[1]), strict=False)
    path = str(tmp_path / 'dla18_v1c.pth')
    torch.save(source.state_dict(), path)
    target = ResNetDLA(
        18, deep_stem=True, init_cfg=dict(type='Pretrained', checkpoint=path))
    target.init_weights()
    for key, value in source.state_dict().items():
        assert torch.equal(target.state_dict()[key], value), key


@pytest.mark.parametrize(
    'depth, strides, dilations, contract_dilation',
    [(50, (1, 2, 1, 1), (1, 1, 2, 4), True),
     (50, (1, 2, 2, 1), (1, 1, 1, 2), True),
     (50, (1, 2, 1, 1), (1, 1, 2, 4), False),
     (18, (1, 2, 1, 1), (1, 1, 2, 4), True)],
    ids=['r50-d8', 'r50-d16', 'r50-d8-uncontracted', 'r18-d8'])
def test_dilations_match_mmseg(depth, strides, dilations, contract_dilation):
    kwargs = dict(
        depth=depth,
        strides=strides,
        dilations=dilations,
        contract_dilation=contract_dilation,
        out_indices=(0, 1, 2, 3))
    ours = ResNetDLA(deep_stem=True, **kwargs)
    theirs = ResNetV1c(**kwargs)
    convs = ('conv1', 'conv2') if depth == 18 else ('conv2', )
    for stage in range(1, 5):
        our_blocks = getattr(ours, f'layer{stage}').blocks
        their_blocks = list(getattr(theirs, f'layer{stage}'))
        assert len(our_blocks) == len(their_blocks)
        for index, (our, their) in enumerate(zip(our_blocks, their_blocks)):
            for conv in convs:
                a, b = getattr(our, conv), getattr(their, conv)
                where = f'layer{stage}.{index}.{conv}'
                assert (a.dilation, a.padding, a.stride) == (
                    b.dilation, b.padding, b.stride), where
    ours.eval()
    theirs.eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert [out.shape for out in ours(x)] == [
            out.shape for out in theirs(x)
        ]


def test_layer_attention_follows_norm_cfg():
    backbone = ResNetDLA(
        18, norm_cfg=dict(type='SyncBN', requires_grad=True))
    for name in backbone.res_layers:
        norms = getattr(backbone, name).layer_attention.norms
        assert all(isinstance(norm, nn.SyncBatchNorm) for norm in norms)
