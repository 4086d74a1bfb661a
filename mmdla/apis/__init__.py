"""High-level interfaces of mmdla: inference on images with the inferencers
of MMPretrain and MMDetection."""
from .inference import (TASKS, build_inferencer, classify_images,
                        detect_images, detections, load_config, task_of,
                        top_classes)

__all__ = [
    'TASKS', 'build_inferencer', 'classify_images', 'detect_images',
    'detections', 'load_config', 'task_of', 'top_classes'
]
