"""COCO annotation files (``CocoDataset``) and the ``ann_file`` of COCO
evaluators: a file that is not valid JSON or lists no images, categories
that are not the classes of the config, an image id given to two images,
annotations the dataset or its pipeline drops, and an evaluator scoring
against the annotations of other images."""
import filecmp
import json
import math
import os.path as osp
import warnings
from typing import Dict, List, Optional, Sequence, Tuple

from mmengine.config import Config

from .config_walk import (evaluator_metrics, evaluator_of, prefix_folders,
                          type_name)
from .images import (empty_or_missing, image_file_problems,
                     image_size_problems, load_image_step, pixel_limit,
                     undecodable_image_problems)
from .messages import SHOWN, listing

#: Why an annotation gives no instance to learn from: the tests of
#: MMDetection's ``CocoDataset.parse_data_info`` (boxes) and of
#: ``LoadAnnotations._process_masks`` (masks, for ``with_mask=True``).
_NOT_A_BOX = 'a box that is not 4 finite numbers'
_TOO_SMALL = 'a box narrower or lower than 1 pixel, or an area <= 0'
_OUTSIDE = 'a box outside its image'
_UNKNOWN_CATEGORY = 'a category id that is not in `categories`'
_UNKNOWN_IMAGE = 'an image id that is not in `images`'
_CROWD = '`iscrowd=1` (crowd regions, ignored in training)'
_NO_SEGMENTATION = 'no `segmentation`'
_BAD_POLYGONS = ('a mask without a polygon of 3 or more points and an even '
                 'number of coordinates')
_NOT_POLYGONS = 'a mask that is not polygons, which `poly2mask=False` needs'
_BAD_RLE = ('a mask that is neither polygons nor an RLE with `counts` and '
            '`size`')
_EMPTY_MASK = 'polygons of zero area (an empty mask)'


def _box_reason(ann: dict, images: dict, category_ids: set) -> Optional[str]:
    """Why MMDetection's ``CocoDataset`` silently drops ``ann``, or ``None``
    if it keeps it."""
    box = ann.get('bbox')
    if not (isinstance(box, list) and len(box) == 4 and all(
            isinstance(v, (int, float)) and math.isfinite(v) for v in box)):
        return _NOT_A_BOX
    x, y, w, h = box
    area = ann.get('area', w * h)
    if w < 1 or h < 1 or not (isinstance(area, (int, float)) and area > 0):
        return _TOO_SMALL
    image = images.get(ann.get('image_id'))
    if image is None:
        return _UNKNOWN_IMAGE
    if (min(x + w, image.get('width', math.inf)) <= max(x, 0)
            or min(y + h, image.get('height', math.inf)) <= max(y, 0)):
        return _OUTSIDE
    if ann.get('category_id') not in category_ids:
        return _UNKNOWN_CATEGORY
    return None


def _polygon_area(polygon: Sequence[float]) -> float:
    """Area of a polygon ``[x1, y1, x2, y2, ...]`` (shoelace formula)."""
    xs, ys = polygon[0::2], polygon[1::2]
    return abs(
        sum(xs[i - 1] * ys[i] - xs[i] * ys[i - 1] for i in range(len(xs)))) / 2


def _mask_reason(segmentation, poly2mask: bool) -> Optional[str]:
    """Why MMDetection's ``LoadAnnotations(with_mask=True)`` ignores the
    instance of a (non-empty) ``segmentation``, or why its mask is empty;
    ``None`` for a usable mask."""
    if isinstance(segmentation, list):
        # MMDetection drops the polygons under 3 points or with an odd
        # number of coordinates, and ignores an instance left with none
        polygons = [
            polygon for polygon in segmentation if isinstance(polygon, list)
            and len(polygon) >= 6 and not len(polygon) % 2
        ]
        if not polygons:
            return _BAD_POLYGONS
        if all(_polygon_area(polygon) == 0 for polygon in polygons):
            return _EMPTY_MASK
        return None
    if not poly2mask:
        return _NOT_POLYGONS
    if not (isinstance(segmentation, dict)
            and segmentation.get('size') is not None
            and isinstance(segmentation.get('counts'), (list, str))):
        return _BAD_RLE
    return None


