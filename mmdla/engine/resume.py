"""The resume of a run: whether and from where it resumes, is there
anything left to train, does the checkpoint hold the config's model, and
what did the config change.

MMEngine's runner resumes a finished run by training nothing and exiting
with status 0, and resumes a checkpoint of another model until the
optimizer's state fails to load ("loaded state dict contains a parameter
group that doesn't match the size of optimizer's group"). ``tools/train.py``
calls :func:`resolve_resume` and :func:`finished_run_message` before
building the runner and :func:`prepare_resume` after it.
"""
import argparse
from typing import Optional

from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.runner import Runner

from mmdla.utils import is_local_path
from .checkpoint_files import (check_checkpoint_file, find_resume_checkpoint,
                               read_checkpoint)
from .checkpoint_match import check_checkpoint_fits
from .distributed import restart_count
from .hooks import ResumedConfigHook


def resolve_resume(cfg: Config, args: argparse.Namespace) -> None:
    """Decide whether the run resumes, and from which checkpoint, and set
    ``cfg.resume`` and ``cfg.load_from`` to say so: the run resumes
    ``cfg.load_from`` if ``cfg.resume``.

    - ``--resume PATH`` (``args.resume``): that checkpoint, which must be a
      complete file if it is local;
    - ``--resume`` without a path (``'auto'``), or no ``--resume`` in a job
      its launcher restarted (:func:`restart_count`), whose first command
      line could not know that it would need one: the latest checkpoint of
      the work dir (:func:`find_resume_checkpoint`), or a new run if it
      holds none;
    - otherwise the config's own ``resume`` and ``load_from``.

    A restarted job never moves its own earlier run aside: its
    ``args.new_run`` is cleared.

    Raises:
        CheckpointFileError: If the checkpoint given is not a complete file,
            or the work dir holds only unusable ones.
    """
    resume = args.resume
    if restart_count() > 0:
        print_log(
            f'Restart {restart_count()} of this job: resuming from the '
            'latest checkpoint of the work dir.',
            logger='current')
        args.new_run = False
        if resume is None:
            resume = 'auto'
    if resume == 'auto':
        cfg.load_from = find_resume_checkpoint(cfg.work_dir)
        # no checkpoint at all in the work dir: a new run
        cfg.resume = cfg.load_from is not None
    elif resume is not None:
        if is_local_path(resume):
            check_checkpoint_file(resume)
        cfg.resume = True
        cfg.load_from = resume


def finished_run_message(cfg: Config, checkpoint: str,
                         config_file: str) -> Optional[str]:
    """Say so if ``checkpoint`` already reached the end of ``cfg``'s
    training (``train_cfg.max_epochs`` or ``max_iters``).

    Args:
        cfg: The config of the resumed run.
        checkpoint: A local runner checkpoint.
        config_file: The config's path, for the commands in the message.

    Returns:
        str, optional: A message with what to run instead, or ``None`` if
        there is training left.
    """
    meta = read_checkpoint(checkpoint).get('meta', {})
    train_cfg = cfg.get('train_cfg') or {}
    for unit, key in (('epoch', 'max_epochs'), ('iter', 'max_iters')):
        if key in train_cfg and unit in meta:
            if meta[unit] < train_cfg[key]:
                return None
            return (f'Nothing to train: {checkpoint} was saved at {unit} '
                    f'{meta[unit]}, and the config trains for train_cfg.'
                    f'{key}={train_cfg[key]}; the run is complete. To '
                    'train longer, resume with --cfg-options train_cfg.'
                    f'{key}=N; to evaluate it: python tools/test.py '
                    f'{config_file} {checkpoint}')
    return None


def prepare_resume(runner: Runner, checkpoint: str) -> None:
    """Check that ``checkpoint`` holds the model of the runner, and add a
    :class:`~mmdla.engine.hooks.ResumedConfigHook` unless the config names
    one.

    Raises:
        CheckpointMismatchError: If the checkpoint's weights do not fit the
            model (a checkpoint of another config); checked before the
            runner loads it, for a local file.
    """
    if is_local_path(checkpoint):
        check_checkpoint_fits(
            runner.model,
            checkpoint,
            fix='resume it with that config, or start a new run from its '
            'matching weights: --cfg-options load_from=CHECKPOINT, without '
            '--resume.')
    if not any(isinstance(hook, ResumedConfigHook) for hook in runner.hooks):
        runner.register_hook(ResumedConfigHook())
