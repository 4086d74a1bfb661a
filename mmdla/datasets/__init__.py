"""Dataset utilities of mmdla (no MMDetection / MMPretrain import)."""
from .synthetic_shapes import (CLS_CLASSES, DET_CLASSES, generate_shapes_cls,
                               generate_shapes_coco)

__all__ = [
    'CLS_CLASSES', 'DET_CLASSES', 'generate_shapes_coco', 'generate_shapes_cls'
]
