"""Export a classifier, or the backbone of any mmdla config, to ONNX.

The input of the graph is the normalised image tensor ``input``
``[N, 3, H, W]`` (``(image - mean) / std`` of the config's data
preprocessor, RGB). A classifier's output is ``scores`` ``[N, K]``, the
softmax of its logits; with ``--backbone-only`` the outputs are the stage
features of the backbone, ``layer1`` ... (one per entry of its
``out_indices``)::

    python tools/deployment/pytorch2onnx.py \
        configs/demo/dla20_cifar_shapes_cls.py CHECKPOINT \
        --output-file dla20.onnx --shape 32 32 --dynamic-export --verify
    python tools/deployment/pytorch2onnx.py \
        configs/faster_rcnn_dla50_fpn_1x_coco.py CHECKPOINT \
        --output-file dla50_backbone.onnx --shape 800 1344 --backbone-only
    python tools/deployment/pytorch2onnx.py \
        configs/demo/fpn_dla18_shapes_seg.py CHECKPOINT \
        --output-file dla18_seg_backbone.onnx --shape 128 128 --backbone-only

``--dynamic-export`` makes the batch axis symbolic (one file for every batch
size); otherwise the batch size is 1. ``--verify`` runs the file in ONNX
Runtime and compares it with PyTorch on random inputs (batch 1, and batch 3
after a dynamic export); the tool fails if a relative error
``max|onnx - torch| / max|torch|`` exceeds 1e-4. The checkpoint must hold
exactly the weights of the config's model (as for ``tools/test.py``):
otherwise nothing is written, unless ``--allow-partial-checkpoint`` is given.
Needs the ``deploy`` extra (``pip install -r requirements/deploy.txt``).
"""
import argparse

from mmdla.apis import load_config
from mmdla.deployment import build_export_module, export_onnx, onnx_errors
from mmdla.deployment.onnx_export import DEFAULT_TOLERANCE
from mmdla.engine.cli import add_cfg_options_arg, check_output_file

#: Batch sizes compared by --verify, after a static and a dynamic export.
STATIC_VERIFY_BATCHES = (1, )
DYNAMIC_VERIFY_BATCHES = (1, 3)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Export a classifier or a backbone to ONNX')
    parser.add_argument(
        'config', help='classification, detection or segmentation config')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--output-file', required=True, help='the .onnx file to write')
    parser.add_argument(
        '--shape',
        type=int,
        nargs=2,
        required=True,
        metavar=('H', 'W'),
        help='input height and width')
    parser.add_argument(
        '--dynamic-export',
        action='store_true',
        help='symbolic batch axis (default: batch size 1)')
    parser.add_argument(
        '--opset-version', type=int, default=18, help='ONNX opset')
    parser.add_argument(
        '--verify',
        action='store_true',
        help='compare the file in ONNX Runtime with PyTorch')
    parser.add_argument(
        '--backbone-only',
        action='store_true',
        help='export the backbone alone (required for detectors and '
        'segmentors)')
    parser.add_argument(
        '--allow-partial-checkpoint',
        action='store_true',
        help='export even if weights of the model are missing from the '
        'checkpoint, or the checkpoint has others (they are left out)')
    add_cfg_options_arg(parser)
    args = parser.parse_args()
    if min(args.shape) < 1:
        parser.error(f'--shape must be positive, got {args.shape}')
    check_output_file(parser, '--output-file', args.output_file)
    return args


def main() -> None:
    args = parse_args()
    cfg = load_config(args.config, args.cfg_options)
    module, output_names = build_export_module(cfg, args.checkpoint,
                                               args.backbone_only,
                                               args.allow_partial_checkpoint)
    shape = tuple(args.shape)
    export_onnx(module, args.output_file, shape, output_names,
                args.dynamic_export, args.opset_version)
    print(f'ONNX file written to {args.output_file}: input {shape}, '
          f'outputs {", ".join(output_names)}, '
          f'{"dynamic" if args.dynamic_export else "static"} batch')
    if not args.verify:
        return
    batches = (
        DYNAMIC_VERIFY_BATCHES
        if args.dynamic_export else STATIC_VERIFY_BATCHES)
    errors = onnx_errors(module, args.output_file, shape, batches)
    worst = 0.0
    for batch, by_output in errors.items():
        for name, error in by_output.items():
            print(f'batch {batch}, {name}: relative error {error:.2e}')
            worst = max(worst, error)
    if worst > DEFAULT_TOLERANCE:
        raise SystemExit(f'verification failed: relative error {worst:.2e} '
                         f'> {DEFAULT_TOLERANCE:.0e}')
    print(f'verified: ONNX Runtime matches PyTorch (relative error '
          f'{worst:.2e} <= {DEFAULT_TOLERANCE:.0e})')


if __name__ == '__main__':
    main()
