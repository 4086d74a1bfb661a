"""Fail early, and helpfully, when a config's dataset is missing or wrong.

Without these checks a missing dataset surfaces deep inside dataset building
as a bare ``FileNotFoundError`` on some annotation file, a broken annotation
file as ``need at least one array to concatenate``, a missing image as a
crash in the middle of an epoch, and a stray class folder as silently shifted
labels. :func:`check_data_roots` inspects the dataloader configs and the data
they point at before the runner is built, and names the file, the config key
and the fix:

* every ``data_root``, ``ann_file`` and ``data_prefix`` folder exists;
* a COCO annotation file (``CocoDataset``) is valid JSON with images,
  annotations and categories named like the classes of the config; its image
  files exist and are not empty; annotations the dataset would drop (boxes
  that are not finite, smaller than a pixel or outside the image, unknown
  category ids) are counted in a warning;
* the class sub-folders of a folder dataset (MMPretrain's ``CustomDataset``,
  which numbers them in sorted order) are the classes of the config, and the
  same in every split; no image in them is empty.
"""
import json
import math
import os
import os.path as osp
import warnings
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

from mmengine.config import Config
from mmengine.registry import DATASETS

#: Data roots of the bundled demo datasets and the command that creates them.
DEMO_DATA_HINTS = {
    'shapes_coco': 'python tools/misc/generate_demo_data.py',
    'shapes_cls': 'python tools/misc/generate_demo_data.py',
}
_URI_PREFIXES = ('s3://', 'http://', 'https://', 'petrel://', 'hdfs://')
#: How many offending files or annotation ids a message lists.
_SHOWN = 5


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


