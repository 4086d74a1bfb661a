from .attention_steps import (DLABaseStep, DLALightStep, DLAStep,
                              LayerAttentionStep, MRLABaseStep, MRLALightStep,
                              layer_attention_step)
from .context_cells import (ContextCell, DynamicSharingUnit, GRUContextCell,
                            LSTMContextCell, build_context_cell)
from .dla_stage import DLAStage
from .layer_attention import LayerAttention, MRLABase, MRLALight
from .res_blocks import BasicBlock, Bottleneck, ResidualBlock

__all__ = [
    'BasicBlock', 'Bottleneck', 'ContextCell', 'DLABaseStep', 'DLALightStep',
    'DLAStage', 'DLAStep', 'DynamicSharingUnit', 'GRUContextCell',
    'LSTMContextCell', 'LayerAttention', 'LayerAttentionStep', 'MRLABase',
    'MRLABaseStep', 'MRLALight', 'MRLALightStep', 'ResidualBlock',
    'build_context_cell', 'layer_attention_step'
]
