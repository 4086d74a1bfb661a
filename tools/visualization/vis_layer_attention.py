"""Draw what the layer attention of a trained backbone computes on images.

Runs the backbone of a classification, detection or segmentation config on
the images of a folder (searched recursively), through the config's test
pipeline and the model's data preprocessor, and averages over the images, for
every block of every stage: the head gates ``a_t``, ``lambda`` and the update
gates ``d_t`` (DLA-L, MRLA-light), the attention weights over the earlier
blocks (DLA-B, MRLA-base) and the ratio of the attention branch's norm to the
block output's (see :mod:`mmdla.analysis.layer_attention_stats`). Writes one
figure, prints a summary and optionally writes the numbers as JSON::

    python tools/visualization/vis_layer_attention.py \
        configs/demo/dla20_cifar_shapes_cls.py \
        work_dirs/dla20_cifar_shapes_cls/epoch_20.pth data/shapes_cls/val \
        --out layer_attention.png --json layer_attention.json
    python tools/visualization/vis_layer_attention.py \
        configs/demo/fpn_dla18_shapes_seg.py \
        work_dirs/fpn_dla18_shapes_seg/epoch_8.pth \
        data/shapes_seg/img_dir/val --out layer_attention_seg.png
"""
import argparse
import json
import os.path as osp
from typing import List, Optional

import torch
from mmengine.runner import load_checkpoint

from mmdla.analysis import (build_model, find_images, format_summary,
                            layer_attention_stats, load_config,
                            preprocessed_batches)
from mmdla.engine import check_checkpoint_file, check_checkpoint_fits
from mmdla.engine.cli import add_cfg_options_arg, positive_int
from mmdla.utils import runner_checkpoint_loading
from mmdla.visualization import layer_attention_figure


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Heatmaps of the layer attention of a backbone, '
        'averaged over the images of a folder.')
    parser.add_argument('config', help='config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        'image_dir', help='folder of images (searched recursively)')
    parser.add_argument(
        '--out',
        default='layer_attention.png',
        help='figure file (default: layer_attention.png)')
    parser.add_argument('--json', help='also write the numbers to this file')
    parser.add_argument(
        '--device', default='cpu', help='device, e.g. cpu or cuda:0')
    parser.add_argument(
        '--batch-size',
        type=positive_int,
        default=1,
        help='images per forward pass (images of different sizes are '
        'padded to the largest of their batch; default: 1)')
    parser.add_argument(
        '--max-images',
        type=positive_int,
        help='use only the first N images')
    add_cfg_options_arg(
        parser,
        help='override settings of the config, e.g. '
        'model.backbone.variant=base')
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args()
    cfg = load_config(args.config, args.cfg_options)
    paths = find_images(args.image_dir, args.max_images)
    model = build_model(cfg)
    check_checkpoint_file(args.checkpoint)
    check_checkpoint_fits(model, args.checkpoint)
    with runner_checkpoint_loading():
        load_checkpoint(model, args.checkpoint, map_location='cpu')
    model.to(torch.device(args.device)).eval()
    stats = layer_attention_stats(
        model.backbone, preprocessed_batches(cfg, model, paths,
                                             args.batch_size))
    print(format_summary(stats))
    figure = layer_attention_figure(
        stats, title=f'Layer attention of {osp.basename(args.config)}')
    figure.savefig(args.out, dpi=100)
    print(f'figure: {args.out}')
    if args.json:
        with open(args.json, 'w') as file:
            json.dump(
                dict(
                    config=args.config,
                    checkpoint=args.checkpoint,
                    image_dir=args.image_dir,
                    **stats),
                file,
                indent=1)
        print(f'numbers: {args.json}')


if __name__ == '__main__':
    main()
