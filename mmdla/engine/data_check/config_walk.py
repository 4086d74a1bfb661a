"""What a config says about its data: the datasets of its dataloaders
(through dataset wrappers), their folders, the metrics of its evaluators
and the classes of each dataset."""
import os.path as osp
from typing import Iterator, List, Optional, Sequence, Tuple

from mmengine.config import Config
from mmengine.registry import DATASETS


def _iter_datasets(dataset_cfg: dict, key: str) -> Iterator[Tuple[dict, str]]:
    """Yield leaf dataset configs and their config keys, looking through
    dataset wrappers (``RepeatDataset``, ``ConcatDataset``, ...)."""
    if 'datasets' in dataset_cfg:
        for i, child in enumerate(dataset_cfg['datasets']):
            yield from _iter_datasets(child, f'{key}.datasets.{i}')
    elif 'dataset' in dataset_cfg:
        yield from _iter_datasets(dataset_cfg['dataset'], f'{key}.dataset')
    else:
        yield dataset_cfg, key


def dataloader_datasets(
    cfg: Config, dataloaders: Sequence[str]
) -> Iterator[Tuple[str, Iterator[Tuple[dict, str]]]]:
    """Yield the name of each of ``dataloaders`` that the config sets with
    a ``dataset``, with its leaf dataset configs and their config keys (see
    :func:`_iter_datasets`); absent dataloaders, or ones set to None, are
    skipped."""
    for loader_key in dataloaders:
        loader_cfg = cfg.get(loader_key)
        if loader_cfg and 'dataset' in loader_cfg:
            yield loader_key, _iter_datasets(loader_cfg['dataset'],
                                             f'{loader_key}.dataset')


def prefix_folders(dataset_cfg: dict) -> List[Tuple[str, str]]:
    """``(field, folder)`` of the non-empty ``data_prefix`` entries (a string
    or a dict of strings), joined with ``data_root`` as MMEngine does."""
    data_root = dataset_cfg.get('data_root') or ''
    prefix = dataset_cfg.get('data_prefix') or ''
    entries = prefix.items() if isinstance(prefix, dict) else [('', prefix)]
    return [(f'data_prefix.{name}' if name else 'data_prefix',
             osp.join(data_root, folder)) for name, folder in entries
            if isinstance(folder, str) and folder]


def evaluator_of(loader_key: str) -> str:
    """The config key of the evaluator that scores the dataloader
    ``loader_key`` (``val_evaluator`` for ``val_dataloader``)."""
    return loader_key.replace('_dataloader', '_evaluator')


def evaluator_metrics(evaluator_cfg,
                      evaluator_key: str) -> Iterator[Tuple[str, dict]]:
    """Yield the config key and config of each metric of an evaluator config
    (a dict, or a list of dicts keyed by their index)."""
    if isinstance(evaluator_cfg, dict):
        yield evaluator_key, evaluator_cfg
    elif isinstance(evaluator_cfg, (list, tuple)):
        for i, metric_cfg in enumerate(evaluator_cfg):
            if isinstance(metric_cfg, dict):
                yield f'{evaluator_key}.{i}', metric_cfg


def type_name(cfg: dict) -> str:
    """The class name of a config's ``type``, without its scope."""
    name = cfg.get('type')
    return name.split('.')[-1] if isinstance(name, str) else ''


def config_classes(dataset_cfg: dict,
                   default_scope: Optional[str]) -> Optional[List[str]]:
    """The classes a dataset config uses: its ``metainfo`` classes, else the
    ``METAINFO`` of its dataset class; ``None`` if neither is known."""
    metainfo = dataset_cfg.get('metainfo')
    if isinstance(metainfo, dict) and metainfo.get('classes'):
        return list(metainfo['classes'])
    dataset_type = dataset_cfg.get('type')
    if not isinstance(dataset_type, str):
        return None
    if '.' not in dataset_type and default_scope:
        dataset_type = f'{default_scope}.{dataset_type}'
    try:
        dataset_class = DATASETS.get(dataset_type)
    except Exception:  # an unknown scope: the runner will report it
        return None
    classes = getattr(dataset_class, 'METAINFO', {}).get('classes')
    return list(classes) if classes else None
