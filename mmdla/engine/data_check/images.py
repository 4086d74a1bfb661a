"""Image files as the pipeline loads them: missing and empty files, sizes
(read from their headers) that are not those of their entries once turned
by their EXIF orientation or not, images with more pixels than OpenCV
decodes, and, on request, images that do not decode fully."""
import os
from contextlib import contextmanager
from typing import Iterator, List, Optional, Sequence, Tuple

from PIL import Image

from .config_walk import type_name
from .messages import listing

#: The EXIF tag of an image's orientation, and its values that swap the
#: image's width and height (turns by 90 or 270 degrees, mirrored or not).
_ORIENTATION = 0x0112
_SWAPPING = (5, 6, 7, 8)
#: The most pixels OpenCV decodes unless the environment variable
#: ``OPENCV_IO_MAX_IMAGE_PIXELS`` is set (its ``CV_IO_MAX_IMAGE_PIXELS``).
_OPENCV_MAX_PIXELS = 2**30


def empty_or_missing(paths: Sequence[str]) -> Tuple[List[str], List[str]]:
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


def image_file_problems(missing: List[str], empty: List[str],
                        source: str) -> List[str]:
    """Messages for missing and zero-byte image files of ``source``."""
    problems = []
    if missing:
        problems.append(
            f'{len(missing)} image files listed in {source} do not exist: '
            f'{listing(missing)}. Put them there, fix `data_prefix`, or '
            'remove their entries.')
    if empty:
        problems.append(
            f'{len(empty)} image files of {source} are empty (0 bytes): '
            f'{listing(empty)}. Copy them again or remove them.')
    return problems


def load_image_step(dataset_cfg: dict) -> dict:
    """The ``LoadImageFromFile`` step of the dataset's pipeline; an empty
    dict (MMCV's defaults) if it has none."""
    for step in dataset_cfg.get('pipeline') or []:
        if isinstance(step, dict) and type_name(step) == 'LoadImageFromFile':
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


def pixel_limit(load_step: dict) -> Optional[int]:
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
        f'{_opencv_pixel_limit()}): {listing(shown)}. LoadImageFromFile '
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
            f'those of the stored pixels: {listing(shown)}. Their boxes '
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
        f'loads them as stored: {listing(shown)}. Their boxes were most '
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
        f'`height`) of their entry in the file: {listing(shown)}. If they '
        'are the images that were annotated, set their `width` and `height` '
        'to the loaded size; if they were resized or replaced after '
        'annotating, their boxes are off too: scale the boxes by the same '
        'factors, or annotate the images again.'
    ]


def image_size_problems(images: Sequence[Tuple[dict, str]], source: str,
                        load_step: dict) -> Tuple[List[str], List[str]]:
    """Errors for the COCO ``images`` ``(entry, path)`` of ``source`` whose
    size as ``load_step`` loads them (turned by their EXIF orientation or
    not) is not the ``width`` and ``height`` of their entry, or that have
    more pixels than OpenCV decodes; and the paths of the latter. Only the
    header of each file is read."""
    limit = pixel_limit(load_step)
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


def undecodable_image_problems(paths: Sequence[str], source: str,
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
