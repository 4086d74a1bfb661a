"""The configs run under MMPretrain's and MMDetection's own tools/train.py
(what `mim train` runs) as under ours; those tools do not import mmdla."""
import glob
import os.path as osp
import sys
from typing import List

import pytest
from mmengine.config import Config

DATALOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


def _upstream_train_tool(package: str) -> str:
    """The tools/train.py installed with an OpenMMLab package."""
    module = pytest.importorskip(package)
    tool = osp.join(osp.dirname(module.__file__), '.mim', 'tools', 'train.py')
    if not osp.isfile(tool):
        pytest.skip(f'{package} is installed without its tools')
    return tool


def _configs(repo_root: str) -> List[str]:
    return sorted(
        glob.glob(
            osp.join(repo_root, 'configs', '**', '*.py'), recursive=True))


def test_every_dataloader_sets_persistent_workers(repo_root):
    # MMPretrain's tools/train.py sets persistent_workers=True where a
    # config leaves it unset, which fails with num_workers=0
    for config in _configs(repo_root):
        cfg = Config.fromfile(config)
        for key in DATALOADERS:
            loader = cfg.get(key)
            if not loader:
                continue
            name = f'{osp.relpath(config, repo_root)}: {key}'
            assert 'persistent_workers' in loader, name
            assert loader.persistent_workers == (loader.num_workers > 0), name


def test_cls_demo_trains_under_mmpretrain_train_tool(run_tool, tmp_path,
                                                     cls_demo,
                                                     tiny_shapes_cls):
    tool = _upstream_train_tool('mmpretrain')
    work_dir = tmp_path / 'work'
    result = run_tool([
        sys.executable, tool, cls_demo, '--work-dir',
        str(work_dir), '--cfg-options',
        *(f'{key}.dataset.data_root={tiny_shapes_cls}' for key in DATALOADERS),
        'train_dataloader.batch_size=4', 'train_cfg.max_epochs=1',
        'train_cfg.val_interval=1', 'default_hooks.logger.interval=1'
    ],
                      cwd=str(tmp_path),
                      timeout=600)
    assert result.returncode == 0, result.stdout[-3000:]
    assert 'accuracy/top1' in result.stdout
    assert (work_dir / 'epoch_1.pth').is_file()


def test_faster_rcnn_demo_trains_under_mmdet_train_tool(
        run_tool, tmp_path, faster_rcnn_demo, tiny_detection_options):
    tool = _upstream_train_tool('mmdet')
    work_dir = tmp_path / 'work'
    result = run_tool([
        sys.executable, tool, faster_rcnn_demo, '--work-dir',
        str(work_dir), *tiny_detection_options(1)
    ],
                      cwd=str(tmp_path),
                      timeout=600)
    assert result.returncode == 0, result.stdout[-3000:]
    assert 'coco/bbox_mAP' in result.stdout
    assert (work_dir / 'epoch_1.pth').is_file()
