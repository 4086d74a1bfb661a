"""Deterministic synthetic shape datasets for the bundled demos.

Three small datasets are drawn from scratch with NumPy and OpenCV, so the
demos need no download:

* ``shapes_coco``: a COCO-format instance segmentation set. Every image is a
  noisy, shaded background with a few distracting strokes and one to four
  non-overlapping filled shapes (circle, square, triangle) of random size,
  rotation and colour. Each shape is annotated with its box and its
  polygon mask (the very polygon that was rasterised), so boxes and masks are
  exact.
* ``shapes_cls``: an image classification set in the folder layout that
  MMPretrain's ``CustomDataset`` reads (``<split>/<class>/<image>.png``): one
  shape of six classes per small image, on the same kind of background.
* ``shapes_seg``: a semantic segmentation set in the folder layout that
  MMSegmentation's ``BaseSegDataset`` reads
  (``img_dir/<split>/<index>.png`` and ``ann_dir/<split>/<index>.png``, both
  suffixes ``.png``): the images of ``shapes_coco`` (same seed, same
  pictures), each with a label map of the class index of every pixel,
  0 for the background and 1 to 3 for the shapes of :data:`DET_CLASSES` (the
  classes of :data:`SEG_CLASSES`, read with ``reduce_zero_label=False``).

Every image is drawn from a random generator seeded with ``(seed, split,
index)``, so a dataset is byte-for-byte reproducible and adding images never
changes the existing ones. Generation is idempotent: a dataset folder with a
matching ``.complete`` marker is left untouched. A dataset is first written to
a temporary sibling folder and then renamed into place, so concurrent
processes (e.g. the ranks of a distributed run) and interrupted runs never
expose a half-written dataset.

The generator only ever deletes what it wrote itself: a dataset of other
parameters (its marker says so) is replaced only when every file in it is one
the generator writes; a folder without the marker, or with files of its own,
is user data and is never touched (:class:`FileExistsError`).
"""
import json
import os
import os.path as osp
import re
import shutil
import tempfile
from typing import Callable, Dict, List, Optional, Pattern, Tuple

import cv2
import numpy as np

#: Classes of the detection / instance segmentation set, in label order.
DET_CLASSES: Tuple[str, ...] = ('circle', 'square', 'triangle')
#: Classes of the classification set, in label order.
CLS_CLASSES: Tuple[str, ...] = ('circle', 'square', 'triangle', 'star',
                                'cross', 'ring')
#: Classes of the semantic segmentation set, in label order: the label map
#: value of a pixel is its index here (the background is 0).
SEG_CLASSES: Tuple[str, ...] = ('background', ) + DET_CLASSES

_MARKER = '.complete'
# Bump whenever the drawing code changes, so stale datasets are regenerated.
_GENERATOR_VERSION = 3
_SPLIT_IDS = {'train': 0, 'val': 1}
_SPLITS = '(train|val)'
_IMAGE = r'\d{5}\.png'
#: Every path (relative to the dataset root, ``/``-separated) the generator
#: may write, folders included, per dataset kind.
_LAYOUTS: Dict[str, Pattern] = {
    'shapes_coco':
    re.compile(rf'annotations(/instances_{_SPLITS}\.json)?|'
               rf'{_SPLITS}(/{_IMAGE})?'),
    'shapes_cls':
    re.compile(rf'{_SPLITS}(/({"|".join(CLS_CLASSES)})(/{_IMAGE})?)?'),
    'shapes_seg':
    re.compile(rf'(img_dir|ann_dir)(/{_SPLITS}(/{_IMAGE})?)?'),
}
#: Fractional bits of the vertex coordinates given to OpenCV's drawing
#: functions, so that shapes are drawn with sub-pixel accuracy.
_SHIFT = 4


def _regular_polygon(center: np.ndarray, radius: float, num_vertices: int,
                     angle: float) -> np.ndarray:
    """Vertices (N, 2) of a regular polygon rotated by ``angle`` radians."""
    theta = angle + 2 * np.pi * np.arange(num_vertices) / num_vertices
    return center + radius * np.stack([np.cos(theta), np.sin(theta)], axis=1)


