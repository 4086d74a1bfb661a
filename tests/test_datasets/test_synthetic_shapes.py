"""The synthetic shapes datasets are valid, deterministic and idempotent."""
import filecmp
import json
import os
import os.path as osp
import sys

import numpy as np
import pytest
from pycocotools.coco import COCO

from mmdla.datasets import (CLS_CLASSES, DET_CLASSES, generate_shapes_cls,
                            generate_shapes_coco)


def test_shapes_coco_is_valid_coco(tiny_shapes_coco):
    for split, num_images in (('train', 8), ('val', 4)):
        coco = COCO(
            osp.join(tiny_shapes_coco, 'annotations',
                     f'instances_{split}.json'))
        assert len(coco.getImgIds()) == num_images
        assert [c['name']
                for c in coco.loadCats(coco.getCatIds())] == list(DET_CLASSES)
        assert len(coco.getAnnIds()) >= num_images  # 1 to 4 shapes each
        for image in coco.loadImgs(coco.getImgIds()):
            assert osp.isfile(
                osp.join(tiny_shapes_coco, split, image['file_name']))
        for ann in coco.loadAnns(coco.getAnnIds()):
            x, y, w, h = ann['bbox']
            assert 0 <= x and 0 <= y and x + w <= 128 and y + h <= 128
            assert 14 <= max(w, h) <= 50
            mask = coco.annToMask(ann)
            # the rasterised polygon fills its box and matches its area
            ys, xs = np.nonzero(mask)
            assert abs(xs.min() - x) <= 1.5 and abs(ys.min() - y) <= 1.5
            assert abs(mask.sum() - ann['area']) <= 0.15 * ann['area'] + 10


def test_shapes_coco_is_deterministic_and_idempotent(tmp_path,
                                                     tiny_shapes_coco):
    root = str(tmp_path / 'shapes_coco')
    assert generate_shapes_coco(root, num_train=8, num_val=4)
    compared = filecmp.dircmp(root, tiny_shapes_coco)
    assert not compared.diff_files and not compared.left_only
    for sub in ('train', 'val', 'annotations'):
        sub_cmp = compared.subdirs[sub]
        _, mismatch, errors = filecmp.cmpfiles(
            osp.join(root, sub),
            osp.join(tiny_shapes_coco, sub),
            os.listdir(osp.join(root, sub)),
            shallow=False)
        assert not mismatch and not errors and not sub_cmp.left_only

    stamp = os.stat(osp.join(root, 'annotations', 'instances_val.json'))
    assert not generate_shapes_coco(root, num_train=8, num_val=4)
    assert os.stat(osp.join(root, 'annotations',
                            'instances_val.json')).st_mtime_ns == \
        stamp.st_mtime_ns
    # other parameters replace the dataset, and leave no temporary folder
    assert generate_shapes_coco(root, num_train=3, num_val=2)
    with open(osp.join(root, 'annotations', 'instances_train.json')) as f:
        assert len(json.load(f)['images']) == 3
    assert os.listdir(tmp_path) == ['shapes_coco']


def test_shapes_cls_layout(tmp_path):
    root = str(tmp_path / 'shapes_cls')
    assert generate_shapes_cls(root, num_train=30, num_val=12)
    for split, num_images in (('train', 30), ('val', 12)):
        assert sorted(os.listdir(osp.join(root, split))) == sorted(CLS_CLASSES)
        files = [
            f for name in CLS_CLASSES
            for f in os.listdir(osp.join(root, split, name))
        ]
        assert len(files) == num_images
    # several classes are drawn, even in a small set
    assert sum(
        bool(os.listdir(osp.join(root, 'train', name)))
        for name in CLS_CLASSES) >= 4


def test_folder_without_marker_is_never_deleted(tmp_path):
    root = tmp_path / 'shapes_coco'
    (root / 'train').mkdir(parents=True)
    (root / 'train' / 'mine.jpg').write_bytes(b'user image')
    with pytest.raises(FileExistsError, match='no .complete marker') as error:
        generate_shapes_coco(str(root), num_train=2, num_val=1)
    assert '--out-dir' in str(error.value)
    assert (root / 'train' / 'mine.jpg').read_bytes() == b'user image'
    assert os.listdir(tmp_path) == ['shapes_coco']  # no temporary folder


def test_stale_dataset_with_user_files_is_never_deleted(tmp_path):
    root = tmp_path / 'shapes_cls'
    assert generate_shapes_cls(str(root), num_train=6, num_val=3)
    (root / 'val' / 'dog').mkdir()
    (root / 'val' / 'dog' / '00000.png').write_bytes(b'user image')
    (root / 'notes.txt').write_text('mine')
    with pytest.raises(
            FileExistsError, match='3 entries the generator did not write'):
        generate_shapes_cls(str(root), num_train=4, num_val=3)
    assert (root / 'notes.txt').read_text() == 'mine'
    assert (root / 'val' / 'dog' / '00000.png').read_bytes() == b'user image'
    # the dataset written before is intact too
    train_images = [
        f for name in CLS_CLASSES for f in os.listdir(root / 'train' / name)
    ]
    assert len(train_images) == 6


def test_empty_folder_and_stale_dataset_are_replaced(tmp_path):
    root = tmp_path / 'shapes_cls'
    root.mkdir()
    assert generate_shapes_cls(str(root), num_train=6, num_val=3)
    assert generate_shapes_cls(str(root), num_train=4, num_val=3)
    train_images = [
        f for name in CLS_CLASSES for f in os.listdir(root / 'train' / name)
    ]
    assert len(train_images) == 4


def test_generator_script_stops_with_a_message(tmp_path, repo_root, run_tool):
    user_file = tmp_path / 'shapes_cls' / 'train' / 'cat' / 'a.png'
    user_file.parent.mkdir(parents=True)
    user_file.write_bytes(b'user image')
    result = run_tool([
        sys.executable, 'tools/misc/generate_demo_data.py', '--only', 'cls',
        '--out-dir',
        str(tmp_path), '--num-train', '2', '--num-val', '1'
    ],
                      cwd=repo_root)
    assert result.returncode != 0
    assert 'error: ' in result.stdout and 'left untouched' in result.stdout
    assert 'Traceback' not in result.stdout
    assert user_file.read_bytes() == b'user image'
