"""mmdla.ScaledDetLocalVisualizer: MMDetection's pictures drawn on the image
enlarged by an integer factor, with the boxes and masks where they belong."""
import cv2
import numpy as np
import pytest
import torch
from mmdet.structures import DetDataSample
from mmdet.structures.mask import BitmapMasks
from mmengine.registry import VISUALIZERS
from mmengine.structures import InstanceData, PixelData

from mmdla.visualization.scaled_det_visualizer import (
    ScaledDetLocalVisualizer, scale_data_sample)

RED = (255, 0, 0)


def _sample() -> DetDataSample:
    """A 20 x 30 image's sample: one ground-truth box with a mask, and one
    prediction with a mask."""
    mask = np.zeros((1, 20, 30), dtype=np.uint8)
    mask[0, 4:8, 5:10] = 1
    sample = DetDataSample()
    sample.gt_instances = InstanceData(
        bboxes=torch.tensor([[5., 4., 10., 8.]]),
        labels=torch.tensor([0]),
        masks=BitmapMasks(mask, 20, 30))
    sample.pred_instances = InstanceData(
        bboxes=torch.tensor([[1., 2., 3., 4.]]),
        labels=torch.tensor([0]),
        scores=torch.tensor([0.9]),
        masks=torch.from_numpy(mask.astype(bool)))
    return sample


def test_boxes_and_masks_are_scaled():
    sample = _sample()
    scaled = scale_data_sample(sample, 3)
    assert scaled.gt_instances.bboxes.tolist() == [[15., 12., 30., 24.]]
    assert scaled.pred_instances.bboxes.tolist() == [[3., 6., 9., 12.]]
    for instances in (scaled.gt_instances, scaled.pred_instances):
        masks = instances.masks
        assert masks.shape == (1, 60, 90) and masks.dtype == bool
        assert masks.sum() == 9 * 20
        assert masks[0, 12:24, 15:30].all()
    # the sample itself is left as it was
    assert sample.gt_instances.bboxes.tolist() == [[5., 4., 10., 8.]]


def test_pixel_level_results_are_refused():
    sample = _sample()
    sample.pred_sem_seg = PixelData(sem_seg=torch.zeros(1, 20, 30))
    with pytest.raises(ValueError, match='not pred_sem_seg'):
        scale_data_sample(sample, 3)


def test_picture_is_drawn_at_scale(tmp_path):
    visualizer = VISUALIZERS.build(
        dict(
            type='mmdla.ScaledDetLocalVisualizer',
            name='scaled_visualizer_test',
            scale=4,
            alpha=1.0))
    assert isinstance(visualizer, ScaledDetLocalVisualizer)
    visualizer.dataset_meta = dict(classes=('shape', ), palette=[RED])
    image = np.zeros((20, 30, 3), dtype=np.uint8)
    sample = DetDataSample()
    sample.gt_instances = InstanceData(
        bboxes=torch.tensor([[5., 4., 25., 16.]]), labels=torch.tensor([0]))
    out_file = str(tmp_path / 'picture.png')
    visualizer.add_datasample(
        'picture', image, sample, draw_pred=False, out_file=out_file)
    picture = cv2.imread(out_file)[..., ::-1]
    assert picture.shape == (80, 120, 3)
    # below the label, the box's left and right edges are red at x = 4 * 5
    # and x = 4 * 25
    red = (picture[40:60] == RED).all(axis=2).any(axis=0)
    columns = set(np.flatnonzero(red))
    assert columns & set(range(18, 23)) and columns & set(range(98, 103))
    assert columns <= set(range(18, 23)) | set(range(98, 103))
    with pytest.raises(ValueError, match='scale must be an int >= 1'):
        ScaledDetLocalVisualizer(name='scaled_visualizer_zero', scale=0)
