"""Grad-CAM with MMPretrain's tools/visualization/vis_cam.py on the demo
classifier (ResNetDLACifar), target layer ``backbone.layer3``."""
import os.path as osp
import sys

import cv2
import mmpretrain
import numpy as np

from mmdla.datasets import CLS_CLASSES
from mmdla.datasets.synthetic_shapes import draw_classification_image

VIS_CAM = osp.join(
    osp.dirname(mmpretrain.__file__), '.mim', 'tools', 'visualization',
    'vis_cam.py')


def test_vis_cam_paints_the_cam_of_the_last_stage(cls_demo, repo_root,
                                                  random_checkpoint, run_tool,
                                                  tmp_path):
    checkpoint = random_checkpoint(cls_demo,
                                   dict(classes=tuple(sorted(CLS_CLASSES))))
    image, _ = draw_classification_image(0, 'val', 0, 32)
    image_file = str(tmp_path / 'shape.png')
    cv2.imwrite(image_file, image)
    out_file = tmp_path / 'cam.png'
    result = run_tool([
        sys.executable, VIS_CAM, image_file, cls_demo, checkpoint,
        '--target-layers', 'backbone.layer3', '--method', 'GradCAM',
        '--save-path',
        str(out_file), '--device', 'cpu'
    ], repo_root)
    assert result.returncode == 0, result.stdout
    cam = cv2.imread(str(out_file))
    assert cam is not None and cam.shape == image.shape
    # the heat map is blended over the image
    assert not np.array_equal(cam, image)
