"""Statistics of the layer attention of a backbone, averaged over images."""
import pytest
import torch

from mmdla.analysis import format_summary, layer_attention_stats
from mmdla.models import ResNetDLACifar
from mmdla.visualization import layer_attention_figure


def _backbone(**kwargs) -> ResNetDLACifar:
    torch.manual_seed(0)
    backbone = ResNetDLACifar(depth=20, head_dim=8, **kwargs)
    backbone.init_weights()
    return backbone.eval()


def _images(num: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(
        num, 3, 16, 16, generator=torch.Generator().manual_seed(seed))


def test_dla_light_stats_structure_and_ranges():
    backbone = _backbone()
    stats = layer_attention_stats(backbone, [_images(3), _images(2, seed=1)])
    assert stats['num_images'] == 5
    assert [s['name']
            for s in stats['stages']] == ['layer1', 'layer2', 'layer3']
    for stage, channels in zip(stats['stages'], (64, 128, 256)):
        assert stage['step'] == 'DLALightStep'
        assert (stage['channels'], stage['num_heads']) == (channels,
                                                           channels // 8)
        assert len(stage['blocks']) == 2
        attentions = backbone.get_submodule(
            stage['name']).layer_attention.attentions
        for block, attention in zip(stage['blocks'], attentions):
            assert set(block) == {
                'head_gates', 'lambda', 'update_gate', 'branch_ratio'
            }
            assert len(block['head_gates']) == channels // 8
            assert len(block['update_gate']) == channels
            # sigmoids of finite logits
            for gates in (block['head_gates'], block['update_gate']):
                assert all(0 < g < 1 for g in gates)
            assert block['lambda'] == attention.lambda_t.flatten().tolist()
            assert block['branch_ratio'] > 0


def test_dla_base_weights_cover_the_blocks_so_far_and_sum_to_one():
    stats = layer_attention_stats(_backbone(variant='base'), [_images(2)])
    for stage in stats['stages']:
        for index, block in enumerate(stage['blocks']):
            assert set(block) == {'attention_weights', 'branch_ratio'}
            weights = torch.tensor(
                block['attention_weights'], dtype=torch.float64)
            assert weights.shape == (index + 1, stage['num_heads'])
            assert (weights > 0).all()
            torch.testing.assert_close(
                weights.sum(0),
                torch.ones(stage['num_heads'], dtype=torch.float64),
                atol=1e-6,
                rtol=0)


def test_means_are_over_images_whatever_the_batches():
    backbone = _backbone()
    images = _images(4)
    together = layer_attention_stats(backbone, [images])
    apart = layer_attention_stats(backbone, images.split(1))
    singles = [
        layer_attention_stats(backbone, [image[None]]) for image in images
    ]
    for key in ('head_gates', 'update_gate', 'branch_ratio'):
        got = torch.tensor(together['stages'][1]['blocks'][1][key])
        mean = torch.tensor([
            single['stages'][1]['blocks'][1][key] for single in singles
        ]).mean(0)
        torch.testing.assert_close(got, mean)
        torch.testing.assert_close(
            torch.tensor(apart['stages'][1]['blocks'][1][key]), mean)


def test_branch_ratio_scales_with_the_attention_norm():
    # scaling the affine part of the attention norm of the last block of a
    # stage scales that block's attention branch (eval mode, DLA-L:
    # x + Norm(o)) and leaves the output of the block itself unchanged
    backbone = _backbone()
    before = layer_attention_stats(backbone, [_images(2)])
    norm = backbone.layer2.layer_attention.norms[1]
    with torch.no_grad():
        norm.weight.mul_(3)
        norm.bias.mul_(3)
    after = layer_attention_stats(backbone, [_images(2)])
    before, after = ([[block['branch_ratio'] for block in stage['blocks']]
                      for stage in stats['stages']]
                     for stats in (before, after))
    assert after[1][1] == pytest.approx(3 * before[1][1], rel=1e-5)
    assert after[0] == pytest.approx(before[0])
    assert after[1][0] == pytest.approx(before[1][0])


def test_zero_attention_norm_gives_a_zero_branch():
    backbone = _backbone()
    with torch.no_grad():
        for norm in backbone.layer3.layer_attention.norms:
            norm.weight.zero_()
            norm.bias.zero_()
    stats = layer_attention_stats(backbone, [_images(2)])
    assert [b['branch_ratio'] for b in stats['stages'][2]['blocks']] == [0, 0]


def test_a_backbone_without_layer_attention_is_refused():
    with pytest.raises(ValueError, match='no layer attention'):
        layer_attention_stats(torch.nn.Conv2d(3, 3, 1), [_images(1)])


def test_a_backbone_in_training_mode_is_refused():
    with pytest.raises(ValueError, match=r'backbone\.eval\(\)'):
        layer_attention_stats(_backbone().train(), [_images(1)])


def test_no_images_is_refused():
    with pytest.raises(ValueError, match='No images'):
        layer_attention_stats(_backbone(), [])


def test_hooks_are_removed_after_collecting():
    backbone = _backbone()
    layer_attention_stats(backbone, [_images(1)])
    assert not backbone.layer1.layer_attention._forward_hooks


@pytest.mark.parametrize('variant,rows', [('light', 4), ('base', 2)])
def test_figure_and_summary_show_every_stage(variant, rows):
    stats = layer_attention_stats(_backbone(variant=variant), [_images(1)])
    figure = layer_attention_figure(stats, title='demo')
    axes = figure.get_axes()
    panels = [ax for ax in axes if ax.get_title()]
    assert len(panels) == 3 * rows
    assert {ax.get_ylabel() for ax in panels} == {'block'}
    step = 'DLALightStep' if variant == 'light' else 'DLABaseStep'
    assert figure.get_suptitle() == f'demo ({step}): mean over 1 image'
    summary = format_summary(stats).splitlines()
    assert len(summary) == 1 + 3 * (1 + 2)
    assert ('a_t' in summary[2]) == (variant == 'light')
    assert ('weights over blocks' in summary[2]) == (variant == 'base')
