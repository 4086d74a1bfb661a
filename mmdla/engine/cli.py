"""Command-line handling shared by ``tools/train.py`` and ``tools/test.py``."""
import argparse
import os
import os.path as osp

from mmengine.config import Config, DictAction
from mmengine.registry import RUNNERS
from mmengine.runner import Runner


def add_common_args(parser: argparse.ArgumentParser) -> None:
    """Add ``--cfg-options``, ``--launcher``, ``--dist-backend`` and
    ``--local-rank`` to a tool's parser."""
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, as key=value pairs, e.g. '
        'train_dataloader.dataset.data_root=/data/coco/ '
        'train_cfg.max_epochs=3 (lists: key="[a,b]" or key=a,b; no spaces)')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument(
        '--dist-backend',
        choices=['nccl', 'gloo', 'mpi'],
        help='communication backend of a distributed run; default: the '
        "config's (nccl) on GPU machines, gloo without a GPU")
    # torch.distributed.launch passes --local-rank (torch>=2.0) or
    # --local_rank; torchrun sets LOCAL_RANK instead
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def parse_tool_args(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """Parse the command line and export ``LOCAL_RANK`` if no launcher did."""
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def apply_common_args(cfg: Config, args: argparse.Namespace) -> Config:
    """Set the launcher, merge ``--cfg-options`` and choose the work dir:
    ``--work-dir``, else the config's, else ``./work_dirs/<config name>``."""
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    return cfg


def build_runner(cfg: Config) -> Runner:
    """The config's ``runner_type`` if it names one, else MMEngine's
    :class:`Runner` (which picks the default scope's runner)."""
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    return Runner.from_cfg(cfg)
