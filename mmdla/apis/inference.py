"""Inference on images with the inferencers of MMPretrain, MMDetection and
MMSegmentation.

A config's default scope names its codebase: ``mmpretrain`` configs run in
MMPretrain's :class:`ImageClassificationInferencer`, ``mmdet`` configs in
MMDetection's :class:`DetInferencer`, ``mmseg`` configs in MMSegmentation's
:class:`MMSegInferencer`. The codebases are optional extras of mmdla and are
imported only when needed.
"""
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import mmcv
import numpy as np
from mmengine.config import Config

from mmdla.analysis import TASKS, find_images, load_config, task_of
from mmdla.engine import check_checkpoint_file, check_checkpoint_fits
from mmdla.utils import runner_checkpoint_loading

__all__ = [
    'TASKS', 'build_inferencer', 'class_fractions', 'classify_images',
    'detect_images', 'detections', 'expand_images', 'load_config',
    'segment_images', 'split_readable', 'task_of', 'top_classes',
    'unreadable_reason'
]


def build_inferencer(cfg: Config,
                     checkpoint: str,
                     device: Optional[str] = None,
                     allow_partial: bool = False):
    """The inferencer of a config's codebase, with a checkpoint loaded.

    Args:
        cfg (Config): Config from :func:`load_config`.
        checkpoint (str): Checkpoint file. Runner checkpoints carry the class
            names in ``meta.dataset_meta``; the inferencers read them there.
        device (str, optional): ``'cpu'``, ``'cuda'``, ``'cuda:1'``...
            Defaults to a GPU if there is one, else the CPU.
        allow_partial (bool): Accept a checkpoint that lacks weights of the
            model or holds others (they are left out), as
            ``--allow-partial-checkpoint`` of ``tools/test.py`` does.
            Defaults to False.

    Returns:
        ImageClassificationInferencer | DetInferencer | MMSegInferencer

    Raises:
        CheckpointMismatchError: Unless ``allow_partial``, if the checkpoint
            does not hold exactly the weights of the config's model (e.g.
            it was trained with another config); raised before any image
            is processed.
    """
    if not osp.isfile(checkpoint):
        raise FileNotFoundError(
            f'checkpoint file {checkpoint!r} does not exist.')
    check_checkpoint_file(checkpoint)
    task = task_of(cfg)
    with runner_checkpoint_loading():
        if task == 'classification':
            from mmpretrain.apis import ImageClassificationInferencer
            inferencer = ImageClassificationInferencer(
                cfg, pretrained=checkpoint, device=device)
        elif task == 'detection':
            from mmdet.apis import DetInferencer
            inferencer = DetInferencer(
                cfg, weights=checkpoint, device=device, scope='mmdet')
        else:
            from mmseg.apis import MMSegInferencer
            inferencer = MMSegInferencer(
                cfg, weights=checkpoint, device=device, scope='mmseg')
    # the inferencers load with strict=False: a mismatch is only a warning
    if not allow_partial:
        check_checkpoint_fits(inferencer.model, checkpoint)
    return inferencer


def expand_images(paths: Sequence[str]) -> List[str]:
    """The image files of ``paths``: files as given, each folder replaced
    by the images it holds (sorted; its sub-folders are not searched).

    Raises:
        FileNotFoundError: For the paths that do not exist, all named, or
            for a folder without images.
    """
    missing = [path for path in paths if not osp.exists(path)]
    if missing:
        raise FileNotFoundError(
            f'image files or folders not found: {", ".join(missing)}')
    images = []
    for path in paths:
        if osp.isdir(path):
            images.extend(find_images(path, recursive=False))
        else:
            images.append(path)
    return images


def unreadable_reason(image: str) -> Optional[str]:
    """Why ``image`` cannot be decoded as the inferencers load it (MMCV's
    ``imread``), or None if it can."""
    if osp.getsize(image) == 0:
        return 'the file is empty'
    try:
        decoded = mmcv.imread(image)
    except Exception as error:  # OpenCV and file errors alike
        return f'{type(error).__name__}: {str(error).strip()}'
    if decoded is None:
        return 'not an image that OpenCV can decode'
    return None


def split_readable(images: Sequence[str]) -> Tuple[List[str], Dict[str, str]]:
    """The images that can be decoded, and why each of the others cannot.

    Returns:
        tuple[list[str], dict[str, str]]: The readable images, in order,
        and the reason of :func:`unreadable_reason` of each other one.
    """
    readable, unreadable = [], {}
    for image in images:
        reason = unreadable_reason(image)
        if reason is None:
            readable.append(image)
        else:
            unreadable[image] = reason
    return readable, unreadable


def top_classes(scores: np.ndarray, classes: Optional[Sequence[str]],
                topk: int) -> List[Tuple[str, float]]:
    """The ``topk`` best classes of one image, best first.

    Args:
        scores (np.ndarray): Class scores of one image, ``[K]``.
        classes (Sequence[str], optional): Class names; without them the
            classes are named by their index.
        topk (int): Number of classes, at most ``K``.

    Returns:
        list[tuple[str, float]]: ``(name, score)`` pairs.
    """
    order = np.argsort(-scores, kind='stable')[:topk]
    return [(classes[i] if classes is not None else str(i), float(scores[i]))
            for i in order]


