"""Configs of the analysis tools: loading one and building its model."""
import os.path as osp
from typing import Dict, Optional, Tuple

from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope
from torch import nn

from mmdla.engine.cli import merge_cfg_options

# Input size used for detection configs when no shape is given: a COCO
# image resized to 1333 x 800 and padded to a multiple of 32.
DETECTION_SHAPE = (800, 1344)
# Input size used for classification configs whose pipelines name none.
CLASSIFICATION_SHAPE = (224, 224)
# Input size used for segmentation configs that name none: the crop of
# MMSegmentation's ADE20K configs.
SEGMENTATION_SHAPE = (512, 512)
#: Task of the configs of each supported default scope (the codebase whose
#: ``mmdet::``, ``mmpretrain::`` or ``mmseg::`` bases a config inherits).
TASKS: Dict[str, str] = {
    'mmpretrain': 'classification',
    'mmdet': 'detection',
    'mmseg': 'segmentation'
}


def load_config(path: str, cfg_options: Optional[dict] = None) -> Config:
    """Load a config file and apply command-line overrides to it, validated
    as ``tools/train.py`` validates them
    (:func:`~mmdla.engine.cli.merge_cfg_options`).

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: If the config is not an mmdet, mmpretrain or mmseg one
            (:data:`TASKS`), or an override names a key that nothing reads
            or a variable of the config file.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'config file {str(path)!r} does not exist.')
    cfg = Config.fromfile(path)
    merge_cfg_options(cfg, cfg_options)
    if cfg.get('default_scope') not in TASKS:
        scopes = ', '.join(repr(scope) for scope in TASKS)
        bases = ', '.join(f'{scope}::' for scope in TASKS)
        raise ValueError(
            f'{path} has default_scope={cfg.get("default_scope")!r}; only '
            f'configs that inherit from {bases} bases (scope {scopes}) are '
            "supported: set `default_scope` to their codebase's.")
    return cfg


def build_model(cfg: Config) -> nn.Module:
    """Build ``cfg.model`` in the registry of the config's codebase.

    The pretrained checkpoint named by an ``init_cfg`` is not loaded: the
    model keeps its freshly constructed weights.
    """
    init_default_scope(cfg.default_scope)
    model_cfg = cfg.model.copy()
    if cfg.get('data_preprocessor') is not None:
        # mmpretrain keeps the data preprocessor at the top level of its
        # configs and the runner moves it into the model, as done here.
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    return MODELS.build(model_cfg)


def task_of(cfg: Config) -> str:
    """``'classification'``, ``'detection'`` or ``'segmentation'``, from the
    default scope of a config of :func:`load_config`."""
    return TASKS[cfg.default_scope]


def is_detection(cfg: Config) -> bool:
    """Whether a config belongs to mmdet."""
    return task_of(cfg) == 'detection'


def default_input_shape(cfg: Config) -> Tuple[int, int]:
    """The (height, width) a config's model sees at test time.

    Detection configs use :data:`DETECTION_SHAPE`. Segmentation configs use
    the ``size`` their data preprocessor pads the images to, if set.
    Classification and segmentation configs then use the crop size of their
    test pipeline (``CenterCrop``), else of their training pipeline
    (``RandomCrop``, e.g. 32 on CIFAR, 512 on ADE20K), else
    :data:`CLASSIFICATION_SHAPE` or :data:`SEGMENTATION_SHAPE`.
    """
    task = task_of(cfg)
    if task == 'detection':
        return DETECTION_SHAPE
    preprocessor = cfg.model.get('data_preprocessor') or cfg.get(
        'data_preprocessor') or {}
    if task == 'segmentation' and preprocessor.get('size'):
        return tuple(preprocessor['size'])
    # mmcv's CenterCrop takes a (width, height) pair, the RandomCrop of
    # mmpretrain and mmseg a (height, width) one
    searches = ((cfg.get('test_pipeline', []), 'CenterCrop', True),
                (cfg.get('train_pipeline', []), 'RandomCrop', False))
    for pipeline, crop_type, width_first in searches:
        for transform in pipeline:
            if transform['type'] == crop_type:
                size = transform['crop_size']
                if isinstance(size, int):
                    return size, size
                return (size[1], size[0]) if width_first else tuple(size)
    return SEGMENTATION_SHAPE if task == 'segmentation' else \
        CLASSIFICATION_SHAPE
