"""Train a model of any mmdla config (MMDetection, MMPretrain or
MMSegmentation).

Examples::

    # single process (GPU if there is one, else CPU)
    python tools/train.py configs/demo/faster_rcnn_dla18_fpn_shapes.py
    python tools/train.py configs/demo/fpn_dla18_shapes_seg.py

    # resume the latest checkpoint of the work dir, or a given one
    python tools/train.py CONFIG --resume
    python tools/train.py CONFIG --resume work_dirs/NAME/epoch_3.pth

    # start over in a work dir that holds a run: the earlier run is moved
    # into work_dirs/NAME/earlier_runs/<time>/
    python tools/train.py CONFIG --new-run

    # several processes: see tools/dist_train.sh and tools/slurm_train.sh

The hooks are those the config names: mmdla's configs save checkpoints with
``mmdla.AtomicCheckpointHook`` (a run killed at any moment can be resumed)
and stop on a non-finite loss with ``mmdla.FiniteLossHook``. ``--resume``
without a path continues from the checkpoint ``last_checkpoint`` names, else
from the latest valid ``epoch_N.pth``/``iter_N.pth`` of the work dir; it
never trains from scratch over checkpoints. A resumed run logs how the
config differs from the checkpoint's and trains with the optimizer settings
of the config (``mmdla.ResumedConfigHook``); a run that is already complete
says so and exits. A job that torchrun (``MAX_RESTARTS`` of
``tools/dist_train.sh``) or Slurm (a requeue) restarted resumes as if
``--resume`` was given. Without ``--resume``, a work dir that holds
checkpoints is refused unless ``--new-run`` is given; one training at a time
holds a work dir. On SIGTERM or SIGUSR1, a run whose config trains with
``mmdla.PreemptibleEpochBasedTrainLoop`` saves the iteration it is at and
exits with status 75; ``--resume`` continues it mid-epoch. When no GPU is
present a distributed launch uses the gloo backend on the CPU;
``--dist-backend`` forces a backend.
"""
import argparse
import sys

from mmengine.config import Config
from mmengine.logging import print_log
from torch.distributed.elastic.multiprocessing.errors import record

from mmdla.engine import (EXIT_STOPPED, TrainingStopped, exit_distributed_run,
                          setup_distributed)
from mmdla.engine.cli import (add_common_args, apply_common_args, build_runner,
                              parse_tool_args)
from mmdla.engine.data_check import check_data_roots
from mmdla.engine.distributed import launcher_rank
from mmdla.engine.resume import (finished_run_message, prepare_resume,
                                 resolve_resume)
from mmdla.engine.work_dir import claim_work_dir
from mmdla.utils import is_local_path, runner_checkpoint_loading


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Train a detector, a classifier or a segmentor')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--amp',
        action='store_true',
        help='enable automatic mixed precision training (GPU only)')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from the given checkpoint, or, without a value, from the '
        'latest checkpoint of the work dir')
    parser.add_argument(
        '--new-run',
        action='store_true',
        help='start a new run in a work dir that holds one: its checkpoints, '
        'logs and config are moved into <work dir>/earlier_runs/<time>/')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the learning rate by the actual total batch size over '
        '`auto_scale_lr.base_batch_size` of the config')
    parser.add_argument(
        '--no-validate',
        action='store_true',
        help='do not evaluate checkpoints during training')
    parser.add_argument(
        '--check-images',
        action='store_true',
        help='before training, open and decode every image of the training '
        'and validation sets, to name each truncated or damaged file (this '
        'reads every file)')
    add_common_args(parser)
    args = parse_tool_args(parser)
    if args.new_run and args.resume is not None:
        parser.error('--new-run starts over, --resume continues: give one')
    return args


def merge_args(cfg: Config, args: argparse.Namespace) -> Config:
    """Apply the command line arguments to the config."""
    apply_common_args(cfg, args)
    if args.no_validate:
        cfg.val_cfg = None
        cfg.val_dataloader = None
        cfg.val_evaluator = None

    if args.amp:
        import torch
        if not torch.cuda.is_available():
            raise RuntimeError(
                '--amp needs a GPU (MMEngine\'s AmpOptimWrapper does not run '
                'on the CPU); drop --amp to train on the CPU.')
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')

    if args.auto_scale_lr:
        if 'base_batch_size' not in cfg.get('auto_scale_lr', {}):
            raise RuntimeError(
                '--auto-scale-lr needs `auto_scale_lr = dict(enable=False, '
                'base_batch_size=N)` in the config, where N is the total '
                'batch size its learning rate was set for.')
        cfg.auto_scale_lr.enable = True

    resolve_resume(cfg, args)
    return cfg


# under torchrun, the exception that ends a process (e.g. an image it cannot
# read) is the root cause of the failure that torchrun reports, instead of
# the lost connections of the other processes
@record
def main() -> None:
    args = parse_args()
    cfg = merge_args(Config.fromfile(args.config), args)
    resumed = cfg.load_from if cfg.get('resume') else None
    if resumed and is_local_path(resumed):
        message = finished_run_message(cfg, resumed, args.config)
        if message is not None:
            print_log(message, logger='current')
            return
    # MMPretrain's configs validate with `val_cfg = dict()`; --no-validate
    # sets the val_dataloader to None, which the check skips
    check_data_roots(
        cfg, ['train_dataloader', 'val_dataloader'],
        check_images=args.check_images)
    # the work dir is this run's while the lock file is open
    lock = claim_work_dir(cfg.work_dir, bool(cfg.get('resume')), args.new_run,
                          launcher_rank(args.launcher))

    setup_distributed(cfg, args.launcher, args.dist_backend)

    runner = build_runner(cfg)
    if resumed:
        prepare_resume(runner, resumed)
    try:
        with runner_checkpoint_loading():
            runner.train()
    except TrainingStopped:
        # the loop logged the checkpoint and how to continue
        exit_distributed_run(EXIT_STOPPED)
        sys.exit(EXIT_STOPPED)
    if lock is not None:
        lock.close()
    exit_distributed_run()


if __name__ == '__main__':
    main()
