"""The image and label map folders of a semantic segmentation dataset
(MMSegmentation's ``BaseSegDataset`` and its subclasses): images without
their label map, empty files, label maps that are not single-channel, and
label values that are neither a class index nor the ignore index.

MMSegmentation pairs every image of ``data_prefix.img_path`` ending in
``img_suffix`` (or named by the lines of ``ann_file``) with the label map of
the same relative name in ``data_prefix.seg_map_path``, its suffix replaced
by ``seg_map_suffix``. A missing label map stops the training at the first
batch that holds its image; a label value beyond the classes trains on a
class the model does not have (a CUDA assertion on a GPU), or is silently
counted out of the mIoU.
"""
import os
import os.path as osp
from typing import List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image

from mmdla.utils import is_local_path
from .config_walk import config_classes
from .images import (empty_or_missing, image_file_problems, load_image_step,
                     pixel_limit, undecodable_image_problems)
from .messages import listing

#: Label maps whose values are read per split, unless ``check_images``
#: reads them all: the first ones, by name.
LABEL_MAPS_READ = 100
#: Defaults of MMSegmentation's ``BaseSegDataset``.
_IMG_SUFFIX = '.jpg'
_SEG_MAP_SUFFIX = '.png'
_IGNORE_INDEX = 255


def seg_folders(dataset_cfg: dict) -> Optional[Tuple[str, str]]:
    """The image and label map folders of a segmentation dataset config
    (one whose ``data_prefix`` sets ``seg_map_path``), joined with its
    ``data_root``; ``None`` for other datasets and remote folders."""
    prefix = dataset_cfg.get('data_prefix')
    if not isinstance(prefix, dict) or 'seg_map_path' not in prefix:
        return None
    data_root = dataset_cfg.get('data_root') or ''
    img_dir = osp.join(data_root, prefix.get('img_path') or '')
    seg_dir = osp.join(data_root, prefix['seg_map_path'] or '')
    if not (is_local_path(img_dir) and is_local_path(seg_dir)):
        return None
    return img_dir, seg_dir


def _image_names(dataset_cfg: dict, img_dir: str) -> List[str]:
    """The images of a segmentation dataset, relative to ``img_dir``, as
    MMSegmentation lists them: the lines of ``ann_file`` with
    ``img_suffix`` appended, else every file under ``img_dir`` ending in
    ``img_suffix`` (recursively, without hidden files), sorted."""
    suffix = dataset_cfg.get('img_suffix', _IMG_SUFFIX)
    ann_file = dataset_cfg.get('ann_file')
    if ann_file:
        path = osp.join(dataset_cfg.get('data_root') or '', ann_file)
        with open(path) as f:
            return [line.strip() + suffix for line in f if line.strip()]
    names = []
    for folder, dirs, files in os.walk(img_dir, followlinks=True):
        dirs[:] = [name for name in dirs if not name.startswith('.')]
        rel_folder = osp.relpath(folder, img_dir)
        names += [
            osp.normpath(osp.join(rel_folder, name)) for name in files
            if name.endswith(suffix) and not name.startswith('.')
        ]
    return sorted(names)


def _class_count(dataset_cfg: dict, default_scope: Optional[str],
                 classes: Sequence[str]) -> int:
    """How many classes the label maps are numbered for: those of the
    dataset class if it has its own (a ``metainfo`` of fewer classes maps
    the others to the ignore index), else the config's ``classes``."""
    own = config_classes(
        {
            key: value
            for key, value in dataset_cfg.items() if key != 'metainfo'
        }, default_scope)
    return len(own or classes)


def _allowed_values(num_classes: int, reduce_zero_label: bool,
                    ignore_index: int) -> np.ndarray:
    """The label values MMSegmentation turns into a class index or the
    ignore index: ``0 .. num_classes - 1``, or with ``reduce_zero_label``
    ``0`` (ignored) and ``1 .. num_classes`` (shifted down by one); and the
    ignore index."""
    first = 1 if reduce_zero_label else 0
    allowed = list(range(first, first + num_classes)) + [ignore_index]
    if reduce_zero_label:
        allowed.append(0)
    return np.array(sorted(set(allowed)))