def shape_polygon(name: str, center: np.ndarray, radius: float,
                  angle: float) -> np.ndarray:
    """Outline of a named shape as an (N, 2) float array of x, y vertices.

    Args:
        name: One of ``circle``, ``square``, ``triangle``, ``star``, ``cross``
            (``ring`` is drawn as a circle outline, see ``_draw_shape``).
        center: Centre of the shape, ``(x, y)``.
        radius: Circumradius in pixels.
        angle: Rotation in radians (ignored for circles).
    """
    if name in ('circle', 'ring'):
        return _regular_polygon(center, radius, 32, 0.0)
    if name == 'square':
        return _regular_polygon(center, radius, 4, angle)
    if name == 'triangle':
        return _regular_polygon(center, radius, 3, angle)
    if name == 'star':
        outer = _regular_polygon(center, radius, 5, angle)
        inner = _regular_polygon(center, 0.45 * radius, 5, angle + np.pi / 5)
        return np.stack([outer, inner], axis=1).reshape(-1, 2)
    if name == 'cross':
        half, arm = radius / np.sqrt(2), radius * 0.3
        unit = np.array([[-arm, -half], [arm, -half],
                         [arm, -arm], [half, -arm], [half, arm], [arm, arm],
                         [arm, half], [-arm, half], [-arm, arm], [-half, arm],
                         [-half, -arm], [-arm, -arm]])
        rotation = np.array([[np.cos(angle), -np.sin(angle)],
                             [np.sin(angle), np.cos(angle)]])
        return center + unit @ rotation.T
    raise ValueError(f'Unknown shape {name!r}; expected one of '
                     f'{sorted(set(DET_CLASSES + CLS_CLASSES))}.')


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A grey, linearly shaded, noisy background with a few random strokes."""
    level = rng.uniform(60, 190)
    gx, gy = rng.uniform(-30, 30, size=2)
    ramp = np.linspace(-0.5, 0.5, size)
    shade = level + gx * ramp[None, :] + gy * ramp[:, None]
    img = np.repeat(shade[..., None], 3, axis=2)
    img += rng.uniform(-12, 12, size=3)  # slight colour cast
    for _ in range(rng.integers(0, 4)):
        p0, p1 = rng.uniform(0, size, size=(2, 2)).astype(np.int32)
        color = rng.uniform(0, 255, size=3).tolist()
        cv2.line(img, tuple(int(v) for v in p0), tuple(int(v) for v in p1),
                 color, int(rng.integers(1, 3)), cv2.LINE_AA)
    return img


def _contrasting_color(rng: np.random.Generator,
                       background: float) -> List[float]:
    """A random colour clearly distinguishable from a grey ``background``."""
    while True:
        color = rng.uniform(0, 255, size=3)
        if np.abs(color - background).max() > 70:
            return color.tolist()


def _fixed_point(polygon: np.ndarray) -> np.ndarray:
    """Vertices as the fixed-point integers of OpenCV's drawing functions
    (:data:`_SHIFT` fractional bits)."""
    return np.round(polygon * (1 << _SHIFT)).astype(np.int32)


def _draw_shape(img: np.ndarray, name: str, polygon: np.ndarray,
                color: List[float], radius: float) -> None:
    """Rasterise a shape (anti-aliased, sub-pixel accurate) in place."""
    points = _fixed_point(polygon)
    if name == 'ring':
        thickness = max(2, int(round(radius * 0.3)))
        cv2.polylines(img, [points], True, color, thickness, cv2.LINE_AA,
                      _SHIFT)
    else:
        cv2.fillPoly(img, [points], color, cv2.LINE_AA, _SHIFT)


def _finish(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Add sensor noise and quantise to uint8."""
    img = img + rng.normal(0, rng.uniform(4, 16), size=img.shape)
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def _polygon_area(polygon: np.ndarray) -> float:
    """Area of a simple polygon (shoelace formula)."""
    x, y = polygon[:, 0], polygon[:, 1]
    twice_area = np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))
    return float(0.5 * abs(twice_area))


def _apart(box: np.ndarray, other: np.ndarray, margin: float = 2) -> bool:
    """Whether two ``x1, y1, x2, y2`` boxes are ``margin`` pixels apart."""
    return bool(box[0] > other[2] + margin or box[2] < other[0] - margin
                or box[1] > other[3] + margin or box[3] < other[1] - margin)


