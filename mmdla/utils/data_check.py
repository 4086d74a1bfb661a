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
  annotations and categories named like the classes of the config, and no
  image id given to two images; its image files exist and are not empty,
  and, read from their headers, are the size of their entries as the
  pipeline loads them (turned by their EXIF orientation, unless its
  ``LoadImageFromFile`` ignores it), with no more pixels than OpenCV
  decodes (``OPENCV_IO_MAX_IMAGE_PIXELS``); annotations the dataset would
  drop (boxes that are not finite, smaller than a pixel or outside the
  image, unknown category ids) and, for a pipeline that loads masks,
  instances MMDetection ignores for their polygons are counted in a
  warning, and a split left with no usable instance is an error;
* the ``ann_file`` of a COCO evaluator is the annotation file of the dataset
  it evaluates;
* the class sub-folders of a folder dataset (MMPretrain's ``CustomDataset``,
  which numbers them in sorted order) are the classes of the config, and the
  same in every split; no symbolic link under them loops (MMPretrain
  follows links to folders), no image in them is empty, and no class folder
  holds only files of extensions MMPretrain does not read;
* with ``check_images=True``, every image of these datasets decodes fully,
  and has no more pixels than OpenCV decodes (PIL's smaller
  decompression-bomb limit does not apply).
"""
import errno
import filecmp
import inspect
import json
import math
import os
import os.path as osp
import warnings
from collections import Counter
from contextlib import contextmanager
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

from mmengine.config import Config
from mmengine.registry import DATASETS
from PIL import Image

from .paths import is_local_path

#: Data roots of the bundled demo datasets and the command that creates them.
DEMO_DATA_HINTS = {
    'shapes_coco': 'python tools/misc/generate_demo_data.py',
    'shapes_cls': 'python tools/misc/generate_demo_data.py',
}
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
    if data_root and is_local_path(data_root) and not osp.isdir(data_root):
        return [('data_root', data_root)]
    missing = []
    ann_file = dataset_cfg.get('ann_file') or ''
    if ann_file:
        path = osp.join(data_root, ann_file)
        if is_local_path(path) and not osp.exists(path):
            missing.append(('ann_file', path))
    missing += [(field, folder)
                for field, folder in _prefix_folders(dataset_cfg)
                if is_local_path(folder) and not osp.isdir(folder)]
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


def _evaluator_metrics(evaluator_cfg,
                       evaluator_key: str) -> Iterator[Tuple[str, dict]]:
    """Yield the config key and config of each metric of an evaluator config
    (a dict, or a list of dicts keyed by their index)."""
    if isinstance(evaluator_cfg, dict):
        yield evaluator_key, evaluator_cfg
    elif isinstance(evaluator_cfg, (list, tuple)):
        for i, metric_cfg in enumerate(evaluator_cfg):
            if isinstance(metric_cfg, dict):
                yield f'{evaluator_key}.{i}', metric_cfg


def _listing(items: Sequence[object]) -> str:
    """The first few ``items``, comma-separated, with ``...`` if there are
    more."""
    shown = ', '.join(str(item) for item in items[:_SHOWN])
    return shown + (', ...' if len(items) > _SHOWN else '')


def _type_name(cfg: dict) -> str:
    """The class name of a config's ``type``, without its scope."""
    type_name = cfg.get('type')
    return type_name.split('.')[-1] if isinstance(type_name, str) else ''


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


#: The EXIF tag of an image's orientation, and its values that swap the
#: image's width and height (turns by 90 or 270 degrees, mirrored or not).
_ORIENTATION = 0x0112
_SWAPPING = (5, 6, 7, 8)
#: The most pixels OpenCV decodes unless the environment variable
#: ``OPENCV_IO_MAX_IMAGE_PIXELS`` is set (its ``CV_IO_MAX_IMAGE_PIXELS``).
_OPENCV_MAX_PIXELS = 2**30


def _load_step(dataset_cfg: dict) -> dict:
    """The ``LoadImageFromFile`` step of the dataset's pipeline; an empty
    dict (MMCV's defaults) if it has none."""
    for step in dataset_cfg.get('pipeline') or []:
        if isinstance(step, dict) and _type_name(step) == 'LoadImageFromFile':
            return step
    return {}


def _applies_orientation(load_step: dict) -> bool:
    """Whether ``LoadImageFromFile`` turns an image by its EXIF orientation:
    MMCV's ``cv2`` and ``pillow`` backends do with the flags ``color`` and
    ``grayscale``, not with ``unchanged`` or ``*_ignore_orientation``."""
    return (load_step.get('imdecode_backend', 'cv2') in ('cv2', 'pillow')
            and load_step.get('color_type', 'color') in ('color', 'grayscale'))


