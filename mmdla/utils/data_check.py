"""Fail early, and helpfully, when a config's dataset is not on disk.

Without this check a missing dataset surfaces deep inside dataset building as
a bare ``FileNotFoundError`` on some annotation file, after the model has
been built. :func:`check_data_roots` inspects the dataloader configs before
the runner is built and names the folder that is expected, the config key
that sets it, and how to point it elsewhere from the command line.
"""
import os.path as osp
from typing import Iterator, List, Sequence, Tuple

from mmengine.config import Config

#: Data roots of the bundled demo datasets and the command that creates them.
DEMO_DATA_HINTS = {
    'shapes_coco': 'python tools/misc/generate_demo_data.py',
    'shapes_cls': 'python tools/misc/generate_demo_data.py',
}
_URI_PREFIXES = ('s3://', 'http://', 'https://', 'petrel://', 'hdfs://')


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


def _is_local(path: str) -> bool:
    return not path.startswith(_URI_PREFIXES)


def _missing_paths(dataset_cfg: dict) -> List[Tuple[str, str]]:
    """``(field, path)`` pairs of a dataset config that do not exist."""
    data_root = dataset_cfg.get('data_root') or ''
    if data_root and _is_local(data_root) and not osp.isdir(data_root):
        return [('data_root', data_root)]
    missing = []
    ann_file = dataset_cfg.get('ann_file') or ''
    if ann_file:
        path = osp.join(data_root, ann_file)
        if _is_local(path) and not osp.exists(path):
            missing.append(('ann_file', path))
    return missing


def _hint(path: str) -> str:
    for name, command in DEMO_DATA_HINTS.items():
        if name in osp.normpath(path).split(osp.sep):
            return (f'\nThis is a bundled demo dataset; create it with '
                    f'`{command}`.')
    return ''


def _placeholder(path: str, missing: List[Tuple[str, str]]) -> str:
    """``path`` with its dataset folder replaced by ``/path/to/<name>/``."""
    for key, root in missing:
        if key.endswith('data_root') and path.startswith(root):
            name = osp.basename(osp.normpath(root))
            return f'/path/to/{name}/' + path[len(root):].lstrip('/')
    return f'/path/to/{osp.basename(path)}'


def _evaluator_ann_files(evaluator_cfg) -> Iterator[Tuple[int, str]]:
    """Yield ``(index, ann_file)`` of an evaluator config (a dict or a list
    of dicts); the index is ``-1`` for a single dict."""
    if isinstance(evaluator_cfg, dict):
        if evaluator_cfg.get('ann_file'):
            yield -1, evaluator_cfg['ann_file']
    elif isinstance(evaluator_cfg, (list, tuple)):
        for i, metric_cfg in enumerate(evaluator_cfg):
            if isinstance(metric_cfg, dict) and metric_cfg.get('ann_file'):
                yield i, metric_cfg['ann_file']


def check_data_roots(
    cfg: Config,
    dataloaders: Sequence[str] = ('train_dataloader', 'val_dataloader',
                                  'test_dataloader')
) -> None:
    """Check that the datasets of the given dataloaders exist on disk.

    The ``data_root`` and ``ann_file`` of every dataset (looking through
    dataset wrappers) are checked, and the ``ann_file`` of the matching
    evaluator (``val_evaluator`` for ``val_dataloader``, ``test_evaluator``
    for ``test_dataloader``), as COCO metrics read their own copy. Only local
    paths are checked (``s3://`` and other URIs are skipped); dataloaders
    absent from the config, or set to ``None``, are ignored. Relative paths
    are resolved against the current working directory, as MMEngine does.

    Args:
        cfg: The (merged) config.
        dataloaders: Names of the dataloader fields to check.

    Raises:
        FileNotFoundError: If a ``data_root`` folder or an annotation file is
            missing. The message names each missing location, the config key
            that sets it, and how to override it with ``--cfg-options``.
    """
    missing: List[Tuple[str, str]] = []
    for loader_key in dataloaders:
        loader_cfg = cfg.get(loader_key)
        if not loader_cfg or 'dataset' not in loader_cfg:
            continue
        for dataset_cfg, key in _iter_datasets(loader_cfg['dataset'],
                                               f'{loader_key}.dataset'):
            missing += [(f'{key}.{field}', path)
                        for field, path in _missing_paths(dataset_cfg)]
        evaluator_key = loader_key.replace('_dataloader', '_evaluator')
        for i, ann_file in _evaluator_ann_files(cfg.get(evaluator_key)):
            if _is_local(ann_file) and not osp.exists(ann_file):
                key = evaluator_key if i < 0 else f'{evaluator_key}.{i}'
                missing.append((f'{key}.ann_file', ann_file))
    # the same path is often shared by several keys; report each key once
    missing = list(dict.fromkeys(missing))
    if not missing:
        return
    lines = [
        f'  {key} = {path!r} (looked for {osp.abspath(path)})'
        for key, path in missing
    ]
    overrides = ' '.join(f'{key}={_placeholder(path, missing)}'
                         for key, path in missing)
    raise FileNotFoundError(
        'The dataset of this config was not found:\n' + '\n'.join(lines) +
        '\nPut (or symlink) the data there, or point the config at another '
        'location from the command line:\n'
        f'  --cfg-options {overrides}' + _hint(missing[0][1]))
