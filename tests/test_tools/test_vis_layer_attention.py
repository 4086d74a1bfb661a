"""tools/visualization/vis_layer_attention.py: the figure and the numbers
of the layer attention of a classifier's or a detector's backbone, on a
folder of images (run in this process, as ``python tools/...``)."""
import json
import os.path as osp
import runpy
import sys

import matplotlib.image
import pytest
import torch

from mmdla.analysis import build_model, load_config
from mmdla.datasets import generate_shapes_cls
from mmdla.engine import CheckpointMismatchError

DLA_B = {'model.backbone.variant': 'base'}
DLA_B_ARGS = ['--cfg-options', 'model.backbone.variant=base']


@pytest.fixture
def vis_layer_attention(repo_root, monkeypatch):
    """Run the tool with arguments as ``__main__``."""
    path = osp.join(repo_root, 'tools', 'visualization',
                    'vis_layer_attention.py')

    def run(*args):
        monkeypatch.setattr(sys, 'argv', [path, *map(str, args)])
        runpy.run_path(path, run_name='__main__')

    return run


@pytest.fixture(scope='module')
def shapes_images(tmp_path_factory) -> str:
    """A folder of 5 validation images of the shape classification set, in
    class sub-folders."""
    root = str(tmp_path_factory.mktemp('data') / 'shapes_cls')
    generate_shapes_cls(root, num_train=1, num_val=5)
    return osp.join(root, 'val')


def _random_checkpoint(config, path, cfg_options=None) -> dict:
    """Save the freshly initialised weights of a config's model; return
    its state dict."""
    cfg = load_config(config, cfg_options)
    torch.manual_seed(0)
    model = build_model(cfg)
    model.init_weights()
    state = model.state_dict()
    torch.save(dict(state_dict=state), path)
    return state


def _numbers(tmp_path, run, *args) -> dict:
    out, numbers = tmp_path / 'figure.png', tmp_path / 'numbers.json'
    run(*args, '--out', out, '--json', numbers)
    height, width, _ = matplotlib.image.imread(out).shape
    assert height > 400 and width > 600
    return json.loads(numbers.read_text())


def test_dla_light_classifier(cls_demo, shapes_images, tmp_path,
                              vis_layer_attention, capsys):
    checkpoint = tmp_path / 'dla_l.pth'
    state = _random_checkpoint(cls_demo, checkpoint)
    numbers = _numbers(tmp_path, vis_layer_attention, cls_demo, checkpoint,
                       shapes_images, '--batch-size', 2)
    assert numbers['num_images'] == 5
    assert numbers['checkpoint'] == str(checkpoint)
    stages = numbers['stages']
    assert [(s['name'], s['step'], s['channels'], s['num_heads'])
            for s in stages] == [('layer1', 'DLALightStep', 64, 2),
                                 ('layer2', 'DLALightStep', 128, 4),
                                 ('layer3', 'DLALightStep', 256, 8)]
    for stage in stages:
        assert len(stage['blocks']) == 2  # depth 20 = 9 * 2 + 2
        for index, block in enumerate(stage['blocks']):
            assert len(block['head_gates']) == stage['num_heads']
            assert len(block['update_gate']) == stage['channels']
            for gates in (block['head_gates'], block['update_gate']):
                assert all(0 < g < 1 for g in gates)
            lam = state[f'backbone.{stage["name"]}.layer_attention.'
                        f'attentions.{index}.lambda_t']
            assert block['lambda'] == pytest.approx(lam.flatten().tolist())
            assert block['branch_ratio'] > 0
    out = capsys.readouterr().out
    assert 'layer3 (DLALightStep, 256 channels, 8 heads)' in out
    assert out.count('  block ') == 6


def test_dla_base_classifier(cls_demo, shapes_images, tmp_path,
                             vis_layer_attention):
    checkpoint = tmp_path / 'dla_b.pth'
    _random_checkpoint(cls_demo, checkpoint, DLA_B)
    numbers = _numbers(tmp_path, vis_layer_attention, cls_demo, checkpoint,
                       shapes_images, '--max-images', 3, *DLA_B_ARGS)
    assert numbers['num_images'] == 3
    for stage in numbers['stages']:
        assert stage['step'] == 'DLABaseStep'
        for index, block in enumerate(stage['blocks']):
            assert set(block) == {'attention_weights', 'branch_ratio'}
            weights = torch.tensor(
                block['attention_weights'], dtype=torch.float64)
            # block t attends to blocks 0..t, per head; softmax over blocks
            assert weights.shape == (index + 1, stage['num_heads'])
            assert (weights > 0).all() and (weights <= 1).all()
            torch.testing.assert_close(
                weights.sum(0),
                torch.ones(stage['num_heads'], dtype=torch.float64),
                atol=1e-6,
                rtol=0)


def test_detector_backbone(faster_rcnn_demo, tiny_shapes_coco, tmp_path,
                           vis_layer_attention):
    checkpoint = tmp_path / 'faster_rcnn.pth'
    _random_checkpoint(faster_rcnn_demo, checkpoint)
    numbers = _numbers(tmp_path, vis_layer_attention, faster_rcnn_demo,
                       checkpoint, tiny_shapes_coco + 'val', '--batch-size', 2)
    assert numbers['num_images'] == 4
    # half-width ResNet-18: 4 stages of 2 blocks, 32 to 256 channels
    assert [(s['name'], s['channels'], len(s['blocks']))
            for s in numbers['stages']] == [('layer1', 32, 2),
                                            ('layer2', 64, 2),
                                            ('layer3', 128, 2),
                                            ('layer4', 256, 2)]


def test_a_checkpoint_of_another_variant_is_refused(cls_demo, shapes_images,
                                                    tmp_path,
                                                    vis_layer_attention):
    checkpoint = tmp_path / 'dla_l.pth'
    _random_checkpoint(cls_demo, checkpoint)
    with pytest.raises(CheckpointMismatchError, match='variant'):
        vis_layer_attention(cls_demo, checkpoint, shapes_images, *DLA_B_ARGS)


def test_a_folder_without_images_is_refused(cls_demo, tmp_path,
                                            vis_layer_attention):
    checkpoint = tmp_path / 'dla_l.pth'
    _random_checkpoint(cls_demo, checkpoint)
    (tmp_path / 'empty').mkdir()
    with pytest.raises(FileNotFoundError, match='No images'):
        vis_layer_attention(cls_demo, checkpoint, tmp_path / 'empty')
