"""Evaluate a checkpoint of any mmdla config (MMDetection, MMPretrain or
MMSegmentation).

Examples::

    python tools/test.py CONFIG CHECKPOINT
    # also save pictures of the predictions
    python tools/test.py CONFIG CHECKPOINT --show-dir predictions
    # also dump the raw predictions
    python tools/test.py CONFIG CHECKPOINT --out results.pkl

The checkpoint must hold exactly the weights of the config's model: missing,
unexpected or differently shaped weights (a checkpoint of another depth or
variant) are an error, unless ``--allow-partial-checkpoint`` is given.

A relative ``--show-dir`` lands in ``<work_dir>/<timestamp>/`` (MMDetection's
convention, applied to classifiers and segmentors too); an absolute one is
used as is. Segmentors paint ground truth beside prediction into
``<show dir>/<image file>`` (``mmdla.SegPaintingHook``).
"""
import argparse
import os.path as osp

from mmengine.config import Config

from mmdla.engine import (check_checkpoint_file, check_checkpoint_fits,
                          exit_distributed_run, setup_distributed)
from mmdla.engine.cli import (add_common_args, apply_common_args, build_runner,
                              parse_tool_args)
from mmdla.engine.data_check import check_data_roots
from mmdla.utils import is_local_path, runner_checkpoint_loading


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Test (and evaluate) a detector, a classifier or a '
        'segmentor')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--work-dir', help='the dir to save the evaluation metrics and logs')
    parser.add_argument(
        '--out', help='dump the predictions to a pickle file (.pkl)')
    parser.add_argument(
        '--show', action='store_true', help='show the predictions in a window')
    parser.add_argument(
        '--show-dir', help='directory where painted predictions are saved')
    parser.add_argument(
        '--wait-time', type=float, default=2, help='seconds per shown image')
    parser.add_argument(
        '--interval',
        type=int,
        default=1,
        help='paint every N-th image (classifiers) or batch (segmentors); '
        'detectors paint all')
    parser.add_argument(
        '--allow-partial-checkpoint',
        action='store_true',
        help='evaluate even if weights of the model are missing from the '
        'checkpoint, or the checkpoint has others (they are left out)')
    parser.add_argument(
        '--check-images',
        action='store_true',
        help='before testing, open and decode every image of the test set, '
        'to name each truncated or damaged file (this reads every file)')
    add_common_args(parser)
    args = parse_tool_args(parser)
    if args.out is not None and not args.out.endswith(('.pkl', '.pickle')):
        parser.error(f'--out must name a .pkl file, got {args.out!r}')
    return args


def enable_visualization(cfg: Config, args: argparse.Namespace) -> None:
    """Turn on the visualization hook of an MMDetection, MMPretrain or
    MMSegmentation config."""
    hook = cfg.get('default_hooks', {}).get('visualization')
    if hook is None:
        raise RuntimeError(
            '--show/--show-dir need a visualization hook in the config: '
            "default_hooks.visualization=dict(type='DetVisualizationHook') "
            "for detectors, dict(type='VisualizationHook') for classifiers, "
            "dict(type='SegVisualizationHook') for segmentors.")
    scope = cfg.get('default_scope')
    if scope == 'mmdet':
        hook.draw = True
        if args.show_dir:
            hook.test_out_dir = args.show_dir
    elif scope == 'mmpretrain':
        # the folder is set on the built hook, see `main`
        hook.enable = True
        hook.interval = args.interval
    elif scope == 'mmseg':
        # registers mmdla.SegPaintingHook, MMSeg's hook with MMDet's folder
        import mmdla.visualization.seg_painting_hook  # noqa: F401
        hook.type = 'mmdla.SegPaintingHook'
        hook.draw = True
        hook.interval = args.interval
        if args.show_dir:
            hook.test_out_dir = args.show_dir
    else:
        raise RuntimeError(
            '--show/--show-dir support MMDetection, MMPretrain and '
            f'MMSegmentation configs, not default_scope={scope!r}.')
    hook.show = args.show
    hook.wait_time = args.wait_time


def main() -> None:
    args = parse_args()
    cfg = apply_common_args(Config.fromfile(args.config), args)
    cfg.load_from = args.checkpoint
    remote = not is_local_path(args.checkpoint)
    if not remote and not osp.exists(args.checkpoint):
        raise FileNotFoundError(
            f'Checkpoint {args.checkpoint!r} does not exist; train one with '
            f'`python tools/train.py {args.config}` (it is saved in the work '
            'dir, e.g. work_dirs/<config name>/epoch_N.pth).')
    if not remote:
        check_checkpoint_file(args.checkpoint)
    if args.show or args.show_dir:
        enable_visualization(cfg, args)

    check_data_roots(cfg, ['test_dataloader'], check_images=args.check_images)
    setup_distributed(cfg, args.launcher, args.dist_backend)

    runner = build_runner(cfg)
    if not remote and not args.allow_partial_checkpoint:
        check_checkpoint_fits(runner.model, args.checkpoint)

    if args.show_dir and cfg.get('default_scope') == 'mmpretrain':
        # MMPretrain's hook takes its folder as is; resolve it like MMDet's
        from mmpretrain.engine.hooks import VisualizationHook
        for hook in runner.hooks:
            if isinstance(hook, VisualizationHook):
                hook.out_dir = osp.join(runner.work_dir, runner.timestamp,
                                        args.show_dir)

    if args.out is not None:
        if cfg.get('default_scope') == 'mmdet':
            from mmdet.evaluation import DumpDetResults as DumpResults
        else:
            from mmengine.evaluator import DumpResults
        runner.test_evaluator.metrics.append(
            DumpResults(out_file_path=args.out))

    with runner_checkpoint_loading():
        runner.test()
    exit_distributed_run()


if __name__ == '__main__':
    main()