def _opencv_pixel_limit() -> int:
    """The most pixels OpenCV decodes, read from the environment as OpenCV
    reads it."""
    return int(
        os.environ.get('OPENCV_IO_MAX_IMAGE_PIXELS', _OPENCV_MAX_PIXELS))


def _pixel_limit(load_step: dict) -> Optional[int]:
    """The most pixels ``LoadImageFromFile`` decodes with OpenCV, its
    default backend; ``None`` for the other backends."""
    if load_step.get('imdecode_backend', 'cv2') != 'cv2':
        return None
    return _opencv_pixel_limit()


@contextmanager
def _open_image(path: str) -> Iterator[Image.Image]:
    """Open an image with PIL, without PIL's decompression-bomb limit
    (``Image.MAX_IMAGE_PIXELS``): the training decodes it with OpenCV, whose
    limit is checked instead."""
    limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        with Image.open(path) as image:
            yield image
    finally:
        Image.MAX_IMAGE_PIXELS = limit


def _orientation(image: Image.Image) -> int:
    """The EXIF orientation of an open image, 1 if it has none, read from
    its header (PIL would decode a PNG to look for an ``eXIf`` chunk after
    its pixels: such a chunk is not looked for)."""
    if image.format == 'PNG' and 'exif' not in image.info:
        return 1
    return image.getexif().get(_ORIENTATION, 1)


def _header(path: str) -> Optional[Tuple[int, int, int]]:
    """The stored width and height of an image file and its EXIF
    orientation, read without decoding its pixels; ``None`` if it does not
    open as an image (``check_images`` names such files)."""
    try:
        with _open_image(path) as image:
            return image.width, image.height, _orientation(image)
    except Exception:  # PIL raises OSError, SyntaxError, ValueError, ...
        return None


def _oversized_problems(oversized: List[Tuple[str, int, int]],
                        source: str) -> List[str]:
    """An error naming the images ``(path, width, height)`` of ``source``
    that have more pixels than OpenCV decodes."""
    if not oversized:
        return []
    shown = [f'{path} ({w}x{h} = {w * h} pixels)' for path, w, h in oversized]
    largest = max(w * h for _, w, h in oversized)
    return [
        f'{len(oversized)} images of {source} have more pixels than OpenCV '
        'decodes (OPENCV_IO_MAX_IMAGE_PIXELS = '
        f'{_opencv_pixel_limit()}): {_listing(shown)}. LoadImageFromFile '
        'would stop on them. Raise the limit in the shell that starts the '
        f'training (`export OPENCV_IO_MAX_IMAGE_PIXELS={largest}`), or '
        'resize these images (and scale their annotations).'
    ]


def _turned_problems(turned: List[Tuple[str, int, int]], source: str,
                     load_step: dict) -> List[str]:
    """An error naming the images ``(path, stored width, stored height)`` of
    ``source`` whose EXIF orientation swaps their width and height, and
    whose entry gives their size the other way round than the pipeline
    loads them."""
    if not turned:
        return []
    if _applies_orientation(load_step):
        shown = [
            f'{path} ({w}x{h} stored and in the file, {h}x{w} loaded)'
            for path, w, h in turned
        ]
        return [
            f'{len(turned)} images of {source} have an EXIF orientation (5 '
            'to 8) that swaps their width and height when LoadImageFromFile '
            'turns them by it, but their `width` and `height` in the file are '
            f'those of the stored pixels: {_listing(shown)}. Their boxes '
            'were most likely drawn on the stored pixels, and would be off '
            'the objects. Load the images as stored, with LoadImageFromFile('
            "color_type='color_ignore_orientation') in every pipeline of "
            'this data, or remove the orientation tag from these files '
            '(e.g. `exiftool -Orientation= -overwrite_original FILE`) '
            'without turning their pixels.'
        ]
    shown = [
        f'{path} ({w}x{h} stored and loaded, {h}x{w} in the file)'
        for path, w, h in turned
    ]
    return [
        f'{len(turned)} images of {source} have an EXIF orientation (5 to 8) '
        'that swaps their width and height, and their `width` and `height` '
        'in the file are those of the turned image, but LoadImageFromFile '
        f'(color_type={load_step.get("color_type", "color")!r}, '
        f'imdecode_backend={load_step.get("imdecode_backend", "cv2")!r}) '
        f'loads them as stored: {_listing(shown)}. Their boxes were most '
        'likely drawn on the turned images, and would be off the objects. '
        "Load them turned, with LoadImageFromFile(color_type='color') and "
        "imdecode_backend 'cv2' or 'pillow'."
    ]