def draw_detection_image(
        seed: int, split: str, index: int,
        image_size: int) -> Tuple[np.ndarray, List[Dict[str, object]]]:
    """Draw one detection image and its instances.

    Returns:
        The BGR ``uint8`` image and a list of instances, each a dict with
        ``label`` (index into :data:`DET_CLASSES`), ``bbox`` (COCO ``x, y, w,
        h``), ``polygon`` ((N, 2) array) and ``area``.
    """
    rng = np.random.default_rng([seed, _SPLIT_IDS[split], index])
    img = _background(rng, image_size)
    background = float(img.mean())
    instances: List[Dict[str, object]] = []
    boxes: List[np.ndarray] = []
    for _ in range(rng.integers(1, 5)):
        for _attempt in range(50):
            label = int(rng.integers(len(DET_CLASSES)))
            radius = rng.uniform(10, 24)
            center = rng.uniform(radius + 1, image_size - radius - 1, size=2)
            polygon = shape_polygon(DET_CLASSES[label], center, radius,
                                    rng.uniform(0, 2 * np.pi))
            box = np.concatenate([polygon.min(0), polygon.max(0)])
            # keep shapes apart so that each mask is fully visible
            if all(_apart(box, other) for other in boxes):
                break
        else:
            continue
        boxes.append(box)
        _draw_shape(img, DET_CLASSES[label], polygon,
                    _contrasting_color(rng, background), radius)
        instances.append(
            dict(
                label=label,
                bbox=[
                    float(box[0]),
                    float(box[1]),
                    float(box[2] - box[0]),
                    float(box[3] - box[1])
                ],
                polygon=polygon,
                area=_polygon_area(polygon)))
    return _finish(img, rng), instances


def draw_classification_image(seed: int, split: str, index: int,
                              image_size: int) -> Tuple[np.ndarray, int]:
    """Draw one classification image; returns the BGR image and its label
    (an index into :data:`CLS_CLASSES`)."""
    rng = np.random.default_rng([seed, _SPLIT_IDS[split], index])
    img = _background(rng, image_size)
    label = int(rng.integers(len(CLS_CLASSES)))
    radius = rng.uniform(0.2, 0.42) * image_size
    center = rng.uniform(radius, image_size - radius, size=2)
    name = CLS_CLASSES[label]
    polygon = shape_polygon(name, center, radius, rng.uniform(0, 2 * np.pi))
    _draw_shape(img, name, polygon, _contrasting_color(rng, float(img.mean())),
                radius)
    return _finish(img, rng), label


def draw_segmentation_image(seed: int, split: str, index: int,
                            image_size: int) -> Tuple[np.ndarray, np.ndarray]:
    """Draw one segmentation image: the detection image of the same
    ``(seed, split, index)`` and its label map.

    Returns:
        The BGR ``uint8`` image and its ``uint8`` label map of the same
        height and width: the index in :data:`SEG_CLASSES` of every pixel
        (0 for the background), each shape filled from the polygon that
        drew it, without anti-aliasing.
    """
    img, instances = draw_detection_image(seed, split, index, image_size)
    label_map = np.zeros(img.shape[:2], dtype=np.uint8)
    for instance in instances:
        cv2.fillPoly(label_map, [_fixed_point(instance['polygon'])],
                     instance['label'] + 1, cv2.LINE_8, _SHIFT)
    return img, label_map


def _write_shapes_coco(root: str, splits: Dict[str, int], image_size: int,
                       seed: int) -> None:
    """Write images and COCO annotation files of the detection set."""
    os.makedirs(osp.join(root, 'annotations'))
    categories = [
        dict(id=i + 1, name=name, supercategory='shape')
        for i, name in enumerate(DET_CLASSES)
    ]
    for split, num_images in splits.items():
        os.makedirs(osp.join(root, split))
        images, annotations = [], []
        for index in range(num_images):
            img, instances = draw_detection_image(seed, split, index,
                                                  image_size)
            file_name = f'{index:05d}.png'
            cv2.imwrite(osp.join(root, split, file_name), img)
            images.append(
                dict(
                    id=index + 1,
                    file_name=file_name,
                    width=image_size,
                    height=image_size))
            for instance in instances:
                polygon = np.round(instance['polygon'], 2)
                annotations.append(
                    dict(
                        id=len(annotations) + 1,
                        image_id=index + 1,
                        category_id=instance['label'] + 1,
                        bbox=[round(v, 2) for v in instance['bbox']],
                        area=round(instance['area'], 2),
                        segmentation=[polygon.reshape(-1).tolist()],
                        iscrowd=0))
        with open(
                osp.join(root, 'annotations', f'instances_{split}.json'),
                'w') as f:
            json.dump(
                dict(
                    info=dict(description='mmdla synthetic shapes'),
                    images=images,
                    annotations=annotations,
                    categories=categories), f)


