"""The demo detectors' prediction pictures (tools/test.py --show-dir, as
tools/demo.py writes them): ground truth beside prediction, drawn on the
images enlarged 3 times."""
import os
import os.path as osp
import sys

import cv2

from mmdla.apis import load_config


def test_demo_pictures_are_drawn_at_three_times_the_image_size(
        tmp_path, repo_root, faster_rcnn_demo, random_checkpoint,
        tiny_detection_options, tiny_shapes_coco, run_tool):
    meta = load_config(faster_rcnn_demo).test_dataloader.dataset.metainfo
    checkpoint = random_checkpoint(faster_rcnn_demo, dict(meta))
    show_dir = tmp_path / 'predictions'
    result = run_tool([
        sys.executable,
        osp.join(repo_root, 'tools', 'test.py'), faster_rcnn_demo, checkpoint,
        '--work-dir',
        str(tmp_path / 'work_dir'), '--show-dir',
        str(show_dir), *tiny_detection_options(1)
    ],
                      cwd=str(tmp_path),
                      timeout=300)
    assert result.returncode == 0, result.stdout
    val_dir = osp.join(tiny_shapes_coco, 'val')
    names = sorted(os.listdir(show_dir))
    assert names == sorted(os.listdir(val_dir))
    for name in names:
        height, width = cv2.imread(osp.join(val_dir, name)).shape[:2]
        picture = cv2.imread(str(show_dir / name))
        # ground truth left, prediction right
        assert picture.shape == (3 * height, 2 * 3 * width, 3)
