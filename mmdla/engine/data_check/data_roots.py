"""The entry point of the data checks: every folder and file a config
names exists, then the data in them holds what the config expects."""
import os.path as osp
from typing import List, Sequence, Tuple

from mmengine.config import Config

from mmdla.utils import is_local_path
from .class_folders import (class_folder_problems, class_image_problems,
                            dataset_class_folders)
from .coco import coco_problems, evaluator_problems
from .config_walk import (config_classes, dataloader_datasets,
                          evaluator_metrics, evaluator_of, prefix_folders,
                          type_name)
from .seg_folders import seg_folders, seg_problems

#: Data roots of the bundled demo datasets and the command that creates them.
DEMO_DATA_HINTS = {
    'shapes_coco': 'python tools/misc/generate_demo_data.py',
    'shapes_cls': 'python tools/misc/generate_demo_data.py',
    'shapes_seg': 'python tools/misc/generate_demo_data.py',
}


def _missing_paths(dataset_cfg: dict) -> List[Tuple[str, str]]:
    """``(field, path)`` pairs of a dataset config that do not exist."""
    data_root = dataset_cfg.get('data_root') or ''
    if data_root and is_local_path(data_root) and not osp.isdir(data_root):
        return [('data_root', data_root)]
    missing = []
    ann_file = dataset_cfg.get('ann_file') or ''
    if ann_file:
        path = osp.join(data_root, ann_file)
        if is_local_path(path) and not osp.exists(path):
            missing.append(('ann_file', path))
    missing += [(field, folder)
                for field, folder in prefix_folders(dataset_cfg)
                if is_local_path(folder) and not osp.isdir(folder)]
    return missing


def _hint(path: str) -> str:
    """How to create the data of ``path`` if it lies in a bundled demo
    dataset; an empty string otherwise."""
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


def _content_problems(cfg: Config, dataloaders: Sequence[str],
                      check_images: bool) -> List[str]:
    """Problems of the annotation files, images, class folders and label
    maps of the datasets of ``dataloaders`` (all of which exist), and of the
    annotation files of their evaluators."""
    problems: List[str] = []
    folder_datasets = []
    for loader_key, datasets in dataloader_datasets(cfg, dataloaders):
        datasets = list(datasets)
        for dataset_cfg, key in datasets:
            ann_file = osp.join(
                dataset_cfg.get('data_root') or '',
                dataset_cfg.get('ann_file') or '')
            if (type_name(dataset_cfg) == 'CocoDataset'
                    and dataset_cfg.get('ann_file')
                    and is_local_path(ann_file)):
                problems += coco_problems(
                    dataset_cfg,
                    key,
                    config_classes(dataset_cfg, cfg.get('default_scope')),
                    needs_annotations=loader_key != 'test_dataloader',
                    check_images=check_images)
            folders = dataset_class_folders(dataset_cfg)
            if folders is not None:
                root, names = folders
                metainfo = dataset_cfg.get('metainfo') or {}
                classes = metainfo.get('classes')
                folder_datasets.append(
                    (key, root, names,
                     None if classes is None else list(classes)))
                problems += class_image_problems(dataset_cfg, key, root, names,
                                                 check_images)
            folders = seg_folders(dataset_cfg)
            if folders is not None:
                problems += seg_problems(dataset_cfg, key, *folders,
                                         cfg.get('default_scope'),
                                         check_images)
        problems += evaluator_problems(cfg, loader_key, datasets)
    problems += class_folder_problems(folder_datasets)
    # a dataset shared by several dataloaders is reported once
    return list(dict.fromkeys(problems))


def check_data_roots(cfg: Config,
                     dataloaders: Sequence[str] = ('train_dataloader',
                                                   'val_dataloader',
                                                   'test_dataloader'),
                     check_images: bool = False) -> None:
    """Check that the datasets of the given dataloaders exist on disk and
    hold what the config expects.

    The ``data_root``, ``ann_file`` and ``data_prefix`` folders of every
    dataset (looking through dataset wrappers) are checked, and the
    ``ann_file`` of the matching
    evaluator (``val_evaluator`` for ``val_dataloader``, ``test_evaluator``
    for ``test_dataloader``), as COCO metrics read their own copy. Only local
    paths are checked (``s3://`` and other URIs are skipped); dataloaders
    absent from the config, or set to ``None``, are ignored. Relative paths
    are resolved against the current working directory, as MMEngine does.

    Then the data itself is checked (see :mod:`mmdla.engine.data_check`):
    COCO annotation files and their images, the ``ann_file`` of COCO
    evaluators, the class folders of ``CustomDataset``, and the images and
    label maps of segmentation datasets (``data_prefix.seg_map_path``).
    Annotations the dataset would drop are counted in a warning.

    Args:
        cfg: The (merged) config.
        dataloaders: Names of the dataloader fields to check.
        check_images: Also open and decode every image of the COCO,
            class-folder and segmentation datasets, and every label map
            (this reads every file), so that a truncated or damaged image,
            or one larger than OpenCV decodes, is found before training.

    Raises:
        FileNotFoundError: If a ``data_root`` folder, an annotation file or
            an image folder is missing. The message names each missing
            location, the config key that sets it, and how to override it
            with ``--cfg-options``.
        ValueError: If the data does not match the config: each problem
            names its file or folder, its config key and the fix.
    """
    missing: List[Tuple[str, str]] = []
    for loader_key, datasets in dataloader_datasets(cfg, dataloaders):
        for dataset_cfg, key in datasets:
            missing += [(f'{key}.{field}', path)
                        for field, path in _missing_paths(dataset_cfg)]
        evaluator_key = evaluator_of(loader_key)
        for key, metric_cfg in evaluator_metrics(
                cfg.get(evaluator_key), evaluator_key):
            ann_file = metric_cfg.get('ann_file')
            if ann_file and is_local_path(ann_file) \
                    and not osp.exists(ann_file):
                missing.append((f'{key}.ann_file', ann_file))
    # the same path is often shared by several keys; report each key once
    missing = list(dict.fromkeys(missing))
    if missing:
        lines = [
            f'  {key} = {path!r} (looked for {osp.abspath(path)})'
            for key, path in missing
        ]
        overrides = ' '.join(f'{key}={_placeholder(path, missing)}'
                             for key, path in missing)
        raise FileNotFoundError(
            'The dataset of this config was not found:\n' + '\n'.join(lines) +
            '\nPut (or symlink) the data there, or point the config at '
            'another location from the command line:\n'
            f'  --cfg-options {overrides}' + _hint(missing[0][1]))
    problems = _content_problems(cfg, dataloaders, check_images)
    if problems:
        raise ValueError('The data of this config does not match it:\n' +
                         '\n'.join(f'- {problem}' for problem in problems))
