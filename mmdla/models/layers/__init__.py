from .context_cells import (ContextCell, DynamicSharingUnit, GRUContextCell,
                            LSTMContextCell, build_context_cell)
from .dla_stage import DLAStage
from .layer_attention import LayerAttention, MRLABase, MRLALight
from .res_blocks import BasicBlock, Bottleneck, ResidualBlock

__all__ = [
    'BasicBlock', 'Bottleneck', 'ContextCell', 'DLAStage',
    'DynamicSharingUnit', 'GRUContextCell', 'LSTMContextCell',
    'LayerAttention', 'MRLABase', 'MRLALight', 'ResidualBlock',
    'build_context_cell'
]