def _dataloader_datasets(
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


def _is_local(path: str) -> bool:
    return not path.startswith(_URI_PREFIXES)


def _prefix_folders(dataset_cfg: dict) -> List[Tuple[str, str]]:
    """``(field, folder)`` of the non-empty ``data_prefix`` entries (a string
    or a dict of strings), joined with ``data_root`` as MMEngine does."""
    data_root = dataset_cfg.get('data_root') or ''
    prefix = dataset_cfg.get('data_prefix') or ''
    entries = prefix.items() if isinstance(prefix, dict) else [('', prefix)]
    return [(f'data_prefix.{name}' if name else 'data_prefix',
             osp.join(data_root, folder)) for name, folder in entries
            if isinstance(folder, str) and folder]


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
    missing += [(field, folder)
                for field, folder in _prefix_folders(dataset_cfg)
                if _is_local(folder) and not osp.isdir(folder)]
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


def _listing(items: Sequence[object]) -> str:
    """The first few ``items``, comma-separated, with ``...`` if there are
    more."""
    shown = ', '.join(str(item) for item in items[:_SHOWN])
    return shown + (', ...' if len(items) > _SHOWN else '')


def _dataset_type(dataset_cfg: dict) -> str:
    """The class name of a dataset config's ``type``, without its scope."""
    dataset_type = dataset_cfg.get('type')
    return dataset_type.split('.')[-1] if isinstance(dataset_type, str) else ''


def _config_classes(dataset_cfg: dict,
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


def _empty_or_missing(paths: Sequence[str]) -> Tuple[List[str], List[str]]:
    """The ``paths`` that do not exist, and those of zero bytes."""
    missing, empty = [], []
    for path in paths:
        try:
            size = os.stat(path).st_size
        except OSError:
            missing.append(path)
            continue
        if size == 0:
            empty.append(path)
    return missing, empty


def _image_file_problems(missing: List[str], empty: List[str],
                         source: str) -> List[str]:
    """Messages for missing and zero-byte image files of ``source``."""
    problems = []
    if missing:
        problems.append(
            f'{len(missing)} image files listed in {source} do not exist: '
            f'{_listing(missing)}. Put them there, fix `data_prefix`, or '
            'remove their entries.')
    if empty:
        problems.append(
            f'{len(empty)} image files of {source} are empty (0 bytes): '
            f'{_listing(empty)}. Copy them again or remove them.')
    return problems


def _ignored_annotations(coco: dict, category_ids: set) -> Dict[str, list]:
    """Ids of the annotations MMDetection's ``CocoDataset`` silently drops,
    by reason (the tests of its ``parse_data_info``)."""
    images = {image.get('id'): image for image in coco['images']}
    ignored: Dict[str, list] = {
        'a box that is not 4 finite numbers': [],
        'a box narrower or lower than 1 pixel, or an area <= 0': [],
        'a box outside its image': [],
        'a category id that is not in `categories`': [],
        'an image id that is not in `images`': [],
    }
    reasons = list(ignored)
    for ann in coco.get('annotations') or []:
        ann_id = ann.get('id')
        box = ann.get('bbox')
        image = images.get(ann.get('image_id'))
        if not (isinstance(box, list) and len(box) == 4 and all(
                isinstance(v, (int, float)) and math.isfinite(v)
                for v in box)):
            ignored[reasons[0]].append(ann_id)
            continue
        x, y, w, h = box
        area = ann.get('area', w * h)
        if w < 1 or h < 1 or not (isinstance(area, (int, float)) and area > 0):
            ignored[reasons[1]].append(ann_id)
        elif image is None:
            ignored[reasons[4]].append(ann_id)
        elif (min(x + w, image.get('width', math.inf)) <= max(x, 0)
              or min(y + h, image.get('height', math.inf)) <= max(y, 0)):
            ignored[reasons[2]].append(ann_id)
        elif ann.get('category_id') not in category_ids:
            ignored[reasons[3]].append(ann_id)
    return {reason: ids for reason, ids in ignored.items() if ids}


def _coco_problems(dataset_cfg: dict, key: str, classes: Optional[List[str]],
                   needs_annotations: bool) -> List[str]:
    """Errors of a COCO annotation file and its images; annotations the
    dataset would drop are reported as a warning."""
    data_root = dataset_cfg.get('data_root') or ''
    path = osp.join(data_root, dataset_cfg['ann_file'])
    source = f'{path} ({key}.ann_file)'
    try:
        with open(path, encoding='utf-8') as f:
            coco = json.load(f)
    except json.JSONDecodeError as error:
        return [
            f'{source} is not valid JSON: {error.msg} at line '
            f'{error.lineno}, column {error.colno}. The file is damaged or '
            'truncated: create or download it again.'
        ]
    except (UnicodeDecodeError, IsADirectoryError) as error:
        return [f'{source} is not a JSON text file ({error}).']
    if not isinstance(coco, dict):
        return [
            f'{source} is not a COCO annotation file: it holds a '
            f'{type(coco).__name__}, not an object with `images`, '
            '`annotations` and `categories`.'
        ]
    problems = []
    if not coco.get('images'):
        problems.append(f'{source} lists no images (`images` is missing or '
                        'empty): point `ann_file` at the annotations of '
                        'your images.')
    if needs_annotations and 'annotations' not in coco:
        problems.append(
            f'{source} has no `annotations` key, so it holds no labels (an '
            'image list for a test server?): training and validation need '
            'an annotated file.')
    categories = [
        c for c in coco.get('categories') or [] if isinstance(c, dict)
    ]
    names = [c.get('name') for c in categories]
    if classes is not None:
        matched = [name for name in classes if name in names]
        if not matched:
            problems.append(
                f'None of the classes of the config ({_listing(classes)}) '
                f'is a category of {source} ({_listing(names) or "none"}). '
                'Set `metainfo=dict(classes=(...))` of the dataset to the '
                'category names of the file (and `num_classes` of the head '
                'to their number).')
        elif len(matched) < len(classes):
            absent = [name for name in classes if name not in names]
            warnings.warn(
                f'{source} has no category named {_listing(absent)}: these '
                'classes of the config get no annotations from it.')
    if problems:
        return problems
    ignored = _ignored_annotations(coco, {c.get('id') for c in categories})
    if ignored:
        details = '; '.join(f'{len(ids)} with {reason} (ids {_listing(ids)})'
                            for reason, ids in ignored.items())
        warnings.warn(
            f'{source}: {sum(map(len, ignored.values()))} of '
            f'{len(coco.get("annotations") or [])} annotations are ignored '
            f'by the dataset: {details}. Fix or remove them in the file.')
    image_folder = dict(_prefix_folders(dataset_cfg)).get(
        'data_prefix.img', data_root)
    image_paths = [
        osp.join(image_folder, image.get('file_name', ''))
        for image in coco['images']
    ]
    return _image_file_problems(*_empty_or_missing(image_paths), source)


def _class_folders(dataset_cfg: dict) -> Optional[Tuple[str, List[str]]]:
    """The image folder of a class-folder dataset (``CustomDataset``
    without ``ann_file``) and its sub-folders, sorted; ``None`` for other
    datasets."""
    if (_dataset_type(dataset_cfg) != 'CustomDataset'
            or dataset_cfg.get('ann_file')
            or not dataset_cfg.get('with_label', True)):
        return None
    prefixes = dict(_prefix_folders(dataset_cfg))
    root = prefixes.get(
        'data_prefix',
        prefixes.get('data_prefix.img_path',
                     dataset_cfg.get('data_root') or ''))
    if not _is_local(root) or not osp.isdir(root):
        return None
    return root, sorted(
        entry.name for entry in os.scandir(root) if entry.is_dir())


def _empty_files(root: str) -> List[str]:
    """Files of zero bytes under ``root``."""
    return [
        osp.join(folder, name) for folder, _, files in os.walk(root)
        for name in files if os.stat(osp.join(folder, name)).st_size == 0
    ]


def _class_folder_problems(
    datasets: List[Tuple[str, str, List[str],
                         Optional[List[str]]]]) -> List[str]:
    """Check the class folders of ``(key, root, sub-folders, classes of the
    config or None)`` against the classes of the config, or, where none are
    set, against the first dataset's."""
    problems = []
    reference: Optional[Tuple[List[str], str]] = None
    for key, root, folders, classes in datasets:
        if classes is not None:
            expected, origin = classes, f'the classes of {key}.metainfo'
        elif reference is not None:
            expected, origin = reference
        else:
            expected, origin = folders, f'the class folders of {key}'
        reference = reference or (expected, origin)
        if folders == expected:
            continue
        extra = [name for name in folders if name not in expected]
        absent = [name for name in expected if name not in folders]
        difference = '; '.join(
            [f'extra: {", ".join(extra)}'] * bool(extra) +
            [f'missing: {", ".join(absent)}'] * bool(absent)
        ) or 'the same names, listed in another order than the sorted folders'
        problems.append(
            f'The class folders of {root} ({key}) are not {origin} '
            f'({difference}). MMPretrain\'s CustomDataset numbers the class '
            'folders in sorted order, so its labels would not be these '
            'classes. Remove or rename the extra folders and create the '
            'missing ones (they may stay empty); the classes of the config '
            '(`metainfo=dict(classes=(...))`) are the folder names, sorted.')
    return problems


def _content_problems(cfg: Config, dataloaders: Sequence[str]) -> List[str]:
    """Problems of the annotation files, images and class folders of the
    datasets of ``dataloaders`` (all of which exist)."""
    problems: List[str] = []
    folder_datasets = []
    for loader_key, datasets in _dataloader_datasets(cfg, dataloaders):
        for dataset_cfg, key in datasets:
            ann_file = osp.join(
                dataset_cfg.get('data_root') or '',
                dataset_cfg.get('ann_file') or '')
            if (_dataset_type(dataset_cfg) == 'CocoDataset'
                    and dataset_cfg.get('ann_file') and _is_local(ann_file)):
                problems += _coco_problems(
                    dataset_cfg,
                    key,
                    _config_classes(dataset_cfg, cfg.get('default_scope')),
                    needs_annotations=loader_key != 'test_dataloader')
            folders = _class_folders(dataset_cfg)
            if folders is not None:
                root, names = folders
                metainfo = dataset_cfg.get('metainfo') or {}
                classes = metainfo.get('classes')
                folder_datasets.append(
                    (key, root, names,
                     None if classes is None else list(classes)))
                problems += _image_file_problems([], _empty_files(root),
                                                 f'{root} ({key})')
    problems += _class_folder_problems(folder_datasets)
    # a dataset shared by several dataloaders is reported once
    return list(dict.fromkeys(problems))


def check_data_roots(
    cfg: Config,
    dataloaders: Sequence[str] = ('train_dataloader', 'val_dataloader',
                                  'test_dataloader')
) -> None:
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

    Args:
        cfg: The (merged) config.
        dataloaders: Names of the dataloader fields to check.

    Then the data itself is checked (see the module's documentation):
    COCO annotation files and their images, and the class folders of
    ``CustomDataset``. Annotations the dataset would drop are counted in a
    warning.

    Raises:
        FileNotFoundError: If a ``data_root`` folder, an annotation file or
            an image folder is missing. The message names each missing
            location, the config key that sets it, and how to override it
            with ``--cfg-options``.
        ValueError: If the data does not match the config: each problem
            names its file or folder, its config key and the fix.
    """
    missing: List[Tuple[str, str]] = []
    for loader_key, datasets in _dataloader_datasets(cfg, dataloaders):
        for dataset_cfg, key in datasets:
            missing += [(f'{key}.{field}', path)
                        for field, path in _missing_paths(dataset_cfg)]
        evaluator_key = loader_key.replace('_dataloader', '_evaluator')
        for i, ann_file in _evaluator_ann_files(cfg.get(evaluator_key)):
            if _is_local(ann_file) and not osp.exists(ann_file):
                key = evaluator_key if i < 0 else f'{evaluator_key}.{i}'
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
    problems = _content_problems(cfg, dataloaders)
    if problems:
        raise ValueError('The data of this config does not match it:\n' +
                         '\n'.join(f'- {problem}' for problem in problems))
