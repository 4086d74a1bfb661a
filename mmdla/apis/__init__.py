"""High-level interfaces of mmdla: inference on images with the inferencers
of MMPretrain, MMDetection and MMSegmentation."""
from .inference import (TASKS, build_inferencer, class_fractions,
                        classify_images, detect_images, detections,
                        expand_images, load_config, segment_images,
                        split_readable, task_of, top_classes,
                        unreadable_reason)

__all__ = [
    'TASKS', 'build_inferencer', 'class_fractions', 'classify_images',
    'detect_images', 'detections', 'expand_images', 'load_config',
    'segment_images', 'split_readable', 'task_of', 'top_classes',
    'unreadable_reason'
]
