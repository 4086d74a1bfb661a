"""Starting DLA backbones from plain ResNet weights.

``zero_init_attention=True`` starts every layer attention at identity, so
that a backbone initialised from a torchvision ResNet computes exactly that
ResNet; the checkpoint of an ``init_cfg=dict(type='Pretrained', ...)`` is
loaded by the backbone, which reports one line and rejects checkpoints that
do not fit. The checkpoints are randomly initialised torchvision ResNets
with random norm statistics, saved to temporary files (no download).
"""
import copy
import logging
from typing import Dict, List, Tuple

import pytest
import torch
import torch.nn as nn
import torchvision
from mmengine.logging import MMLogger

from mmdla.models import ResNetDLA, ResNetDLACifar

STEPS = ['DLALightStep', 'DLABaseStep', 'MRLALightStep', 'MRLABaseStep']


@pytest.fixture(scope='module')
def resnet18_checkpoint(torchvision_resnet) -> Tuple[nn.Module, str]:
    """A random torchvision ResNet-18 and the file of its state dict, in
    torchvision's layout (``fc.*`` included)."""
    return torchvision_resnet(18, seed=0)


class LogRecords(logging.Handler):
    """Collects the records of INFO and above."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: List[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def log_records(tmp_path):
    """The records that the current MMEngine logger emits during a test.

    A file handler is added as in a runner, so that MMEngine writes the
    initialisation details of every parameter to the file and not as log
    records."""
    logger = MMLogger.get_current_instance()
    handlers = [LogRecords(), logging.FileHandler(tmp_path / 'log.txt')]
    for handler in handlers:
        logger.addHandler(handler)
    yield handlers[0].records
    for handler in handlers:
        logger.removeHandler(handler)
        handler.close()


def backbone(checkpoint: str, prefix=None, **kwargs) -> ResNetDLA:
    kwargs.setdefault('depth', 18)
    return ResNetDLA(
        out_indices=(0, 1, 2, 3),
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint, prefix=prefix),
        **kwargs)


@pytest.mark.parametrize(
    'step', STEPS + [
        dict(type='DLALightStep', context_cell='lstm'),
        dict(type='DLABaseStep', context_cell='gru')
    ])
def test_identity_start_computes_the_resnet(step, resnet18_checkpoint,
                                            torchvision_stages):
    resnet, path = resnet18_checkpoint
    resnet = copy.deepcopy(resnet)  # its statistics change in train mode
    model = backbone(path, layer_attention=step, zero_init_attention=True)
    model.init_weights()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        for mode in (False, True):  # eval: running statistics, train: batch
            resnet.train(mode)
            model.train(mode)
            for out, ref in zip(model(x), torchvision_stages(resnet, x)):
                assert torch.equal(out, ref)


@pytest.mark.parametrize('prefix, layout', [
    (None, 'torchvision'),
    ('backbone.', 'torchvision'),
    ('backbone.', 'mmpretrain'),
    (None, 'mmdet'),
    ('backbone.', 'ddp'),
])
def test_loads_resnet_layouts_and_reports_one_line(prefix, layout, tmp_path,
                                                   resnet18_checkpoint,
                                                   log_records):
    resnet, _ = resnet18_checkpoint
    state_dict = resnet.state_dict()
    ignored = ['fc.bias', 'fc.weight']
    if layout == 'mmpretrain':  # an ImageClassifier: backbone and head
        state_dict = {f'backbone.{k}': v for k, v in state_dict.items()}
        state_dict = {
            k.replace('backbone.fc.', 'head.fc.'): v
            for k, v in state_dict.items()
        }
        ignored = []
    elif layout == 'mmdet':  # a detector whose backbone has no fc
        state_dict = {
            f'backbone.{k}': v
            for k, v in state_dict.items() if not k.startswith('fc.')
        }
        state_dict['neck.lateral_convs.0.conv.weight'] = torch.zeros(1)
        ignored = []
    elif layout == 'ddp':
        state_dict = {f'module.{k}': v for k, v in state_dict.items()}
    path = tmp_path / 'checkpoint.pth'
    torch.save(dict(state_dict=state_dict, meta=dict(epoch=1)), path)
    model = backbone(
        str(path), prefix, zero_init_attention=True, frozen_stages=1)
    model.init_weights()

    expected = {k: v for k, v in resnet.state_dict().items() if 'fc.' not in k}
    own = model.state_dict()
    for key, value in expected.items():
        assert torch.equal(own[key], value), key
    messages = [r.getMessage() for r in log_records]
    assert len(messages) == 1, messages
    assert log_records[0].levelno == logging.INFO
    ignored_text = (f', ignored 2 not in the backbone ({", ".join(ignored)})'
                    if ignored else '')
    assert messages[0] == (
        f'ResNetDLA-18: loaded {len(expected)} tensors (the ResNet) from '
        f'{path}{ignored_text}; layer attention of layer1-layer4 '
        "(DLALightStep, 8 blocks) starts at identity: the backbone computes "
        "the checkpoint's ResNet; frozen: stem, layer1.")


def test_resnet_without_identity_start_warns(resnet18_checkpoint, log_records):
    _, path = resnet18_checkpoint
    model = backbone(path)
    model.init_weights()
    record, = log_records
    assert record.levelno == logging.WARNING
    assert ('layer attention of layer1-layer4 (DLALightStep, 8 blocks) is '
            'not in the checkpoint and keeps its random initialisation; '
            'zero_init_attention=True would start it at identity'
            ) in record.getMessage()


def dla_checkpoint(tmp_path, **kwargs) -> Tuple[ResNetDLA, str]:
    """A random DLA ResNet-18 saved as an MMPretrain classifier."""
    torch.manual_seed(1)
    source = ResNetDLA(depth=18, **kwargs)
    with torch.no_grad():
        for value in source.state_dict().values():
            if value.is_floating_point():
                value.uniform_(0.5, 1.5)
    path = tmp_path / 'dla.pth'
    torch.save(
        dict(state_dict={
            f'backbone.{k}': v
            for k, v in source.state_dict().items()
        }), path)
    return source, str(path)


def test_dla_checkpoint_loads_with_its_attention(tmp_path, log_records):
    source, path = dla_checkpoint(tmp_path, variant='base')
    model = backbone(path, 'backbone.', variant='base')
    model.init_weights()
    for key, value in source.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key
    assert log_records[0].getMessage() == (
        f"ResNetDLA-18: loaded {len(source.state_dict())} tensors (the ResNet "
        f"and its layer attention) from {path}; layer attention of "
        'layer1-layer4 (DLABaseStep, 8 blocks) loaded.')


def test_identity_start_replaces_loaded_attention(tmp_path, log_records):
    source, path = dla_checkpoint(tmp_path)
    model = backbone(path, 'backbone.', zero_init_attention=True)
    model.init_weights()
    assert log_records[0].levelno == logging.WARNING
    assert (
        'starts at identity (zero_init_attention=True replaces the '
        'loaded one; set it False to keep it)') in log_records[0].getMessage()
    norm = model.layer2.layer_attention.norms[1]
    assert not norm.weight.any() and not norm.bias.any()
    kernel = 'layer2.layer_attention.update_kernel'
    assert torch.equal(model.state_dict()[kernel], source.state_dict()[kernel])


@pytest.mark.parametrize('source_kwargs, kwargs, kind', [
    (dict(variant='base'), dict(), 'DLABaseStep'),
    (dict(), dict(variant='base'), 'DLALightStep'),
    (dict(), dict(dual_path=False), 'DLALightStep'),
    (dict(dual_path=False), dict(), 'MRLALightStep'),
])
def test_dla_checkpoint_of_another_kind_is_rejected(source_kwargs, kwargs,
                                                    kind, tmp_path):
    _, path = dla_checkpoint(tmp_path, **source_kwargs)
    model = backbone(path, 'backbone.', **kwargs)
    with pytest.raises(ValueError) as error:
        model.init_weights()
    message = str(error.value)
    assert f"holds layer attention that does not fit the backbone's " \
           f'{model.attention_step_name()}: it looks like {kind}' in message
    assert f"Build the backbone with layer_attention='{kind}'" in message
    assert 'torchvision://resnet50) with zero_init_attention=True' in message


def test_resnet_of_another_depth_is_rejected(tmp_path):
    path = tmp_path / 'resnet34.pth'
    torch.save(torchvision.models.resnet34(weights=None).state_dict(), path)
    with pytest.raises(ValueError) as error:
        backbone(str(path)).init_weights()
    assert str(error.value) == (
        f'{path} holds a ResNet-34 (BasicBlock blocks, (3, 4, 6, 3) per '
        'stage), the backbone is a ResNet-18 (BasicBlock blocks, (2, 2, 2, 2) '
        'per stage): pass a ResNet-18 checkpoint (e.g. '
        'torchvision://resnet18), or build the backbone with depth=34.')


def test_resnet_of_another_width_is_rejected(resnet18_checkpoint):
    _, path = resnet18_checkpoint
    with pytest.raises(
            ValueError,
            match=r'does not fit the backbone: \d+ '
            r'tensors have other shapes: layer1\.0\.conv1\.weight '
            r'\(64, 64, 3, 3\) \(backbone: \(32, 64, 3, 3\)\)'):
        backbone(path, base_channels=32).init_weights()


@pytest.mark.parametrize('content, message', [
    (b'not a checkpoint\n', 'is not a PyTorch checkpoint (torch.load: '),
    (None, 'holds no state dict of tensors (it holds a list)'),
    ({
        'head.fc.weight': torch.zeros(2)
    }, "cannot find a ResNet backbone in {path}: it has no "
     "'layer1.0.conv1.weight' under any prefix (first keys: head.fc.weight)"),
])
def test_file_that_is_not_a_resnet_checkpoint_is_rejected(
        content, message, tmp_path):
    path = tmp_path / 'file.pth'
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        torch.save(content if content is not None else [1, 2], path)
    with pytest.raises(ValueError) as error:
        backbone(str(path)).init_weights()
    assert message.format(path=path) in str(error.value)
    assert 'init_cfg' in str(error.value)


def test_missing_checkpoint_is_rejected(tmp_path):
    path = tmp_path / 'epoch_100.pth'
    with pytest.raises(ValueError) as error:
        backbone(str(path)).init_weights()
    assert str(error.value) == (
        f'checkpoint {path} not found (relative paths start at the working '
        'directory); pass an existing file or URL as init_cfg.checkpoint '
        '(e.g. --cfg-options model.backbone.init_cfg.checkpoint=PATH).')


def dla_parameters(model: nn.Module) -> Dict[str, nn.Parameter]:
    return {
        name: param
        for name, param in model.named_parameters()
        if '.layer_attention.' in name
    }


def gradients(model: nn.Module, x: torch.Tensor,
              weights: List[torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Gradients of the DLA parameters of a fixed random linear function of
    the stage outputs."""
    model.zero_grad()
    loss = sum((out * w).mean() for out, w in zip(model(x), weights))
    loss.backward()
    return {
        name: torch.zeros_like(p) if p.grad is None else p.grad.clone()
        for name, p in dla_parameters(model).items()
    }


