"""MMDetection's visualizer drawing on an enlarged copy of each image.

MMDetection sizes its labels by the area of their box, between 0.5 and 1
times a 13-point font: on small images (the 128 x 128 demo images) the
labels of neighbouring shapes cover each other and the pictures are too
small to read. :class:`ScaledDetLocalVisualizer` enlarges the image and the
instances by an integer factor first, so that the boxes, masks and labels
are drawn at that size::

    visualizer = dict(type='mmdla.ScaledDetLocalVisualizer', scale=3)

Importing this module imports MMDetection (the ``det`` extra of mmdla);
:data:`mmdla.registry.VISUALIZERS` imports it on first use.
"""
from typing import Optional

import mmcv
import numpy as np
import torch
from mmdet.structures import DetDataSample
from mmdet.structures.mask import BitmapMasks, PolygonMasks
from mmdet.visualization import DetLocalVisualizer
from mmengine.dist import master_only
from mmengine.structures import InstanceData

from mmdla.registry import VISUALIZERS

#: Fields of a :class:`DetDataSample` whose boxes and masks are drawn.
INSTANCE_FIELDS = ('gt_instances', 'pred_instances')
#: Pixel-level fields, which this visualizer does not enlarge.
PIXEL_FIELDS = ('gt_sem_seg', 'pred_sem_seg', 'gt_panoptic_seg',
                'pred_panoptic_seg')


def scale_instances(instances: InstanceData, scale: int) -> InstanceData:
    """A copy of ``instances`` in an image enlarged ``scale`` times: boxes
    multiplied, masks (tensors, arrays or MMDetection's mask structures)
    repeated ``scale`` times along both axes, as boolean arrays."""
    scaled = instances.clone()
    if 'bboxes' in scaled:
        scaled.bboxes = scaled.bboxes * scale
    if 'masks' in scaled:
        masks = scaled.masks
        if isinstance(masks, (BitmapMasks, PolygonMasks)):
            masks = masks.to_ndarray()
        elif isinstance(masks, torch.Tensor):
            masks = masks.numpy()
        scaled.masks = masks.astype(bool).repeat(
            scale, axis=1).repeat(
                scale, axis=2)
    return scaled


def scale_data_sample(data_sample: DetDataSample,
                      scale: int) -> DetDataSample:
    """A CPU copy of ``data_sample`` whose ground-truth and predicted
    instances are scaled by :func:`scale_instances`.

    Raises:
        ValueError: If the sample has pixel-level (semantic or panoptic)
            results, which are not enlarged.
    """
    pixel_fields = [key for key in PIXEL_FIELDS if key in data_sample]
    if pixel_fields:
        raise ValueError(
            f'ScaledDetLocalVisualizer draws boxes and masks of instances, '
            f'not {", ".join(pixel_fields)}; use DetLocalVisualizer.')
    scaled = data_sample.cpu()
    for key in INSTANCE_FIELDS:
        if key in scaled:
            setattr(scaled, key, scale_instances(scaled.get(key), scale))
    return scaled


@VISUALIZERS.register_module()
class ScaledDetLocalVisualizer(DetLocalVisualizer):
    """:class:`DetLocalVisualizer` drawing on the image enlarged ``scale``
    times (bilinear), with the boxes and masks enlarged to match.

    Args:
        name (str): Name of the instance. Defaults to 'visualizer'.
        scale (int): Enlargement factor, at least 1. Defaults to 3.
        **kwargs: The other arguments of :class:`DetLocalVisualizer`.
    """

    def __init__(self,
                 name: str = 'visualizer',
                 scale: int = 3,
                 **kwargs) -> None:
        if not isinstance(scale, int) or scale < 1:
            raise ValueError(f'scale must be an int >= 1, got {scale!r}.')
        super().__init__(name=name, **kwargs)
        self.scale = scale

    @master_only
    def add_datasample(self,
                       name: str,
                       image: np.ndarray,
                       data_sample: Optional[DetDataSample] = None,
                       *args,
                       **kwargs) -> None:
        """Draw ``data_sample`` on ``image``, both enlarged ``scale``
        times; the other arguments are those of
        :meth:`DetLocalVisualizer.add_datasample`."""
        height, width = image.shape[:2]
        image = mmcv.imresize(image,
                              (width * self.scale, height * self.scale))
        if data_sample is not None:
            data_sample = scale_data_sample(data_sample, self.scale)
        super().add_datasample(name, image, data_sample, *args, **kwargs)
