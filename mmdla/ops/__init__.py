"""The fused DLA-L step: Triton kernels behind PyTorch custom ops.

========================  ==================================================
module                    holds
========================  ==================================================
``dla_light_plan``        which path a block's step takes (:class:`StepPlan`)
``dla_light_step``        the step: shared passes, eager autograd function,
                          traceable form, the ops' autograd formulas
``dla_light_ops``         the full-size ops (custom op + fake), registry only
``dla_light_gate_ops``    the ``[N, C]`` gate ops, registry only
``dla_light_kernels``     the full-size Triton kernels and their launchers
``dla_light_gate_kernels``  the gate kernels and their launchers
``dla_light_layout``      the layout contract: rows of every small buffer
``dla_light_tiles``       how a shape is cut into programs
``triton_helpers``        Triton helpers both kernel modules use
========================  ==================================================
"""
from .dla_light_gate_ops import dsu_combine, gate_kernels
from .dla_light_plan import (FUSED, FUSED_MODES, PYTORCH, TRACEABLE, StepPlan,
                             check_fused_mode, fused_step_supported,
                             plan_fused_step)
from .dla_light_step import fused_light_step

__all__ = [
    'FUSED', 'FUSED_MODES', 'PYTORCH', 'TRACEABLE', 'StepPlan',
    'check_fused_mode', 'dsu_combine', 'fused_light_step',
    'fused_step_supported', 'gate_kernels', 'plan_fused_step'
]
