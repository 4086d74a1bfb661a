"""Library code of the analysis tools (``tools/analysis_tools``): configs
and their models, synthetic batches, timing, peak memory, profiles of a step,
the plain-ResNet counterpart of a DLA model, FLOP counting, image folders
through a config's test pipeline, the statistics of the layer attention,
the path each DLA block's step takes and the bfloat16 autocast of
``--amp``."""
from .amp import amp_autocast
from .batches import detection_batch, fixed_proposals, synthetic_batch
from .config import (CLASSIFICATION_SHAPE, DETECTION_SHAPE, SEGMENTATION_SHAPE,
                     TASKS, build_model, default_input_shape, is_detection,
                     load_config, task_of)
from .counterpart import (DIFFERENT_MEANING, default_initialised,
                          plain_counterpart)
from .flops import MAC_OPERATORS, count_complexity, two_stage_forward
from .fused_plans import BlockPlan, explain_fused
from .images import build_test_pipeline, find_images, preprocessed_batches
from .layer_attention_stats import (dla_stages, format_summary,
                                    layer_attention_stats)
from .memory import held_bytes, peak_memory, tensor_bytes
from .profiling import StepProfile, format_profile, profile_step
from .timing import synchronize, time_per_call

__all__ = [
    'BlockPlan', 'CLASSIFICATION_SHAPE', 'DETECTION_SHAPE',
    'DIFFERENT_MEANING', 'MAC_OPERATORS', 'SEGMENTATION_SHAPE', 'StepProfile',
    'TASKS', 'amp_autocast',
    'build_model', 'build_test_pipeline', 'count_complexity',
    'default_initialised', 'default_input_shape', 'detection_batch',
    'dla_stages', 'explain_fused', 'find_images',
    'fixed_proposals', 'format_profile', 'format_summary', 'held_bytes',
    'is_detection', 'layer_attention_stats', 'load_config', 'peak_memory',
    'plain_counterpart', 'preprocessed_batches', 'profile_step', 'synchronize',
    'synthetic_batch', 'task_of', 'tensor_bytes', 'time_per_call',
    'two_stage_forward'
]
