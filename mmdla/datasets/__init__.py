"""Dataset utilities of mmdla (no MMDetection / MMPretrain /
MMSegmentation import)."""
from .synthetic_shapes import (CLS_CLASSES, DET_CLASSES, SEG_CLASSES,
                               generate_shapes_cls, generate_shapes_coco,
                               generate_shapes_seg)

__all__ = [
    'CLS_CLASSES', 'DET_CLASSES', 'SEG_CLASSES', 'generate_shapes_coco',
    'generate_shapes_cls', 'generate_shapes_seg'
]