def _resized_problems(resized: List[Tuple[str, tuple, Tuple[int, int]]],
                      source: str) -> List[str]:
    """An error naming the images ``(path, size in the file, loaded size)``
    of ``source`` that are not the size their entry gives."""
    if not resized:
        return []
    shown = [
        f'{path} ({annotated[0]}x{annotated[1]} in the file, '
        f'{loaded[0]}x{loaded[1]} loaded)'
        for path, annotated, loaded in resized
    ]
    return [
        f'{len(resized)} images of {source} are not the size (`width` x '
        f'`height`) of their entry in the file: {_listing(shown)}. If they '
        'are the images that were annotated, set their `width` and `height` '
        'to the loaded size; if they were resized or replaced after '
        'annotating, their boxes are off too: scale the boxes by the same '
        'factors, or annotate the images again.'
    ]


def _image_size_problems(images: Sequence[Tuple[dict, str]], source: str,
                         load_step: dict) -> Tuple[List[str], List[str]]:
    """Errors for the COCO ``images`` ``(entry, path)`` of ``source`` whose
    size as ``load_step`` loads them (turned by their EXIF orientation or
    not) is not the ``width`` and ``height`` of their entry, or that have
    more pixels than OpenCV decodes; and the paths of the latter. Only the
    header of each file is read."""
    limit = _pixel_limit(load_step)
    oversized, turned, resized = [], [], []
    for entry, path in images:
        header = _header(path)
        if header is None:
            continue
        width, height, orientation = header
        if limit is not None and width * height > limit:
            oversized.append((path, width, height))
        annotated = (entry.get('width'), entry.get('height'))
        stored = (width, height)
        oriented = (height, width) if orientation in _SWAPPING else stored
        if _applies_orientation(load_step):
            loaded, other = oriented, stored
        else:
            loaded, other = stored, oriented
        if annotated == loaded or not all(
                isinstance(v, (int, float)) for v in annotated):
            continue
        if annotated == other:
            turned.append((path, width, height))
        else:
            resized.append((path, annotated, loaded))
    problems = _oversized_problems(oversized, source)
    problems += _turned_problems(turned, source, load_step)
    problems += _resized_problems(resized, source)
    return problems, [path for path, _, _ in oversized]


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
        if (isinstance(step, dict) and _type_name(step) == 'LoadAnnotations'
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
    return '; '.join(f'{len(ids)} with {reason} (ids {_listing(ids)})'
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
            f'{_listing(ids)}): the pipeline loads masks '
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
            f'{_listing(empty_masks)}): MMDetection keeps them, with an '
            'empty mask as the target of the mask head.')
    if message:
        warnings.warn(f'{source}: ' + ' '.join(message) +
                      ' Fix or remove them in the file.')
    return []


def _coco_problems(dataset_cfg: dict, key: str, classes: Optional[List[str]],
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
            for i, names in list(duplicates.items())[:_SHOWN]
        ]
        if len(duplicates) > _SHOWN:
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
    category_ids = {c.get('id') for c in categories}
    problems = _annotation_problems(coco, source, category_ids,
                                    _mask_loading(dataset_cfg),
                                    needs_annotations)
    image_folder = dict(_prefix_folders(dataset_cfg)).get(
        'data_prefix.img', data_root)
    image_paths = [
        osp.join(image_folder, image.get('file_name', ''))
        for image in coco['images']
    ]
    missing, empty = _empty_or_missing(image_paths)
    problems += _image_file_problems(missing, empty, source)
    unreadable = set(missing + empty)
    images = [(image, path) for image, path in zip(coco['images'], image_paths)
              if path not in unreadable]
    load_step = _load_step(dataset_cfg)
    size_problems, oversized = _image_size_problems(images, source, load_step)
    problems += size_problems
    if check_images:
        skipped = set(oversized)
        problems += _undecodable_image_problems(
            [path for _, path in images if path not in skipped], source,
            _pixel_limit(load_step))
    return problems


def _class_folders(dataset_cfg: dict) -> Optional[Tuple[str, List[str]]]:
    """The image folder of a class-folder dataset (``CustomDataset``
    without ``ann_file``) and its sub-folders, sorted; ``None`` for other
    datasets."""
    if (_type_name(dataset_cfg) != 'CustomDataset'
            or dataset_cfg.get('ann_file')
            or not dataset_cfg.get('with_label', True)):
        return None
    prefixes = dict(_prefix_folders(dataset_cfg))
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
        f'folder they are in, or to each other: {_listing(loops)}. '
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


def _undecodable_image_problems(paths: Sequence[str], source: str,
                                limit: Optional[int]) -> List[str]:
    """Errors naming the image ``paths`` of ``source`` that do not open and
    decode fully (a truncated or damaged file), and those with more pixels
    than ``limit``, OpenCV's (not decoded; ``None``: no limit)."""
    bad, oversized = [], []
    for path in paths:
        try:
            with _open_image(path) as image:
                if limit is not None and image.width * image.height > limit:
                    oversized.append((path, image.width, image.height))
                else:
                    image.load()
        except Exception as error:  # PIL raises OSError, SyntaxError, ...
            bad.append(f'    {path}: {type(error).__name__}: {error}')
    problems = _oversized_problems(oversized, source)
    if bad:
        problems.append(
            f'{len(bad)} image files of {source} cannot be decoded:\n' +
            '\n'.join(bad) + '\n  Copy them again from their source, or '
            'remove them (from a COCO file too: their `images` and '
            '`annotations`).')
    return problems


def _class_image_problems(dataset_cfg: dict, key: str, root: str,
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
    empty = _empty_or_missing(images)[1]
    problems = _loop_problems(loops, root, key)
    problems += _image_file_problems([], empty, source)
    if extensions is not None:
        problems += _unread_class_problems(root, key, files, extensions)
    if check_images:
        skipped = set(empty)
        problems += _undecodable_image_problems(
            [path for path in images if path not in skipped], source,
            _pixel_limit(_load_step(dataset_cfg)))
    return problems


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


def _same_file(path: str, other: str) -> bool:
    """Whether two existing files are one file, or hold the same bytes."""
    return osp.samefile(path, other) or filecmp.cmp(path, other, shallow=False)


def _evaluator_problems(cfg: Config, loader_key: str,
                        datasets: List[Tuple[dict, str]]) -> List[str]:
    """Errors for the COCO metrics of the evaluator of ``loader_key`` whose
    ``ann_file`` is not the annotation file of the dataloader's dataset (a
    single dataset; local files only)."""
    if len(datasets) != 1 or not datasets[0][0].get('ann_file'):
        return []
    dataset_cfg, key = datasets[0]
    dataset_ann = osp.join(
        dataset_cfg.get('data_root') or '', dataset_cfg['ann_file'])
    evaluator_key = loader_key.replace('_dataloader', '_evaluator')
    problems = []
    for metric_key, metric_cfg in _evaluator_metrics(
            cfg.get(evaluator_key), evaluator_key):
        ann_file = metric_cfg.get('ann_file')
        if ('Coco' in _type_name(metric_cfg) and ann_file
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


def _content_problems(cfg: Config, dataloaders: Sequence[str],
                      check_images: bool) -> List[str]:
    """Problems of the annotation files, images and class folders of the
    datasets of ``dataloaders`` (all of which exist), and of the annotation
    files of their evaluators."""
    problems: List[str] = []
    folder_datasets = []
    for loader_key, datasets in _dataloader_datasets(cfg, dataloaders):
        datasets = list(datasets)
        for dataset_cfg, key in datasets:
            ann_file = osp.join(
                dataset_cfg.get('data_root') or '',
                dataset_cfg.get('ann_file') or '')
            if (_type_name(dataset_cfg) == 'CocoDataset'
                    and dataset_cfg.get('ann_file')
                    and is_local_path(ann_file)):
                problems += _coco_problems(
                    dataset_cfg,
                    key,
                    _config_classes(dataset_cfg, cfg.get('default_scope')),
                    needs_annotations=loader_key != 'test_dataloader',
                    check_images=check_images)
            folders = _class_folders(dataset_cfg)
            if folders is not None:
                root, names = folders
                metainfo = dataset_cfg.get('metainfo') or {}
                classes = metainfo.get('classes')
                folder_datasets.append(
                    (key, root, names,
                     None if classes is None else list(classes)))
                problems += _class_image_problems(dataset_cfg, key, root,
                                                  names, check_images)
        problems += _evaluator_problems(cfg, loader_key, datasets)
    problems += _class_folder_problems(folder_datasets)
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

    Then the data itself is checked (see the module's documentation):
    COCO annotation files and their images, the ``ann_file`` of COCO
    evaluators, and the class folders of ``CustomDataset``. Annotations the
    dataset would drop are counted in a warning.

    Args:
        cfg: The (merged) config.
        dataloaders: Names of the dataloader fields to check.
        check_images: Also open and decode every image of the COCO and
            class-folder datasets (this reads every file), so that a
            truncated or damaged image, or one larger than OpenCV decodes,
            is found before training.

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
        for key, metric_cfg in _evaluator_metrics(
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