def _write_shapes_cls(root: str, splits: Dict[str, int], image_size: int,
                      seed: int) -> None:
    """Write the classification set as ``<split>/<class>/<index>.png``."""
    for split, num_images in splits.items():
        for name in CLS_CLASSES:
            os.makedirs(osp.join(root, split, name))
        for index in range(num_images):
            img, label = draw_classification_image(seed, split, index,
                                                   image_size)
            cv2.imwrite(
                osp.join(root, split, CLS_CLASSES[label], f'{index:05d}.png'),
                img)


def _write_shapes_seg(root: str, splits: Dict[str, int], image_size: int,
                      seed: int) -> None:
    """Write the segmentation set as ``img_dir/<split>/<index>.png`` and
    ``ann_dir/<split>/<index>.png``."""
    for split, num_images in splits.items():
        img_dir = osp.join(root, 'img_dir', split)
        ann_dir = osp.join(root, 'ann_dir', split)
        os.makedirs(img_dir)
        os.makedirs(ann_dir)
        for index in range(num_images):
            img, label_map = draw_segmentation_image(seed, split, index,
                                                     image_size)
            file_name = f'{index:05d}.png'
            cv2.imwrite(osp.join(img_dir, file_name), img)
            cv2.imwrite(osp.join(ann_dir, file_name), label_map)


def _read_marker(root: str) -> Optional[dict]:
    """The parameters in the marker of ``root``; ``None`` without one."""
    marker = osp.join(root, _MARKER)
    if not osp.isfile(marker):
        return None
    try:
        with open(marker) as f:
            params = json.load(f)
    except (OSError, ValueError):
        return None
    return params if isinstance(params, dict) else None


def _foreign_paths(root: str, kind: str) -> List[str]:
    """Paths under ``root`` (relative, sorted) that the generator of ``kind``
    does not write; symbolic links are never the generator's."""
    layout = _LAYOUTS[kind]
    foreign = []
    for folder, dirs, files in os.walk(root):
        rel_folder = osp.relpath(folder, root)
        for name in dirs + files:
            rel = osp.normpath(osp.join(rel_folder, name)).replace(os.sep, '/')
            path = osp.join(folder, name)
            if rel == _MARKER and folder == root:
                continue
            if osp.islink(path) or not layout.fullmatch(rel):
                foreign.append(rel)
    return sorted(foreign)


def _check_replaceable(root: str, kind: str) -> None:
    """Check that ``root`` is empty or a dataset the generator of ``kind``
    wrote, holding nothing else.

    Raises:
        FileExistsError: If ``root`` holds anything the generator did not
            write: a file or link, a folder without the marker of ``kind``, or
            a dataset folder with files added.
    """
    advice = (f'To keep it and get the demo data: move or rename {root!r}, '
              'or generate the demo data into '
              'another folder (`python tools/misc/generate_demo_data.py '
              '--out-dir OTHER_DIR`) and point the data_root of the demo '
              'configs there.')
    if osp.islink(root) or not osp.isdir(root):
        raise FileExistsError(
            f'{root!r} exists and is not a folder written by the demo data '
            f'generator, so it is left untouched. {advice}')
    if not os.listdir(root):
        return
    params = _read_marker(root)
    if params is None or params.get('kind') != kind:
        raise FileExistsError(
            f'{root!r} exists but was not written by the demo data '
            f'generator (it has no {_MARKER} marker of {kind}), so it is '
            f'treated as your data and left untouched. {advice}')
    foreign = _foreign_paths(root, kind)
    if foreign:
        shown = ', '.join(foreign[:5]) + (', ...' if len(foreign) > 5 else '')
        raise FileExistsError(
            f'{root!r} holds a demo dataset of other parameters, to be '
            f'replaced, but also {len(foreign)} entries the generator did '
            f'not write ({shown}), so it is left untouched. Move those out '
            f'of it, or delete the folder yourself, and run again. {advice}')


def _remove_generated(root: str, kind: str) -> None:
    """Delete ``root`` after :func:`_check_replaceable`, file by file, so
    that nothing written into it meanwhile is lost (``os.rmdir`` then
    fails)."""
    _check_replaceable(root, kind)
    for folder, _, files in os.walk(root, topdown=False):
        for name in files:
            os.remove(osp.join(folder, name))
        os.rmdir(folder)


