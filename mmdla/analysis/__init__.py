"""Library code of the analysis tools (``tools/analysis_tools``): configs
and their models, synthetic batches, timing, peak memory, the plain-ResNet
counterpart of a DLA model and FLOP counting."""
from .batches import detection_batch, fixed_proposals, synthetic_batch
from .cli import add_amp_argument, add_shape_argument, amp_autocast
from .config import (CLASSIFICATION_SHAPE, DETECTION_SHAPE, build_model,
                     default_input_shape, is_detection, load_config)
from .counterpart import (DIFFERENT_MEANING, default_initialised,
                          plain_counterpart)
from .flops import MAC_OPERATORS, count_complexity, two_stage_forward
from .memory import held_bytes, peak_memory, tensor_bytes
from .timing import synchronize, time_per_call

__all__ = [
    'CLASSIFICATION_SHAPE', 'DETECTION_SHAPE', 'DIFFERENT_MEANING',
    'MAC_OPERATORS', 'add_amp_argument', 'add_shape_argument', 'amp_autocast',
    'build_model', 'count_complexity', 'default_initialised',
    'default_input_shape', 'detection_batch', 'fixed_proposals', 'held_bytes',
    'is_detection', 'load_config', 'peak_memory', 'plain_counterpart',
    'synchronize', 'synthetic_batch', 'tensor_bytes', 'time_per_call',
    'two_stage_forward'
]
