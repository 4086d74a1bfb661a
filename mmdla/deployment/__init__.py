"""Deployment of mmdla models: ONNX export checked with ONNX Runtime."""
from .onnx_export import (BackboneFeatures, ClassScores, build_export_module,
                          export_onnx, onnx_errors, relative_error)

__all__ = [
    'BackboneFeatures', 'ClassScores', 'build_export_module', 'export_onnx',
    'onnx_errors', 'relative_error'
]
