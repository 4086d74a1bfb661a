"""Run a classifier, a detector or a segmentor of an mmdla config on images.

Classification configs (MMPretrain) print the top classes of each image;
detection configs (MMDetection) print the detections above ``--score-thr``;
segmentation configs (MMSegmentation) print the share of the pixels of each
predicted class. With ``--out-dir``, the painted images are written there:
for classifiers ``<image name>.png`` with the predicted class, for detectors
``vis/<image file>`` with the boxes (and masks) and
``preds/<image name>.json`` with all the detections, for segmentors
``vis/<image file>`` with the predicted classes painted over the image and
``pred/<index>_pred.png`` with the label map (the class index of every
pixel). A folder stands for the images it holds (sorted, its sub-folders
left out). A file that cannot be read as an image is skipped with a warning;
the tool fails only if no image can be read. The checkpoint must hold exactly
the weights of the config's model (as for ``tools/test.py``), unless
``--allow-partial-checkpoint`` is given::

    python tools/infer.py configs/demo/dla20_cifar_shapes_cls.py \
        work_dirs/dla20_cifar_shapes_cls/epoch_20.pth \
        data/shapes_cls/val/star/
    python tools/infer.py configs/demo/mask_rcnn_dla18_fpn_shapes.py \
        work_dirs/mask_rcnn_dla18_fpn_shapes/epoch_12.pth \
        data/shapes_coco/val/00000.png --out-dir predictions --device cpu
    python tools/infer.py configs/demo/fpn_dla18_shapes_seg.py \
        work_dirs/fpn_dla18_shapes_seg/epoch_8.pth \
        data/shapes_seg/img_dir/val/ --out-dir predictions
"""
import argparse
import logging
from typing import List

from mmengine.logging import print_log

from mmdla.apis import (build_inferencer, classify_images, detect_images,
                        expand_images, load_config, segment_images,
                        split_readable, task_of)
from mmdla.engine.cli import add_cfg_options_arg


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Classify images, detect objects in them or segment them')
    parser.add_argument(
        'config', help='classification, detection or segmentation config')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        'images',
        nargs='+',
        help='image files, or folders whose images are all used (sorted; '
        'sub-folders left out)')
    parser.add_argument(
        '--out-dir', help='directory where the painted images are written')
    parser.add_argument(
        '--device', help="e.g. 'cpu' or 'cuda:0'; default: a GPU if any")
    parser.add_argument(
        '--topk',
        type=int,
        default=5,
        help='classes printed per image (classifiers)')
    parser.add_argument(
        '--score-thr',
        type=float,
        default=0.3,
        help='lowest score of a printed or painted detection (detectors)')
    parser.add_argument(
        '--allow-partial-checkpoint',
        action='store_true',
        help='infer even if weights of the model are missing from the '
        'checkpoint, or the checkpoint has others (they are left out)')
    add_cfg_options_arg(parser)
    args = parser.parse_args()
    if args.topk < 1:
        parser.error(f'--topk must be at least 1, got {args.topk}')
    try:
        args.images = expand_images(args.images)
    except FileNotFoundError as error:
        parser.error(str(error))
    return args


def readable_images(images: List[str]) -> List[str]:
    """The images that can be read; a warning for each other one, and an
    exit with status 1 if there is none."""
    readable, unreadable = split_readable(images)
    for image, reason in unreadable.items():
        print_log(
            f'skipped {image}: {reason}',
            logger='current',
            level=logging.WARNING)
    if not readable:
        raise SystemExit('no image could be read (see the warnings above); '
                         'nothing to infer on.')
    return readable


def main() -> None:
    args = parse_args()
    images = readable_images(args.images)
    cfg = load_config(args.config, args.cfg_options)
    inferencer = build_inferencer(cfg, args.checkpoint, args.device,
                                  args.allow_partial_checkpoint)
    task = task_of(cfg)
    if task == 'classification':
        predictions = classify_images(inferencer, images, args.topk,
                                      args.out_dir)
        print()  # end the inferencer's progress bar, left without a newline
        for image, classes in zip(images, predictions):
            ranked = ', '.join(f'{name} {score:.3f}'
                               for name, score in classes)
            print(f'{image}: {ranked}')
    elif task == 'segmentation':
        predictions = segment_images(inferencer, images, args.out_dir)
        print()  # end the inferencer's progress bar, left without a newline
        for image, fractions in zip(images, predictions):
            shares = ', '.join(f'{name} {100 * fraction:.1f} %'
                               for name, fraction in fractions)
            print(f'{image}: {shares}')
    else:
        predictions = detect_images(inferencer, images, args.score_thr,
                                    args.out_dir)
        print()  # end the inferencer's progress bar, left without a newline
        for image, found in zip(images, predictions):
            print(f'{image}: {len(found)} detections with score >= '
                  f'{args.score_thr}')
            for name, score, box in found:
                corners = ', '.join(f'{v:.1f}' for v in box)
                print(f'  {name} {score:.3f} [{corners}]')
    if args.out_dir is not None:
        print(f'painted images written to {args.out_dir}')
    skipped = len(args.images) - len(images)
    if skipped:
        print(f'{skipped} of {len(args.images)} images skipped: they could '
              'not be read (see the warnings above)')


if __name__ == '__main__':
    main()
