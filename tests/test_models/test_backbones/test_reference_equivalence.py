"""Equivalence with the authors' reference implementation.

The golden logits and key lists in ``tests/data/reference`` were produced by
the reference code; the models here are built by mmdla and loaded through
the checkpoint converter. The converted models reproduce the reference
logits to a relative error (L2 norm) below 1e-6 (measured: 3e-7 to 4.4e-7).
"""
import ast
from pathlib import Path

import pytest
import torch
from mmengine.registry import init_default_scope

from mmdla.converters import convert_official_state_dict

REFERENCE = Path(__file__).parents[2] / 'data' / 'reference'


def build_classifier(backbone: dict, num_classes: int, in_channels: int):
    from mmpretrain.models import ImageClassifier
    init_default_scope('mmpretrain')
    return ImageClassifier(
        backbone=backbone,
        neck=dict(type='GlobalAveragePooling'),
        head=dict(
            type='LinearClsHead',
            num_classes=num_classes,
            in_channels=in_channels))


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).norm() / b.norm()).item()


@pytest.mark.parametrize('variant', ['light', 'base'])
def test_golden_logits(variant):
    golden = torch.load(
        REFERENCE / f'cifar_dla_{variant[0]}_bottleneck56_c100.pth',
        weights_only=True)
    state_dict = convert_official_state_dict(golden['state_dict'])
    logits = {}
    for legacy in (False, True):
        model = build_classifier(
            dict(
                type='mmdla.ResNetDLACifar',
                depth=56,
                variant=variant,
                legacy_batch0_context=legacy), 100, 256)
        model.load_state_dict(state_dict, strict=True)
        model.eval()
        with torch.no_grad():
            logits[legacy] = model(golden['input'], mode='tensor')
    assert relative_error(logits[False], golden['logits_per_sample']) < 1e-6
    assert relative_error(logits[True], golden['logits_batched']) < 1e-6
    # The two reference modes differ by more than the tolerance, so the
    # checks above tell them apart.
    assert relative_error(golden['logits_batched'],
                          golden['logits_per_sample']) > 2e-4


def read_keys(name: str) -> dict:
    keys = {}
    for line in (REFERENCE / f'{name}.tsv').read_text().splitlines():
        key, shape = line.split('\t')
        keys[key] = torch.zeros(ast.literal_eval(shape))
    return keys


@pytest.mark.parametrize('name,backbone,num_classes,in_channels', [
    ('imagenet_resnet50_dla_l', dict(type='mmdla.ResNetDLA',
                                     depth=50), 1000, 2048),
    ('imagenet_resnet101_dla_l', dict(type='mmdla.ResNetDLA',
                                      depth=101), 1000, 2048),
    ('cifar_dla_l_bottleneck56_c100',
     dict(type='mmdla.ResNetDLACifar', depth=56), 100, 256),
    ('cifar_dla_b_bottleneck56_c100',
     dict(type='mmdla.ResNetDLACifar', depth=56, variant='base'), 100, 256),
])
def test_converter_accounts_for_every_key(name, backbone, num_classes,
                                          in_channels):
    reference = read_keys(name)
    # DataParallel checkpoints carry a ``module.`` prefix.
    prefixed = {f'module.{k}': v for k, v in reference.items()}
    model = build_classifier(backbone, num_classes, in_channels)
    for state_dict in (reference, prefixed):
        converted = convert_official_state_dict(state_dict)
        assert len(converted) == len(reference)
        model.load_state_dict(converted, strict=True)
        for key, value in converted.items():
            assert model.state_dict()[key].shape == value.shape, key


def test_converter_rejects_unknown_layout():
    state_dict = read_keys('cifar_dla_l_bottleneck56_c100')
    state_dict['stages.0.gate.weight'] = torch.zeros(1)
    state_dict['classifier.weight'] = torch.zeros(1)
    with pytest.raises(KeyError, match='stages.0.gate.weight') as err:
        convert_official_state_dict(state_dict)
    assert 'classifier.weight' in str(err.value)


def test_converter_tool(tmp_path, repo_root, run_tool):
    """The command-line converter turns a reference training checkpoint
    (DataParallel prefix) into a checkpoint that reproduces the logits."""
    import sys
    golden = torch.load(
        REFERENCE / 'cifar_dla_l_bottleneck56_c100.pth', weights_only=True)
    src, dst = tmp_path / 'reference.pth', tmp_path / 'out' / 'mmdla.pth'
    torch.save(
        {
            'epoch': 180,
            'state_dict': {
                f'module.{k}': v
                for k, v in golden['state_dict'].items()
            }
        }, src)
    tool = Path(repo_root) / 'tools' / 'model_converters' / \
        'dla_official_to_mmdla.py'
    result = run_tool([sys.executable, str(tool), str(src), str(dst)],
                      cwd=repo_root)
    assert result.returncode == 0, result.stdout
    model = build_classifier(
        dict(type='mmdla.ResNetDLACifar', depth=56), 100, 256)
    state_dict = torch.load(dst, weights_only=True)['state_dict']
    model.load_state_dict(state_dict, strict=True)
    with torch.no_grad():
        logits = model.eval()(golden['input'], mode='tensor')
    assert relative_error(logits, golden['logits_per_sample']) < 1e-6
