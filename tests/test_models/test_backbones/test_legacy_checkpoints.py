"""State dicts of mmdla's first layout still load.

Until the layer attention steps, a stage held ``attentions``,
``attention_norms``, ``context_cell`` and ``shortcut_conv`` itself, the
attentions held ``query``, ``key`` (``Conv1d(1, 1, k)``) and ``value``
(depthwise ``Conv2d``) modules, and the LSTM and GRU context cells a torch
cell ``cell``; their modules had version 1.
"""
import re
from collections import OrderedDict

import pytest
import torch

from mmdla.models import ResNetDLA, ResNetDLACifar


def to_first_layout(state_dict: dict) -> OrderedDict:
    """The keys and shapes that the first layout gave the same weights."""
    old = OrderedDict()
    for key, value in state_dict.items():
        key = key.replace('.layer_attention.norms.', '.attention_norms.')
        key = key.replace('.layer_attention.', '.')
        key = key.replace('.update_kernel', '.shortcut_conv.weight')
        match = re.search(r'\.(query|key|value)_kernel$', key)
        if match:
            key = key[:match.start()] + f'.{match.group(1)}.weight'
            if match.group(1) != 'value':
                value = value.view(1, 1, -1)
        key = re.sub(r'\.context_cell\.(weight|bias)_(ih|hh)$',
                     r'.context_cell.cell.\1_\2', key)
        old[key] = value
    return old


def randomised(model: torch.nn.Module) -> torch.nn.Module:
    with torch.no_grad():
        for value in model.state_dict().values():
            if value.is_floating_point():
                value.uniform_(0.5, 1.5)
    return model


@pytest.mark.parametrize('kwargs', [
    dict(),
    dict(variant='base'),
    dict(context_cell='lstm'),
    dict(context_cell='gru', variant='base'),
    dict(dual_path=False),
])
@pytest.mark.parametrize('with_metadata', [True, False])
def test_first_layout_loads(kwargs, with_metadata):
    torch.manual_seed(0)
    source = randomised(ResNetDLACifar(depth=20, block='basic', **kwargs))
    old = to_first_layout(source.state_dict())
    assert set(old).isdisjoint(k for k in source.state_dict()
                               if 'layer_attention' in k)
    if with_metadata:  # as saved by the first layout: version 1 everywhere
        old._metadata = OrderedDict(
            (prefix, dict(version=1))
            for prefix in ('', 'layer1', 'layer2', 'layer3'))
    model = ResNetDLACifar(depth=20, block='basic', **kwargs)
    model.load_state_dict(old, strict=True)
    for key, value in source.state_dict().items():
        torch.testing.assert_close(model.state_dict()[key], value, msg=key)


def test_first_layout_initialises_a_backbone_by_prefix(tmp_path):
    """``init_cfg=Pretrained`` with a prefix (which drops the versions)."""
    torch.manual_seed(0)
    source = randomised(ResNetDLA(depth=18))
    old = to_first_layout(source.state_dict())
    path = tmp_path / 'classifier.pth'
    torch.save({'state_dict': {
        f'backbone.{k}': v
        for k, v in old.items()
    }}, path)
    model = ResNetDLA(
        depth=18,
        init_cfg=dict(
            type='Pretrained', checkpoint=str(path), prefix='backbone.'))
    model.init_weights()
    for key, value in source.state_dict().items():
        torch.testing.assert_close(model.state_dict()[key], value, msg=key)
