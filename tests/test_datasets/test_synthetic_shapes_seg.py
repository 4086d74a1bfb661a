"""The synthetic shapes segmentation set: the folder layout MMSegmentation
reads, every image paired with its label map, label values that are the
classes of the shapes drawn, deterministic and idempotent."""
import filecmp
import os
import os.path as osp
import sys

import cv2
import numpy as np
from PIL import Image

from mmdla.datasets import DET_CLASSES, SEG_CLASSES, generate_shapes_seg
from mmdla.datasets.synthetic_shapes import (draw_detection_image,
                                             draw_segmentation_image)

SPLITS = (('train', 8), ('val', 4))


def test_layout_pairs_every_image_with_its_label_map(tiny_shapes_seg):
    assert sorted(
        os.listdir(tiny_shapes_seg)) == ['.complete', 'ann_dir', 'img_dir']
    for split, num_images in SPLITS:
        names = [f'{index:05d}.png' for index in range(num_images)]
        img_dir = osp.join(tiny_shapes_seg, 'img_dir', split)
        ann_dir = osp.join(tiny_shapes_seg, 'ann_dir', split)
        assert sorted(os.listdir(img_dir)) == names
        assert sorted(os.listdir(ann_dir)) == names
        for name in names:
            image = cv2.imread(osp.join(img_dir, name))
            with Image.open(osp.join(ann_dir, name)) as label_file:
                # single channel, read as MMSegmentation's pillow backend
                assert label_file.mode == 'L'
                label_map = np.asarray(label_file)
            assert image.shape == (128, 128, 3)
            assert label_map.shape == (128, 128)


def test_label_maps_are_the_shapes_of_the_images(tiny_shapes_seg):
    assert SEG_CLASSES == ('background', ) + DET_CLASSES
    seen = set()
    for split, num_images in SPLITS:
        for index in range(num_images):
            name = f'{index:05d}.png'
            label_map = np.asarray(
                Image.open(osp.join(tiny_shapes_seg, 'ann_dir', split, name)))
            image = cv2.imread(
                osp.join(tiny_shapes_seg, 'img_dir', split, name))
            expected_image, instances = draw_detection_image(
                0, split, index, 128)
            # the images of the detection set, with the same seed
            np.testing.assert_array_equal(image, expected_image)
            assert set(np.unique(label_map)) <= set(range(len(SEG_CLASSES)))
            for instance in instances:
                x, y, w, h = (int(round(v)) for v in instance['bbox'])
                inside = label_map[y:y + h, x:x + w]
                # the shape's class fills about the area of its polygon
                count = int((inside == instance['label'] + 1).sum())
                assert abs(count - instance['area']) <= \
                    0.15 * instance['area'] + 10
                seen.add(instance['label'] + 1)
            shapes_area = sum(instance['area'] for instance in instances)
            assert abs(int((label_map > 0).sum()) - shapes_area) <= \
                0.15 * shapes_area + 10 * len(instances)
    assert seen == {1, 2, 3}


def test_drawing_is_deterministic():
    image, label_map = draw_segmentation_image(3, 'val', 5, 128)
    again, label_again = draw_segmentation_image(3, 'val', 5, 128)
    np.testing.assert_array_equal(image, again)
    np.testing.assert_array_equal(label_map, label_again)
    assert label_map.dtype == np.uint8


def test_generation_is_deterministic_and_idempotent(tmp_path, tiny_shapes_seg):
    root = str(tmp_path / 'shapes_seg')
    assert generate_shapes_seg(root, num_train=8, num_val=4)
    for folder in ('img_dir', 'ann_dir'):
        for split, _ in SPLITS:
            ours = osp.join(root, folder, split)
            _, mismatch, errors = filecmp.cmpfiles(
                ours,
                osp.join(tiny_shapes_seg, folder, split),
                os.listdir(ours),
                shallow=False)
            assert not mismatch and not errors
    stamp = os.stat(osp.join(root, 'ann_dir', 'val', '00000.png'))
    assert not generate_shapes_seg(root, num_train=8, num_val=4)
    assert os.stat(osp.join(root, 'ann_dir', 'val',
                            '00000.png')).st_mtime_ns == stamp.st_mtime_ns
    # other parameters replace the dataset, and leave no temporary folder
    assert generate_shapes_seg(root, num_train=3, num_val=2)
    assert len(os.listdir(osp.join(root, 'img_dir', 'train'))) == 3
    assert os.listdir(tmp_path) == ['shapes_seg']


def test_generator_script_makes_only_the_seg_set(tmp_path, repo_root,
                                                 run_tool):
    result = run_tool([
        sys.executable, 'tools/misc/generate_demo_data.py', '--out-dir',
        str(tmp_path), '--only', 'seg', '--num-train', '2', '--num-val', '1'
    ], repo_root)
    assert result.returncode == 0, result.stdout
    assert os.listdir(tmp_path) == ['shapes_seg']
    assert os.listdir(tmp_path / 'shapes_seg' / 'ann_dir' / 'val') == \
        ['00000.png']
