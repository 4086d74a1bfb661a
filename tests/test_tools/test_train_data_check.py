"""tools/train.py and tools/test.py check the data of every dataloader they
use before the runner is built, the validation set of MMPretrain configs
included, and, with --check-images, that every image decodes."""
import json
import os
import os.path as osp
import shutil
import sys

import torch


def test_missing_val_set_of_mmpretrain_config_stops_before_training(
        run_tool, repo_root, tmp_path, cls_demo, tiny_shapes_cls):
    data_root = str(tmp_path / 'shapes_cls') + '/'
    shutil.copytree(tiny_shapes_cls, data_root)
    shutil.rmtree(data_root + 'val')
    work_dir = tmp_path / 'work'
    result = run_tool([
        sys.executable,
        osp.join(repo_root, 'tools', 'train.py'), cls_demo, '--work-dir',
        str(work_dir), '--cfg-options',
        f'train_dataloader.dataset.data_root={data_root}',
        f'val_dataloader.dataset.data_root={data_root}',
        'train_cfg.max_epochs=1'
    ],
                      cwd=str(tmp_path),
                      timeout=300)
    assert result.returncode != 0
    assert 'val_dataloader.dataset.data_prefix' in result.stdout
    assert osp.join(data_root, 'val') in result.stdout
    assert not work_dir.exists()  # stopped before the runner was built


def test_check_images_names_a_truncated_image_before_training(
        run_tool, repo_root, tmp_path, cls_demo, tiny_shapes_cls):
    data_root = str(tmp_path / 'shapes_cls') + '/'
    shutil.copytree(tiny_shapes_cls, data_root)
    image = sorted(
        osp.join(folder, name)
        for folder, _, names in os.walk(osp.join(data_root, 'val'))
        for name in names)[0]
    with open(image, 'r+b') as f:
        f.truncate(os.path.getsize(image) // 2)
    work_dir = tmp_path / 'work'
    result = run_tool([
        sys.executable,
        osp.join(repo_root, 'tools', 'train.py'), cls_demo, '--work-dir',
        str(work_dir), '--check-images', '--cfg-options',
        f'train_dataloader.dataset.data_root={data_root}',
        f'val_dataloader.dataset.data_root={data_root}'
    ],
                      cwd=str(tmp_path),
                      timeout=300)
    assert result.returncode != 0
    assert '1 image files of ' + osp.join(data_root, 'val') + \
        ' (val_dataloader.dataset) cannot be decoded:\n    ' + image \
        in result.stdout
    assert not work_dir.exists()  # stopped before the runner was built


def test_test_tool_stops_on_the_evaluator_file_of_other_data(
        run_tool, repo_root, tmp_path, faster_rcnn_demo, tiny_shapes_coco):
    # the config's data under data/, the new data elsewhere, and only the
    # test dataset pointed at the new data
    shutil.copytree(tiny_shapes_coco, tmp_path / 'data' / 'shapes_coco')
    new_root = str(tmp_path / 'new') + '/'
    shutil.copytree(tiny_shapes_coco, new_root)
    new_ann = new_root + 'annotations/instances_val.json'
    with open(new_ann) as f:
        coco = json.load(f)
    coco['annotations'] = coco['annotations'][1:]
    with open(new_ann, 'w') as f:
        json.dump(coco, f)
    checkpoint = str(tmp_path / 'model.pth')
    torch.save(dict(state_dict={}), checkpoint)
    tool = osp.join(repo_root, 'tools', 'test.py')
    result = run_tool([
        sys.executable, tool, faster_rcnn_demo, checkpoint, '--work-dir',
        str(tmp_path / 'work'), '--cfg-options',
        f'test_dataloader.dataset.data_root={new_root}'
    ],
                      cwd=str(tmp_path),
                      timeout=300)
    assert result.returncode != 0
    assert "test_evaluator.ann_file = 'data/shapes_coco/annotations/" \
        "instances_val.json' is not the annotation file of the dataset it " \
        f'evaluates, {new_ann}' in result.stdout
    assert f'--cfg-options test_evaluator.ann_file={new_ann}' in result.stdout
