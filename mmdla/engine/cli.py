"""Command-line handling shared by the scripts of ``tools/``: counts, input
shapes, ``--amp``, the device of the fused kernels, ``--cfg-options`` and
its validated merge, output files, the launcher arguments and the runner."""
import argparse
import difflib
import inspect
import os
import os.path as osp
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import torch
from mmengine.config import Config, DictAction
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from .config_diff import flatten_config
from .model_check import check_config_options, check_neck_channels


def add_cfg_options_arg(
        parser: argparse.ArgumentParser,
        help: str = 'override settings of the config, as key=value pairs'
) -> None:
    """Add ``--cfg-options key=value ...`` to a tool's parser, parsed into
    a dict by MMEngine's :class:`DictAction` (None when not given)."""
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction, help=help)


def positive_int(text: str) -> int:
    """``type`` of an argparse option that counts something (at least 1);
    argparse turns the ``ArgumentTypeError`` into a usage error naming the
    option."""
    return _int_at_least(text, 1)


def non_negative_int(text: str) -> int:
    """``type`` of an argparse option that may be 0 (e.g. warm-up steps)."""
    return _int_at_least(text, 0)


def _int_at_least(text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f'expected an integer, got {text!r}') from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f'must be >= {minimum}, got {value}')
    return value


def input_shape(values: Sequence[int]) -> Tuple[int, int]:
    """``(S, )`` -> ``(S, S)``; ``(H, W)`` -> ``(H, W)``."""
    return (values[0], values[0]) if len(values) == 1 else tuple(values)


class _ShapeAction(argparse.Action):
    """Stores one or two positive integers as an ``(H, W)`` tuple."""

    def __call__(self, parser, namespace, values, option_string=None):
        if len(values) not in (1, 2):
            parser.error(f'{option_string} takes one or two integers '
                         f'(S, or H W), got {len(values)}.')
        if min(values) < 1:
            parser.error(f'{option_string} must be >= 1, got '
                         f'{" ".join(map(str, values))}')
        setattr(namespace, self.dest, input_shape(values))


def add_shape_argument(parser: argparse.ArgumentParser,
                       default: Optional[Sequence[int]] = None,
                       help: str = 'input height and width') -> None:
    """``--shape S`` or ``--shape H W``: the input height and width, parsed
    to an ``(H, W)`` tuple (``(S, S)`` for one number)."""
    parser.add_argument(
        '--shape',
        type=int,
        nargs='+',
        action=_ShapeAction,
        metavar='S',
        default=None if default is None else input_shape(default),
        help=f'{help}: S for S x S, or H W')


def add_amp_argument(parser: argparse.ArgumentParser) -> None:
    """``--amp``: the forward passes under bfloat16 autocast (see
    :func:`mmdla.analysis.amp_autocast`)."""
    parser.add_argument(
        '--amp',
        action='store_true',
        help='bfloat16 mixed precision: forward passes (and the loss) under '
        'torch.autocast(dtype=torch.bfloat16), on the CPU or a GPU; '
        'weights, gradients and optimizer state stay float32 and no loss '
        'scaling is needed')


def kernel_device(name: str) -> torch.device:
    """The device ``name`` of a tool that runs the fused kernels of
    :mod:`mmdla.ops`. On the CPU they run in Triton's interpreter:
    ``TRITON_INTERPRET=1`` is set (unless the environment sets it), which
    must happen before the kernels are imported."""
    device = torch.device(name)
    if device.type == 'cpu':
        os.environ.setdefault('TRITON_INTERPRET', '1')
    return device


def check_output_file(parser: argparse.ArgumentParser, option: str,
                      path: str) -> None:
    """Exit with a usage error if the file ``path`` given to ``option``
    (e.g. ``'--output-file'``) cannot be written: it names a folder, or its
    folder does not exist or is not writable. Checked before any work, so
    that a long run does not fail at its last step."""
    folder = osp.dirname(path) or '.'
    if osp.isdir(path):
        parser.error(f'{option} {path} is a folder; give the path of the '
                     f'file to write, e.g. {osp.join(path, "NAME")}')
    if not osp.isdir(folder):
        parser.error(f'{option} {path}: the folder {folder} does not exist; '
                     f'create it first (mkdir -p {folder}) or name a file in '
                     'an existing folder')
    if not os.access(folder, os.W_OK):
        parser.error(f'{option} {path}: the folder {folder} is not '
                     'writable; name a file in a folder you can write to')