def _generate_once(root: str, params: Dict[str, object],
                   writer: Callable[[str], None]) -> bool:
    """Run ``writer`` into a temporary folder and move it to ``root``.

    An existing ``root`` is replaced only if it is empty or an older dataset
    of this generator that holds nothing else (see
    :func:`_check_replaceable`).

    Returns:
        ``True`` if the dataset was generated, ``False`` if an identical one
        was already present.

    Raises:
        FileExistsError: If ``root`` exists and holds anything the generator
            did not write; it is left untouched.
    """
    if _read_marker(root) == params:
        return False
    kind = str(params['kind'])
    if osp.lexists(root):
        # before the generation, so that a folder of user data fails fast
        _check_replaceable(root, kind)
    parent = osp.dirname(osp.abspath(root))
    os.makedirs(parent, exist_ok=True)
    tmp_root = tempfile.mkdtemp(
        prefix=f'.{osp.basename(root)}.', suffix='.tmp', dir=parent)
    try:
        writer(tmp_root)
        with open(osp.join(tmp_root, _MARKER), 'w') as f:
            json.dump(params, f)
        if osp.lexists(root) and _read_marker(root) != params:
            _remove_generated(root, kind)
        try:
            os.rename(tmp_root, root)
        except OSError:
            # another process finished first; accept its identical result
            if _read_marker(root) != params:
                raise
    finally:
        shutil.rmtree(tmp_root, ignore_errors=True)
    return True


def _generate_splits(root: str, kind: str, write: Callable[..., None],
                     num_train: int, num_val: int, image_size: int,
                     seed: int) -> bool:
    """Generate a train and a val split of ``kind`` into ``root`` once
    (see :func:`_generate_once`), ``write(out, sizes, image_size, seed)``
    writing them."""
    params = dict(
        kind=kind,
        version=_GENERATOR_VERSION,
        num_train=num_train,
        num_val=num_val,
        image_size=image_size,
        seed=seed)
    return _generate_once(
        root, params, lambda out: write(out, dict(
            train=num_train, val=num_val), image_size, seed))


def generate_shapes_coco(root: str,
                         num_train: int = 400,
                         num_val: int = 100,
                         image_size: int = 128,
                         seed: int = 0) -> bool:
    """Generate the COCO-format synthetic shapes set into ``root``.

    Layout: ``annotations/instances_{train,val}.json`` and ``{train,val}/``
    image folders. Classes: :data:`DET_CLASSES`.

    Returns:
        ``True`` if it was generated, ``False`` if it was already present.
    """
    return _generate_splits(root, 'shapes_coco', _write_shapes_coco, num_train,
                            num_val, image_size, seed)


def generate_shapes_cls(root: str,
                        num_train: int = 1200,
                        num_val: int = 300,
                        image_size: int = 32,
                        seed: int = 0) -> bool:
    """Generate the synthetic shape classification set into ``root``.

    Layout: ``{train,val}/<class>/<index>.png`` with the classes of
    :data:`CLS_CLASSES`.

    Returns:
        ``True`` if it was generated, ``False`` if it was already present.
    """
    return _generate_splits(root, 'shapes_cls', _write_shapes_cls, num_train,
                            num_val, image_size, seed)


def generate_shapes_seg(root: str,
                        num_train: int = 400,
                        num_val: int = 100,
                        image_size: int = 128,
                        seed: int = 0) -> bool:
    """Generate the synthetic shapes semantic segmentation set into ``root``.

    Layout: ``img_dir/{train,val}/<index>.png`` (BGR images) and
    ``ann_dir/{train,val}/<index>.png`` (single-channel label maps of the
    same name), as MMSegmentation's ``BaseSegDataset`` reads them with
    ``img_suffix='.png'``, ``seg_map_suffix='.png'`` and
    ``reduce_zero_label=False``. Classes: :data:`SEG_CLASSES`, the label map
    value of a pixel being its index (0: background). The images are those
    of :func:`generate_shapes_coco` with the same seed and image size.

    Returns:
        ``True`` if it was generated, ``False`` if it was already present.
    """
    return _generate_splits(root, 'shapes_seg', _write_shapes_seg, num_train,
                            num_val, image_size, seed)
