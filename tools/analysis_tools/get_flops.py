"""Count the parameters and FLOPs of the model of an mmdla config.

Works for the classification (mmpretrain), detection (mmdet) and semantic
segmentation (mmseg) configs:

    python tools/analysis_tools/get_flops.py configs/dla50_8xb32_in1k.py
    python tools/analysis_tools/get_flops.py \
        configs/faster_rcnn_dla50_fpn_1x_coco.py --shape 800 1344
    python tools/analysis_tools/get_flops.py \
        configs/demo/fpn_dla18_shapes_seg.py

FLOPs are counted with MMEngine's fvcore-style analyzer, where one fused
multiply-add counts as one FLOP, so the figures are multiply-accumulates
(MACs). The main figure counts convolutions, linear layers and matrix
products, the convention of the papers (ResNet-50: 4.09 G, DLA-L ResNet-50:
4.21 G); the total also counts norm layers, pooling and upsampling. The
backbone's share is printed apart. A two-stage detector is counted on a
fixed set of proposals, as many as its RPN keeps at most at test time
(``test_cfg.rpn.max_per_img``, 1000 for Faster and Mask R-CNN), so that the
figure does not depend on the weights; the mask head sees the first 100, as
in mmdet. A segmentor is counted up to the logits of its decode head (see
:mod:`mmdla.analysis.flops`). Inputs are seeded: every run of a config gives
the same figures.
"""
import argparse
from typing import List, Optional

from mmdla.analysis import count_complexity, load_config
from mmdla.engine.cli import add_cfg_options_arg, add_shape_argument


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Count the parameters and FLOPs of a config\'s model.')
    parser.add_argument('config', help='config file path')
    add_shape_argument(
        parser,
        help='input height and width (default: the crop size of a '
        'classification or segmentation config, 800 x 1344 for detection)')
    add_cfg_options_arg(
        parser,
        help='override settings of the config, e.g. '
        'model.backbone.variant=base')
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args()
    cfg = load_config(args.config, args.cfg_options)
    result = count_complexity(cfg, args.shape)
    height, width = result['input_shape']
    line = '=' * 40
    print(f'{line}\n'
          f'Config: {args.config}\n'
          f'Input shape: 3 x {height} x {width}\n'
          f'Params: {result["params"]:,} '
          f'({result["params"] / 1e6:.2f} M; backbone '
          f'{result["backbone_params"]:,})\n'
          f'FLOPs (multiply-adds of convolutions and linear layers): '
          f'{result["flops"] / 1e9:.2f} G '
          f'(backbone {result["backbone_flops"] / 1e9:.2f} G)\n'
          f'FLOPs with norm layers and pooling: '
          f'{result["total_flops"] / 1e9:.2f} G\n'
          f'{line}')


if __name__ == '__main__':
    main()
