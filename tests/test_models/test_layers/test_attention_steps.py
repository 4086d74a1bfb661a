"""Layer attention steps are chosen by name through mmdla's registry."""
import pytest
import torch
import torch.nn as nn

from mmdla.models import (DLABaseStep, DLALightStep, GRUContextCell,
                          LayerAttentionStep, MRLABaseStep, MRLALightStep,
                          ResNetDLACifar)
from mmdla.registry import MODELS


class ShortcutNormStep(LayerAttentionStep):
    """A user's step: ``x + Norm_t(r_t) * scale``; counts its blocks."""

    def __init__(self,
                 channels: int,
                 num_blocks: int,
                 scale: float,
                 head_dim: int = 1,
                 norm_cfg: dict = dict(type='BN'),
                 init_cfg=None) -> None:
        super().__init__(channels, num_blocks, norm_cfg, init_cfg=init_cfg)
        self.scale = scale
        self.head_dim = head_dim

    def forward(self, index, x, shortcut, carry):
        seen = 0 if carry is None else carry
        return x + self.norms[index](shortcut) * self.scale, seen + 1


@pytest.fixture
def registered_user_step():
    MODELS.register_module(module=ShortcutNormStep)
    yield 'ShortcutNormStep'
    MODELS.module_dict.pop('ShortcutNormStep')


def test_a_registered_step_is_built_by_name(registered_user_step):
    model = ResNetDLACifar(
        depth=20,
        block='basic',
        layer_attention=dict(type=registered_user_step, scale=0.5),
        head_dim=8,  # named by the step: passed
        norm_cfg=dict(type='GN', num_groups=4))
    step = model.layer2.layer_attention
    assert isinstance(step, ShortcutNormStep)
    assert (step.channels, step.num_blocks, step.head_dim) == (32, 3, 8)
    assert isinstance(step.norms[0], nn.GroupNorm)
    model.eval()
    x = torch.randn(2, 16, 8, 8)
    stage = model.layer1
    expected = x
    for index, block in enumerate(stage.blocks):
        out, shortcut = block(expected)
        expected = out + stage.layer_attention.norms[index](shortcut) * 0.5
    with torch.no_grad():
        torch.testing.assert_close(stage(x), expected)
    # an option set on the backbone that the step does not take
    with pytest.raises(ValueError,
                       match='ShortcutNormStep does not take lambda_init=0.5'):
        ResNetDLACifar(
            depth=20,
            block='basic',
            layer_attention=dict(type=registered_user_step, scale=0.5),
            lambda_init=0.5)


def test_steps_of_the_shorthands():
    model = ResNetDLACifar(depth=20, block='basic')
    assert type(model.layer1.layer_attention) is DLALightStep
    for kwargs, step_type in [(dict(variant='base'), DLABaseStep),
                              (dict(dual_path=False), MRLALightStep),
                              (dict(variant='base',
                                    dual_path=False), MRLABaseStep)]:
        model = ResNetDLACifar(depth=20, block='basic', **kwargs)
        assert type(model.layer3.layer_attention) is step_type


def test_step_rejects_drop_path_rate_out_of_range():
    with pytest.raises(ValueError, match='drop_path_rate'):
        MRLABaseStep(16, 2, drop_path_rate=1.5)


def test_dla_step_builds_a_user_cell_with_the_same_arguments():
    """A cell without ``reduction`` gets only ``channels``; the DSU gets
    ``dsu_reduction``."""
    step = DLABaseStep(64, 2, context_cell='gru', dsu_reduction=4)
    assert isinstance(step.context_cell, GRUContextCell)
    assert step.context_cell.channels == 64
    step = DLALightStep(64, 2, dsu_reduction=4)
    assert step.context_cell.input_transform[0].out_features == 16
    assert DLALightStep(64, 2).context_cell.input_transform[
        0].out_features == 4  # the DSU's own default, 16