def _mask_loading(dataset_cfg: dict) -> Optional[dict]:
    """The ``LoadAnnotations`` step of the dataset's pipeline if it loads
    masks (``with_mask=True``), else ``None``."""
    for step in dataset_cfg.get('pipeline') or []:
        if (isinstance(step, dict) and type_name(step) == 'LoadAnnotations'
                and step.get('with_mask')):
            return step
    return None


def _unusable_annotations(coco: dict, category_ids: set,
                          masks: Optional[dict]) -> Dict[str, list]:
    """Ids of the annotations that give no instance to learn from, by
    reason (see :func:`_box_reason` and :func:`_mask_reason`); the masks are
    checked when ``masks``, the ``LoadAnnotations`` step of a pipeline that
    loads them, is given."""
    images = {image.get('id'): image for image in coco['images']}
    unusable: Dict[str, list] = {}
    for ann in coco.get('annotations') or []:
        reason = _box_reason(ann, images, category_ids)
        if reason is None and masks is not None and not ann.get(
                'segmentation'):
            # MMDetection stores no mask for a missing or empty segmentation
            reason = _NO_SEGMENTATION
        elif reason is None and ann.get('iscrowd'):
            reason = _CROWD
        elif reason is None and masks is not None:
            reason = _mask_reason(ann['segmentation'],
                                  masks.get('poly2mask', True))
        if reason is not None:
            unusable.setdefault(reason, []).append(ann.get('id'))
    return unusable


def _counted(reasons: Dict[str, list]) -> str:
    """``N with REASON (ids ...)`` for each reason, ``;``-separated."""
    return '; '.join(f'{len(ids)} with {reason} (ids {listing(ids)})'
                     for reason, ids in reasons.items())


def _duplicate_image_ids(images: List[dict]) -> Dict[object, List[str]]:
    """The file names of the images of each id given to several images."""
    files: Dict[object, List[str]] = {}
    for image in images:
        files.setdefault(image.get('id'),
                         []).append(str(image.get('file_name')))
    return {i: names for i, names in files.items() if len(names) > 1}


def _annotation_problems(coco: dict, source: str, category_ids: set,
                         masks: Optional[dict],
                         needs_annotations: bool) -> List[str]:
    """Errors of the annotations of a COCO file: masks a pipeline that loads
    them cannot read, and, for training and validation, no usable instance
    at all. Annotations that are ignored, or give an empty mask, are counted
    in a warning."""
    unusable = _unusable_annotations(coco, category_ids, masks)
    num_annotations = len(coco.get('annotations') or [])
    problems = []
    if _NO_SEGMENTATION in unusable:
        ids = unusable.pop(_NO_SEGMENTATION)
        problems.append(
            f'{len(ids)} annotations of {source} have no `segmentation` (ids '
            f'{listing(ids)}): the pipeline loads masks '
            '(LoadAnnotations(with_mask=True)), which stops on them with '
            "KeyError: 'mask'. Add their polygons, remove them, or load "
            'boxes only (with_mask=False, and a model without a mask head).')
    if needs_annotations and sum(map(len, unusable.values())) == \
            num_annotations:
        problems.append(
            f'{source} has no usable instance: '
            f'{_counted(unusable) or "it holds no annotation"}. The model '
            'would see no object in this split (every loss and metric 0). '
            'Fix these annotations in the file, or point `ann_file` at the '
            'annotations of your images.')
    if problems:
        return problems
    unusable.pop(_CROWD, None)
    empty_masks = unusable.pop(_EMPTY_MASK, [])
    message = []
    if unusable:
        message.append(
            f'{sum(map(len, unusable.values()))} of {num_annotations} '
            'annotations are ignored by the dataset or its pipeline: '
            f'{_counted(unusable)}.')
    if empty_masks:
        message.append(
            f'{len(empty_masks)} annotations have polygons of zero area (ids '
            f'{listing(empty_masks)}): MMDetection keeps them, with an '
            'empty mask as the target of the mask head.')
    if message:
        warnings.warn(f'{source}: ' + ' '.join(message) +
                      ' Fix or remove them in the file.')
    return []