def _label_problems(paths: Sequence[str], source: str, classes: Sequence[str],
                    num_classes: int, reduce_zero_label: bool,
                    ignore_index: int) -> List[str]:
    """Errors for the label maps ``paths`` of ``source`` that have several
    channels, or values outside :func:`_allowed_values`."""
    allowed = _allowed_values(num_classes, reduce_zero_label, ignore_index)
    multichannel, wrong = [], []
    for path in paths:
        try:
            with Image.open(path) as image:
                values = np.asarray(image)
        except Exception:  # undecodable: named with check_images
            continue
        if values.ndim != 2:
            multichannel.append(f'{path} ({image.mode})')
            continue
        extra = np.setdiff1d(np.unique(values), allowed)
        if extra.size:
            shown = ', '.join(str(v) for v in extra[:5])
            wrong.append(f'{path} (values {shown})')
    problems = []
    if multichannel:
        problems.append(
            f'{len(multichannel)} label maps of {source} have several '
            f'channels: {listing(multichannel)}. A label map is a '
            'single-channel image (PNG mode L or P) holding the class index '
            'of every pixel; convert colour-coded maps to class indices.')
    if wrong:
        numbering = (f'1 to {num_classes} for the classes and 0 for pixels '
                     'not to learn from (reduce_zero_label=True)'
                     if reduce_zero_label else
                     f'0 to {num_classes - 1}, the class of each pixel')
        problems.append(
            f'{len(wrong)} label maps of {source} hold values that are no '
            f'class: {listing(wrong)}. The dataset has {num_classes} classes '
            f'({", ".join(classes)}): a label map holds {numbering}, or '
            f'{ignore_index} (ignore_index) for pixels not to learn from. '
            'Relabel these files, or, if the values are classes, add them to '
            '`metainfo.classes` of the dataset and to `num_classes` of the '
            'decode head.')
    return problems


def seg_problems(dataset_cfg: dict, key: str, img_dir: str, seg_dir: str,
                 default_scope: Optional[str],
                 check_images: bool) -> List[str]:
    """Errors of the images and label maps of a segmentation dataset config
    ``key`` whose folders (:func:`seg_folders`) exist.

    Every image must have its label map; images and label maps must not be
    empty; the label maps of each split must be single-channel and hold
    only class indices or the ignore index (the first
    :data:`LABEL_MAPS_READ` of each split are read, all of them with
    ``check_images``, which also decodes every image).
    """
    img_suffix = dataset_cfg.get('img_suffix', _IMG_SUFFIX)
    seg_suffix = dataset_cfg.get('seg_map_suffix', _SEG_MAP_SUFFIX)
    source = f'{img_dir} ({key})'
    names = _image_names(dataset_cfg, img_dir)
    if not names:
        return [
            f'The image folder {img_dir} ({key}.data_prefix.img_path) holds '
            f'no file ending in {img_suffix!r} (img_suffix). Put the images '
            'there, or set `img_suffix` of the dataset to the ending of '
            'their file names.'
        ]
    images = [osp.join(img_dir, name) for name in names]
    label_maps = [
        osp.join(seg_dir, name[:-len(img_suffix)] + seg_suffix)
        for name in names
    ]
    missing_images, empty_images = empty_or_missing(images)
    unpaired, empty_labels = empty_or_missing(label_maps)
    problems = image_file_problems(missing_images, empty_images, source)
    if unpaired:
        absent = set(unpaired)
        pairs = [
            f'{image} (no {label_map})'
            for image, label_map in zip(images, label_maps)
            if label_map in absent
        ]
        problems.append(
            f'{len(unpaired)} images of {source} have no label map in '
            f'{seg_dir} ({key}.data_prefix.seg_map_path): {listing(pairs)}. '
            'MMSegmentation pairs each image with the label map of the same '
            f'name, its {img_suffix!r} (img_suffix) replaced by '
            f'{seg_suffix!r} (seg_map_suffix). Add the missing label maps, '
            'remove these images, or set `seg_map_suffix` to the ending of '
            'the label map files.')
    if empty_labels:
        problems.append(
            f'{len(empty_labels)} label maps of {seg_dir} ({key}) are empty '
            f'(0 bytes): {listing(empty_labels)}. Copy them again or remove '
            'them with their images.')
    skipped = set(unpaired) | set(empty_labels)
    present_labels = [path for path in label_maps if path not in skipped]
    classes = config_classes(dataset_cfg, default_scope)
    if classes:
        problems += _label_problems(
            present_labels if check_images else
            present_labels[:LABEL_MAPS_READ], f'{seg_dir} ({key})', classes,
            _class_count(dataset_cfg, default_scope, classes),
            bool(dataset_cfg.get('reduce_zero_label', False)),
            dataset_cfg.get('ignore_index', _IGNORE_INDEX))
    if check_images:
        skipped = set(missing_images) | set(empty_images)
        limit = pixel_limit(load_image_step(dataset_cfg))
        problems += undecodable_image_problems(
            [path for path in images if path not in skipped], source, limit)
        problems += undecodable_image_problems(present_labels,
                                               f'{seg_dir} ({key})', limit)
    return problems
