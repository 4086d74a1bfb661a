"""Fused GPU kernels (Triton) behind PyTorch custom ops."""
from .dla_light_step import (fused_light_step, fused_step_supported,
                             use_fused_step)

__all__ = ['fused_light_step', 'fused_step_supported', 'use_fused_step']
