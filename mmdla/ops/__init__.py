"""Fused GPU kernels (Triton) behind PyTorch custom ops."""
from .dla_light_step import (FUSED_MODES, fused_light_step,
                             fused_step_supported, use_fused_step)

__all__ = [
    'FUSED_MODES', 'fused_light_step', 'fused_step_supported', 'use_fused_step'
]