def detections(prediction: Dict, classes: Sequence[str],
               score_thr: float) -> List[Tuple[str, float, List[float]]]:
    """The detections of one image scoring at least ``score_thr``.

    Args:
        prediction (dict): One entry of a :class:`DetInferencer` result's
            ``'predictions'`` (``labels``, ``scores``, ``bboxes`` lists).
        classes (Sequence[str]): Class names of the detector.
        score_thr (float): Lowest score kept.

    Returns:
        list[tuple[str, float, list[float]]]: ``(class, score, box)``
        triples, best first, boxes as ``[x1, y1, x2, y2]``.
    """
    found = [(classes[label], score, box) for label, score, box in zip(
        prediction['labels'], prediction['scores'], prediction['bboxes'])
             if score >= score_thr]
    return sorted(found, key=lambda item: -item[1])


def classify_images(
        inferencer,
        images: Sequence[str],
        topk: int = 5,
        out_dir: Optional[str] = None) -> List[List[Tuple[str, float]]]:
    """Classify images; optionally paint each with its prediction.

    Args:
        inferencer (ImageClassificationInferencer): From
            :func:`build_inferencer`.
        images (Sequence[str]): Image files.
        topk (int): Number of classes returned per image (at most the
            number of classes).
        out_dir (str, optional): Where to write ``<image name>.png``, the
            image with the predicted class and score.

    Returns:
        list[list[tuple[str, float]]]: The :func:`top_classes` of each image.
    """
    kwargs = {}
    if out_dir is not None:
        os.makedirs(out_dir, exist_ok=True)
        kwargs['show_dir'] = out_dir
    results = inferencer(list(images), **kwargs)
    return [
        top_classes(result['pred_scores'], inferencer.classes, topk)
        for result in results
    ]


def detect_images(
    inferencer,
    images: Sequence[str],
    score_thr: float = 0.3,
    out_dir: Optional[str] = None
) -> List[List[Tuple[str, float, List[float]]]]:
    """Detect objects in images; optionally paint and save the results.

    Args:
        inferencer (DetInferencer): From :func:`build_inferencer`.
        images (Sequence[str]): Image files.
        score_thr (float): Lowest score of a returned or painted detection.
        out_dir (str, optional): Where to write ``vis/<image file name>``
            (the image with its boxes, and masks for instance segmentation
            models) and ``preds/<image name>.json`` (all detections:
            labels, scores, boxes and RLE-encoded masks).

    Returns:
        list[list[tuple[str, float, list[float]]]]: The :func:`detections`
        of each image.
    """
    save = out_dir is not None
    results = inferencer(
        list(images),
        out_dir=out_dir if save else '',
        no_save_vis=not save,
        no_save_pred=not save,
        pred_score_thr=score_thr)
    classes = inferencer.model.dataset_meta['classes']
    return [
        detections(prediction, classes, score_thr)
        for prediction in results['predictions']
    ]


def class_fractions(label_map: np.ndarray,
                    classes: Sequence[str]) -> List[Tuple[str, float]]:
    """The share of the pixels of a label map taken by each class present,
    largest first.

    Args:
        label_map (np.ndarray): Class index of every pixel, ``[H, W]``.
        classes (Sequence[str]): Class names of the segmentor.

    Returns:
        list[tuple[str, float]]: ``(class, fraction)`` pairs of the classes
        with at least one pixel, fractions summing to 1.
    """
    counts = np.bincount(label_map.ravel(), minlength=len(classes))
    order = np.argsort(-counts, kind='stable')
    return [(classes[i], float(counts[i]) / label_map.size) for i in order
            if counts[i]]


def segment_images(
        inferencer,
        images: Sequence[str],
        out_dir: Optional[str] = None) -> List[List[Tuple[str, float]]]:
    """Segment images; optionally paint and save the label maps.

    Args:
        inferencer (MMSegInferencer): From :func:`build_inferencer`.
        images (Sequence[str]): Image files.
        out_dir (str, optional): Where to write ``vis/<image file name>``
            (the image with the predicted classes painted over it) and
            ``pred/<index>_pred.png`` (the label map of the image of that
            index in ``images``, the class index of every pixel).

    Returns:
        list[list[tuple[str, float]]]: The :func:`class_fractions` of each
        image.
    """
    if out_dir is not None:
        os.makedirs(out_dir, exist_ok=True)
    results = inferencer(list(images), out_dir=out_dir or '')
    label_maps = results['predictions']
    # MMSegInferencer unwraps the list of a single image
    if len(images) == 1:
        label_maps = [label_maps]
    classes = inferencer.model.dataset_meta['classes']
    return [class_fractions(label_map, classes) for label_map in label_maps]
