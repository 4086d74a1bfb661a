"""The tools on the semantic segmentation demo config: tools/train.py trains
it (a few iterations on the tiny shapes set) and validates its mIoU;
tools/test.py evaluates the checkpoint and paints the predictions;
tools/infer.py paints the predicted masks; get_flops.py, the backbone ONNX
export and vis_layer_attention.py take the config."""
import json
import os
import os.path as osp
import runpy
import sys
from typing import List

import cv2
import numpy as np
import pytest
from PIL import Image

from mmdla.analysis import (build_model, default_input_shape, load_config,
                            synthetic_batch, task_of)
from mmdla.datasets import SEG_CLASSES
from mmdla.deployment import build_export_module


def _tiny_options(data_root: str) -> List[str]:
    """``--cfg-options`` that point the demo at the tiny set, with batch 2
    (4 iterations per epoch)."""
    return [
        '--cfg-options', *(f'{loader}.dataset.data_root={data_root}'
                           for loader in ('train_dataloader', 'val_dataloader',
                                          'test_dataloader')),
        'train_dataloader.batch_size=2', 'default_hooks.logger.interval=1'
    ]


@pytest.fixture(scope='module')
def trained(tmp_path_factory, repo_root, seg_demo, tiny_shapes_seg, run_tool):
    """The work dir, checkpoint and output of one epoch of the demo on the
    tiny set, validated at its end."""
    work_dir = tmp_path_factory.mktemp('seg_run') / 'work'
    result = run_tool([
        sys.executable,
        osp.join(repo_root, 'tools', 'train.py'), seg_demo, '--work-dir',
        str(work_dir), *_tiny_options(tiny_shapes_seg),
        'train_cfg.max_epochs=1', 'train_cfg.val_interval=1'
    ],
                      cwd=str(work_dir.parent),
                      timeout=600)
    assert result.returncode == 0, result.stdout[-3000:]
    return work_dir, str(work_dir / 'epoch_1.pth'), result.stdout


def test_config_is_a_segmentation_config(seg_demo):
    cfg = load_config(seg_demo)
    assert task_of(cfg) == 'segmentation'
    assert default_input_shape(cfg) == (128, 128)
    assert tuple(cfg.train_dataloader.dataset.metainfo.classes) == \
        SEG_CLASSES
    assert cfg.model.decode_head.num_classes == len(SEG_CLASSES)


def test_synthetic_batch_trains_the_segmentor(seg_demo):
    cfg = load_config(seg_demo)
    model = build_model(cfg)
    batch = synthetic_batch(cfg, 2, (64, 64))
    assert [sample.gt_sem_seg.data.shape
            for sample in batch['data_samples']] == [(1, 64, 64)] * 2
    losses = model.loss(**model.data_preprocessor(batch, True))
    assert losses['decode.loss_ce'].isfinite()


def test_train_runs_and_validates_miou(trained):
    work_dir, checkpoint, output = trained
    assert 'Epoch(train) [1][4/4]' in output
    assert 'Epoch(val) [1][1/1]' in output and 'mIoU:' in output
    assert osp.isfile(checkpoint)
    assert (work_dir / 'last_checkpoint').read_text() == checkpoint


def test_test_evaluates_miou_and_paints(trained, repo_root, seg_demo,
                                        tiny_shapes_seg, run_tool, tmp_path):
    _, checkpoint, _ = trained
    work_dir = tmp_path / 'test_work'
    result = run_tool([
        sys.executable,
        osp.join(repo_root, 'tools',
                 'test.py'), seg_demo, checkpoint, '--work-dir',
        str(work_dir), '--show-dir', 'predictions',
        *_tiny_options(tiny_shapes_seg)
    ],
                      cwd=str(tmp_path),
                      timeout=300)
    assert result.returncode == 0, result.stdout[-3000:]
    (run_dir, ) = [path for path in work_dir.iterdir() if path.is_dir()]
    with open(run_dir / f'{run_dir.name}.json') as f:
        metrics = json.loads(f.readline())
    assert 0 <= metrics['mIoU'] <= 100
    # a relative --show-dir lands in <work_dir>/<timestamp>/, as MMDet's
    val_dir = osp.join(tiny_shapes_seg, 'img_dir', 'val')
    show_dir = run_dir / 'predictions'
    assert sorted(os.listdir(show_dir)) == sorted(os.listdir(val_dir))
    for name in os.listdir(show_dir):
        # ground truth left, prediction right
        assert cv2.imread(str(show_dir / name)).shape == (128, 256, 3)