def coco_problems(dataset_cfg: dict, key: str, classes: Optional[List[str]],
                  needs_annotations: bool, check_images: bool) -> List[str]:
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
    duplicates = _duplicate_image_ids(coco.get('images') or [])
    if duplicates:
        shown = [
            f'id {i!r} to {", ".join(names)}'
            for i, names in list(duplicates.items())[:SHOWN]
        ]
        if len(duplicates) > SHOWN:
            shown.append(f'... ({len(duplicates)} ids in all)')
        problems.append(
            f'{source} gives the same id to several images: '
            f'{"; ".join(shown)}. COCO tools keep the last image of each id, '
            'with the annotations of all of them: the others are left out, '
            'and their boxes attached to the wrong image. Give every image '
            'its own `id`, and the annotations of each image its '
            '`image_id`.')
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
                f'None of the classes of the config ({listing(classes)}) '
                f'is a category of {source} ({listing(names) or "none"}). '
                'Set `metainfo=dict(classes=(...))` of the dataset to the '
                'category names of the file (and `num_classes` of the head '
                'to their number).')
        elif len(matched) < len(classes):
            absent = [name for name in classes if name not in names]
            warnings.warn(
                f'{source} has no category named {listing(absent)}: these '
                'classes of the config get no annotations from it.')
    if problems:
        return problems
    category_ids = {c.get('id') for c in categories}
    problems = _annotation_problems(coco, source, category_ids,
                                    _mask_loading(dataset_cfg),
                                    needs_annotations)
    image_folder = dict(prefix_folders(dataset_cfg)).get(
        'data_prefix.img', data_root)
    image_paths = [
        osp.join(image_folder, image.get('file_name', ''))
        for image in coco['images']
    ]
    missing, empty = empty_or_missing(image_paths)
    problems += image_file_problems(missing, empty, source)
    unreadable = set(missing + empty)
    images = [(image, path) for image, path in zip(coco['images'], image_paths)
              if path not in unreadable]
    load_step = load_image_step(dataset_cfg)
    size_problems, oversized = image_size_problems(images, source, load_step)
    problems += size_problems
    if check_images:
        skipped = set(oversized)
        problems += undecodable_image_problems(
            [path for _, path in images if path not in skipped], source,
            pixel_limit(load_step))
    return problems


def _same_file(path: str, other: str) -> bool:
    """Whether two existing files are one file, or hold the same bytes."""
    return osp.samefile(path, other) or filecmp.cmp(path, other, shallow=False)


def evaluator_problems(cfg: Config, loader_key: str,
                       datasets: List[Tuple[dict, str]]) -> List[str]:
    """Errors for the COCO metrics of the evaluator of ``loader_key`` whose
    ``ann_file`` is not the annotation file of the dataloader's dataset (a
    single dataset; local files only)."""
    if len(datasets) != 1 or not datasets[0][0].get('ann_file'):
        return []
    dataset_cfg, key = datasets[0]
    dataset_ann = osp.join(
        dataset_cfg.get('data_root') or '', dataset_cfg['ann_file'])
    evaluator_key = evaluator_of(loader_key)
    problems = []
    for metric_key, metric_cfg in evaluator_metrics(
            cfg.get(evaluator_key), evaluator_key):
        ann_file = metric_cfg.get('ann_file')
        if ('Coco' in type_name(metric_cfg) and ann_file
                and osp.isfile(ann_file) and osp.isfile(dataset_ann)
                and not _same_file(ann_file, dataset_ann)):
            problems.append(
                f'{metric_key}.ann_file = {ann_file!r} is not the annotation '
                f'file of the dataset it evaluates, {dataset_ann} '
                f'({key}.data_root + ann_file): the metric would score the '
                'predictions on these images against the boxes of others '
                '(mAP near 0). Point it at the same file: --cfg-options '
                f'{metric_key}.ann_file={dataset_ann}')
    return problems
