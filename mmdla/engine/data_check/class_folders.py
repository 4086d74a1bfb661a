"""The class folders of a folder dataset (MMPretrain's ``CustomDataset``,
which numbers them in sorted order): folders that are not the classes of
the config or differ between splits, symbolic links that loop, class
folders of files MMPretrain does not read, and empty or (on request)
undecodable images."""
import errno
import inspect
import os
import os.path as osp
from collections import Counter
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

from mmdla.utils import is_local_path
from .config_walk import prefix_folders, type_name
from .images import (empty_or_missing, image_file_problems, load_image_step,
                     pixel_limit, undecodable_image_problems)
from .messages import listing


def dataset_class_folders(
        dataset_cfg: dict) -> Optional[Tuple[str, List[str]]]:
    """The image folder of a class-folder dataset (``CustomDataset``
    without ``ann_file``) and its sub-folders, sorted; ``None`` for other
    datasets."""
    if (type_name(dataset_cfg) != 'CustomDataset'
            or dataset_cfg.get('ann_file')
            or not dataset_cfg.get('with_label', True)):
        return None
    prefixes = dict(prefix_folders(dataset_cfg))
    root = prefixes.get(
        'data_prefix',
        prefixes.get('data_prefix.img_path',
                     dataset_cfg.get('data_root') or ''))
    if not is_local_path(root) or not osp.isdir(root):
        return None
    return root, sorted(
        entry.name for entry in os.scandir(root) if osp.isdir(entry.path))


def _is_loop(entry: os.DirEntry, ancestors: Sequence[Tuple[int, int]]) -> bool:
    """Whether MMEngine's ``list_dir_or_file`` would loop on ``entry``: a
    symbolic link that does not resolve for too many levels of links
    (unless hidden: it skips these), or one to a folder it lies in, one of
    ``ancestors`` (their ``(st_dev, st_ino)``)."""
    if not entry.is_symlink():
        return False
    try:
        target = entry.stat()
    except OSError as error:
        return error.errno == errno.ELOOP and not entry.name.startswith('.')
    return (target.st_dev, target.st_ino) in ancestors


def _walk(
    folder: str, ancestors: Tuple[Tuple[int, int], ...] = ()
) -> Iterator[Tuple[str, bool]]:
    """Yield ``(path, False)`` for each file under ``folder`` that MMEngine's
    ``list_dir_or_file`` lists (recursively, following links to folders,
    without hidden files), and ``(path, True)`` for each symbolic link it
    would loop on (see :func:`_is_loop`), instead of following it."""
    info = os.stat(folder)
    ancestors += ((info.st_dev, info.st_ino), )
    for entry in sorted(os.scandir(folder), key=lambda entry: entry.name):
        if _is_loop(entry, ancestors):
            yield entry.path, True
        elif not entry.name.startswith('.') and entry.is_file():
            yield entry.path, False
        elif osp.isdir(entry.path):
            yield from _walk(entry.path, ancestors)


def _class_files(
        root: str,
        names: Sequence[str]) -> Tuple[Dict[str, List[str]], List[str]]:
    """The files of each class folder ``names`` of ``root``, listed as
    MMPretrain lists them (see :func:`_walk`), and the symbolic links under
    ``root`` on which that listing would loop."""
    files: Dict[str, List[str]] = {name: [] for name in names}
    loops = []
    prefix = osp.join(root, '')
    for path, is_loop in _walk(root):
        name = path[len(prefix):].split(os.sep, 1)[0]
        if is_loop:
            loops.append(path)
        elif name in files:
            files[name].append(path)
    return files, loops


def _loop_problems(loops: List[str], root: str, key: str) -> List[str]:
    """An error naming the symbolic ``loops`` under the class folders
    ``root`` of ``key``."""
    if not loops:
        return []
    return [
        f'{len(loops)} symbolic links under {root} ({key}) lead back to a '
        f'folder they are in, or to each other: {listing(loops)}. '
        "MMPretrain's CustomDataset follows links to folders, and would "
        'stop on them with "OSError: [Errno 40] Too many levels of symbolic '
        'links". Remove these links (`rm LINK`, without a trailing slash, '
        'removes the link only).'
    ]


def _read_extensions(dataset_cfg: dict) -> Optional[Tuple[str, ...]]:
    """The file extensions a ``CustomDataset`` config reads: its
    ``extensions``, else MMPretrain's default; ``None`` if MMPretrain is not
    installed."""
    extensions = dataset_cfg.get('extensions')
    if extensions is None:
        try:
            from mmpretrain.datasets import CustomDataset
        except ImportError:  # the runner will name the missing package
            return None
        extensions = inspect.signature(
            CustomDataset.__init__).parameters['extensions'].default
    return tuple(extension.lower() for extension in extensions)


def _unread_class_problems(root: str, key: str, files: Dict[str, List[str]],
                           extensions: Tuple[str, ...]) -> List[str]:
    """Errors for the class folders of ``root`` that hold files, but none of
    the ``extensions`` MMPretrain reads (an empty class folder is allowed)."""
    problems = []
    for name, paths in files.items():
        if not paths or any(p.lower().endswith(extensions) for p in paths):
            continue
        kinds = Counter(
            osp.splitext(p)[1].lower() or 'without extension' for p in paths)
        problems.append(
            f'The class folder {osp.join(root, name)} ({key}) holds '
            f'{len(paths)} files (' +
            ', '.join(f'{n} {kind}' for kind, n in kinds.most_common()) +
            f') but no image MMPretrain reads, so class {name!r} would have '
            'no image in this split. Convert them to a supported extension '
            f'({", ".join(extensions)}), or, if OpenCV decodes them, add '
            'theirs to `extensions=(...)` of the dataset config.')
    return problems


def class_image_problems(dataset_cfg: dict, key: str, root: str,
                         names: Sequence[str],
                         check_images: bool) -> List[str]:
    """Errors of the files in the class folders ``names`` of ``root``: class
    folders of files MMPretrain does not read, empty images and, with
    ``check_images``, images that do not decode."""
    files, loops = _class_files(root, names)
    extensions = _read_extensions(dataset_cfg)
    images = [
        path for paths in files.values() for path in paths
        if extensions is None or path.lower().endswith(extensions)
    ]
    source = f'{root} ({key})'
    empty = empty_or_missing(images)[1]
    problems = _loop_problems(loops, root, key)
    problems += image_file_problems([], empty, source)
    if extensions is not None:
        problems += _unread_class_problems(root, key, files, extensions)
    if check_images:
        skipped = set(empty)
        problems += undecodable_image_problems(
            [path for path in images if path not in skipped], source,
            pixel_limit(load_image_step(dataset_cfg)))
    return problems


def class_folder_problems(
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