@pytest.mark.parametrize(
    'step', STEPS + [
        dict(type='DLALightStep', context_cell='lstm'),
        dict(type='DLABaseStep', context_cell='gru')
    ])
def test_identity_start_trains_every_attention_parameter(step):
    torch.manual_seed(0)
    kwargs = dict(
        depth=14, block='basic', out_indices=(0, 1, 2), layer_attention=step)
    plain = ResNetDLACifar(**kwargs)
    plain.init_weights()
    model = ResNetDLACifar(zero_init_attention=True, **kwargs)
    model.load_state_dict(plain.state_dict())
    model.init_weights()
    x = torch.randn(2, 3, 16, 16)
    weights = [
        torch.randn(2, c, s, s) for c, s in ((16, 16), (32, 8), (64, 4))
    ]

    # the parameters that the function depends on without identity start
    trainable = {
        name
        for name, grad in gradients(plain, x, weights).items() if grad.any()
    }
    norms = {name for name in dla_parameters(model) if '.norms.' in name}
    assert norms < trainable

    # the first backward pass reaches only the attention norms
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    first = gradients(model, x, weights)
    assert {name for name, grad in first.items() if grad.any()} == norms

    # after the first optimiser step, every parameter that trains without
    # the identity start receives its gradient
    optimizer.step()
    second = gradients(model, x, weights)
    assert {name for name, grad in second.items() if grad.any()} == trainable


def test_identity_start_without_affine_norms_is_rejected():
    model = ResNetDLACifar(
        depth=20,
        block='basic',
        zero_init_attention=True,
        layer_attention=dict(
            type='DLALightStep', norm_cfg=dict(type='BN', affine=False)))
    with pytest.raises(
            ValueError,
            match='no affine weight and bias to zero '
            'for an identity start; build them with affine=True'):
        model.init_weights()
