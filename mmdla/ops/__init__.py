"""Fused GPU kernels (Triton) behind PyTorch custom ops."""
from .dla_light_gate_ops import dsu_combine, gate_kernels
from .dla_light_step import (FUSED_MODES, fused_light_step,
                             fused_step_supported, use_fused_step)

__all__ = [
    'FUSED_MODES', 'dsu_combine', 'fused_light_step', 'fused_step_supported',
    'gate_kernels', 'use_fused_step'
]