def test_infer_paints_masks(trained, repo_root, seg_demo, tiny_shapes_seg,
                            run_tool, tmp_path):
    _, checkpoint, _ = trained
    val_dir = osp.join(tiny_shapes_seg, 'img_dir', 'val')
    out_dir = tmp_path / 'painted'
    result = run_tool([
        sys.executable, 'tools/infer.py', seg_demo, checkpoint, val_dir,
        '--out-dir',
        str(out_dir), '--device', 'cpu'
    ], repo_root)
    assert result.returncode == 0, result.stdout[-3000:]
    names = sorted(os.listdir(val_dir))
    assert sorted(os.listdir(out_dir / 'vis')) == names
    lines = dict(
        line.split(': ', 1) for line in result.stdout.splitlines()
        if ': ' in line)
    for index, name in enumerate(names):
        painted = cv2.imread(str(out_dir / 'vis' / name))
        assert painted.shape == (128, 128, 3)
        label_map = np.asarray(
            Image.open(out_dir / 'pred' / f'{index:08d}_pred.png'))
        assert label_map.shape == (128, 128)
        assert label_map.max() < len(SEG_CLASSES)
        # "<image>: <class> <percent> %, ..." of the saved label map
        shares = dict(
            item.rsplit(' ', 2)[:2]
            for item in lines[osp.join(val_dir, name)].split(', '))
        for label, count in enumerate(np.bincount(label_map.ravel())):
            if count:
                assert float(shares[SEG_CLASSES[label]]) == pytest.approx(
                    100 * count / label_map.size, abs=0.05)


def test_get_flops_takes_the_config(repo_root, seg_demo, monkeypatch, capsys):
    path = osp.join(repo_root, 'tools', 'analysis_tools', 'get_flops.py')
    monkeypatch.setattr(sys, 'argv', [path, seg_demo])
    runpy.run_path(path, run_name='__main__')
    out = capsys.readouterr().out
    assert 'Input shape: 3 x 128 x 128' in out
    assert 'Params: 3,299,136' in out


def test_backbone_onnx_export(trained, repo_root, seg_demo, run_tool,
                              tmp_path):
    _, checkpoint, _ = trained
    with pytest.raises(ValueError, match='pass --backbone-only'):
        build_export_module(load_config(seg_demo), checkpoint)
    onnx_file = str(tmp_path / 'backbone.onnx')
    result = run_tool([
        sys.executable, 'tools/deployment/pytorch2onnx.py', seg_demo,
        checkpoint, '--output-file', onnx_file, '--shape', '64', '96',
        '--backbone-only', '--verify'
    ], repo_root)
    assert result.returncode == 0, result.stdout[-3000:]
    assert 'outputs layer1, layer2, layer3, layer4' in result.stdout
    assert 'verified' in result.stdout


def test_vis_layer_attention_takes_the_config(trained, repo_root, seg_demo,
                                              tiny_shapes_seg, monkeypatch,
                                              tmp_path):
    _, checkpoint, _ = trained
    path = osp.join(repo_root, 'tools', 'visualization',
                    'vis_layer_attention.py')
    numbers = tmp_path / 'numbers.json'
    monkeypatch.setattr(sys, 'argv', [
        path, seg_demo, checkpoint,
        osp.join(tiny_shapes_seg, 'img_dir', 'val'), '--out',
        str(tmp_path / 'figure.png'), '--json',
        str(numbers), '--batch-size', '2'
    ])
    runpy.run_path(path, run_name='__main__')
    stats = json.loads(numbers.read_text())
    assert stats['num_images'] == 4
    # half-width ResNet-18: 4 stages of 2 blocks, 32 to 256 channels
    assert [(s['name'], s['channels'], len(s['blocks']))
            for s in stats['stages']] == [('layer1', 32, 2), ('layer2', 64, 2),
                                          ('layer3', 128, 2),
                                          ('layer4', 256, 2)]
    assert (tmp_path / 'figure.png').is_file()
