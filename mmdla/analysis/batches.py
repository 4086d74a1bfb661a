"""Synthetic, seeded inputs for the models of mmdla's configs."""
from typing import Tuple

import torch
from mmengine.config import Config
from mmengine.structures import InstanceData
from torch import nn

from .config import is_detection


def synthetic_batch(cfg: Config, batch_size: int, shape: Tuple[int,
                                                               int]) -> dict:
    """A batch of random images with random labels (or boxes and masks),
    as a data loader yields it (before the data preprocessor)."""
    height, width = shape
    if is_detection(cfg):
        from mmdet.testing import demo_mm_inputs
        return demo_mm_inputs(
            batch_size=batch_size,
            image_shapes=[(3, height, width)] * batch_size,
            num_items=[4] * batch_size,
            num_classes=cfg.model.roi_head.bbox_head.num_classes,
            with_mask='mask_head' in cfg.model.roi_head)
    from mmpretrain.structures import DataSample
    num_classes = cfg.model.head.num_classes
    generator = torch.Generator().manual_seed(0)
    return dict(
        inputs=[
            torch.randint(
                0,
                256, (3, height, width),
                generator=generator,
                dtype=torch.uint8) for _ in range(batch_size)
        ],
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