def add_common_args(parser: argparse.ArgumentParser) -> None:
    """Add ``--cfg-options``, ``--launcher``, ``--dist-backend`` and
    ``--local-rank`` to a tool's parser."""
    add_cfg_options_arg(
        parser,
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


# top-level keys that MMEngine's runner reads from a config besides the
# arguments of `Runner.__init__`
_RUNNER_CONFIG_KEYS = ('activation_checkpointing', 'compile',
                       'efficient_conv_bn_eval', 'find_unused_parameters',
                       'model_wrapper_cfg', 'runner_type', 'sync_bn')


def check_top_level_keys(cfg: Config, keys: Iterable[str]) -> None:
    """Refuse ``--cfg-options`` whose top-level key nothing would read.

    A key is known if the config has it or MMEngine's runner reads it (an
    argument of :class:`Runner` or one of ``_RUNNER_CONFIG_KEYS``); a typo
    such as ``randomnes.seed=1`` would otherwise be merged and ignored.

    Raises:
        ValueError: For the first unknown key, with the closest known one.
    """
    known = set(cfg.keys()) | set(_RUNNER_CONFIG_KEYS)
    known |= set(inspect.signature(Runner).parameters)
    for key in keys:
        top = key.split('.')[0]
        if top not in known:
            close = difflib.get_close_matches(top, sorted(known), n=1)
            hint = f"did you mean '{close[0]}'? " if close else ''
            raise ValueError(
                f"--cfg-options {key}: the config has no key '{top}' and "
                f'the runner reads none of that name; {hint}To add a new '
                'setting, write it in a config file.')


def _uses_of(key: str, value: Any, settings: Dict[str, Any]) -> List[str]:
    """The keys of ``settings`` that hold the value of the variable
    setting ``key``: for a top-level string, the settings equal to it or
    starting with it (``data_root + 'annotations/...'``); otherwise the
    settings equal to it whose key ends as ``key`` does after its first
    part (``...metainfo.classes`` for ``metainfo.classes``)."""
    _, _, rest = key.partition('.')
    return [
        name for name, setting in settings.items()
        if type(setting) is type(value) and (
            (not rest and isinstance(value, str) and setting.startswith(value))
            or (setting == value and (not rest or name.endswith('.' + rest))))
    ]


def _cli_value(value: Any) -> str:
    """``value`` as ``--cfg-options`` takes it (no spaces)."""
    if isinstance(value, list):
        return '[' + ','.join(_cli_value(item) for item in value) + ']'
    if isinstance(value, tuple):
        return '(' + ','.join(_cli_value(item) for item in value) + ')'
    return str(value)


def check_substituted_variables(cfg: Config, options: Dict[str, Any]) -> None:
    """Refuse ``--cfg-options`` that set a variable of the config file.

    A top-level setting that nothing reads by its name (``data_root``,
    ``metainfo``) is a variable: its value was copied into the settings
    that use it when the file was read, so overriding it changes nothing.
    It is recognised by its value appearing in other settings
    (:func:`_uses_of`), which the error lists with the values to give them.

    Raises:
        ValueError: For the first such option; the message names the
            settings to set instead.
    """
    read_by_name = set(_RUNNER_CONFIG_KEYS)
    read_by_name |= set(inspect.signature(Runner).parameters)
    flat = flatten_config(cfg)
    for key, new in options.items():
        top = key.split('.')[0]
        old = flat.get(key)
        if top in read_by_name or old is None or isinstance(old, bool) \
                or new == old:
            continue
        settings = {
            name: value
            for name, value in flat.items() if name.split('.')[0] != top
        }
        uses = sorted(_uses_of(key, old, settings))
        if not uses:
            continue
        fixes = ' '.join(
            f'{name}={new + settings[name][len(old):]}' if isinstance(
                old, str) and isinstance(new, str) else
            f'{name}={_cli_value(new)}' for name in uses)
        raise ValueError(
            f'--cfg-options {key}={_cli_value(new)}: {top!r} is a variable '
            f'of the config file; its value {old!r} was copied into the '
            'settings that use it when the file was read, so setting it '
            f'changes nothing. Set those settings instead: --cfg-options '
            f'{fixes}')


def merge_cfg_options(cfg: Config, options: Optional[Dict[str, Any]]) -> None:
    """Merge ``--cfg-options`` into ``cfg``, refusing a top-level key that
    nothing reads (:func:`check_top_level_keys`) and a variable of the
    config file (:func:`check_substituted_variables`)."""
    if options:
        check_top_level_keys(cfg, options)
        check_substituted_variables(cfg, options)
        cfg.merge_from_dict(options)


def apply_common_args(cfg: Config, args: argparse.Namespace) -> Config:
    """Set the launcher, merge ``--cfg-options`` and choose the work dir:
    ``--work-dir``, else the config's, else ``./work_dirs/<config name>``."""
    cfg.launcher = args.launcher
    merge_cfg_options(cfg, args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    return cfg


def build_runner(cfg: Config) -> Runner:
    """The config's ``runner_type`` if it names one, else MMEngine's
    :class:`Runner` (which picks the default scope's runner), once the
    model's neck is checked to fit its backbone."""
    check_config_options(cfg)
    check_neck_channels(cfg)
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    return Runner.from_cfg(cfg)
