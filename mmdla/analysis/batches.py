"""Synthetic, seeded inputs for the models of mmdla's configs."""
from typing import Tuple

import torch
from mmengine.config import Config
from mmengine.structures import InstanceData
from torch import nn

from .config import task_of


def synthetic_batch(cfg: Config, batch_size: int, shape: Tuple[int,
                                                               int]) -> dict:
    """A batch of random images with random labels (boxes and masks for a
    detector, a label map for a segmentor), as a data loader yields it
    (before the data preprocessor)."""
    height, width = shape
    task = task_of(cfg)
    if task == 'detection':
        from mmdet.testing import demo_mm_inputs
        return demo_mm_inputs(
            batch_size=batch_size,
            image_shapes=[(3, height, width)] * batch_size,
            num_items=[4] * batch_size,
            num_classes=cfg.model.roi_head.bbox_head.num_classes,
            with_mask='mask_head' in cfg.model.roi_head)
    generator = torch.Generator().manual_seed(0)
    inputs = [
        torch.randint(
            0, 256, (3, height, width), generator=generator, dtype=torch.uint8)
        for _ in range(batch_size)
    ]
    if task == 'segmentation':
        from mmengine.structures import PixelData
        from mmseg.structures import SegDataSample
        num_classes = cfg.model.decode_head.num_classes
        data_samples = []
        for _ in range(batch_size):
            label_map = torch.randint(
                0, num_classes, (1, height, width), generator=generator)
            sample = SegDataSample(
                metainfo=dict(img_shape=shape, ori_shape=shape))
            sample.gt_sem_seg = PixelData(data=label_map)
            data_samples.append(sample)
        return dict(inputs=inputs, data_samples=data_samples)
    from mmpretrain.structures import DataSample
    num_classes = cfg.model.head.num_classes
    return dict(
        inputs=inputs,
        data_samples=[
            DataSample().set_gt_label(index % num_classes)
            for index in range(batch_size)
        ])


def detection_batch(model: nn.Module, shape: Tuple[int, int]) -> dict:
    """A preprocessed batch of one seeded random image for a detector."""
    from mmdet.structures import DetDataSample

    height, width = shape
    generator = torch.Generator().manual_seed(0)
    image = torch.randint(
        0, 256, (3, height, width), generator=generator, dtype=torch.uint8)
    sample = DetDataSample(
        metainfo=dict(
            img_shape=shape, ori_shape=shape, scale_factor=(1.0, 1.0)))
    return model.data_preprocessor(
        dict(inputs=[image], data_samples=[sample]), False)


def fixed_proposals(shape: Tuple[int, int], num: int) -> InstanceData:
    """``num`` seeded random boxes inside an image of ``shape``."""
    height, width = shape
    generator = torch.Generator().manual_seed(0)
    corners = torch.rand(
        num, 2, 2, generator=generator) * torch.tensor([width, height])
    top_left = corners.min(dim=1).values
    bottom_right = corners.max(dim=1).values + 1
    return InstanceData(bboxes=torch.cat([top_left, bottom_right], dim=1))
