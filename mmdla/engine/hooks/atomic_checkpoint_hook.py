"""A checkpoint hook whose checkpoints survive a kill at any moment."""
import difflib
import errno
import inspect
import os
import os.path as osp
import shutil
from typing import Optional

import torch
from mmengine.dist import is_main_process
from mmengine.fileio import LocalBackend
from mmengine.hooks import CheckpointHook

from mmdla.registry import HOOKS
from ..checkpoint_files import pointed_checkpoint

# CheckpointHook passes options it does not know on to
# `runner.save_checkpoint`, which takes none besides these: a misspelt option
# would only fail when the first checkpoint is saved
_OPTIONS = tuple(
    name for name in inspect.signature(CheckpointHook).parameters
    if name != 'kwargs')


def _fsync(path: str) -> None:
    """Flush a file's data to the disk."""
    with open(path, 'rb') as f:
        os.fsync(f.fileno())


def atomic_write_text(text: str, path: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old or the new
    content, never a truncated file."""
    tmp_path = osp.join(osp.dirname(path), f'.{osp.basename(path)}.tmp')
    try:
        with open(tmp_path, 'w') as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        _remove_if_present(tmp_path)
        raise


def _remove_if_present(path: str) -> None:
    """Remove a file if it exists (a temporary file of a failed write)."""
    if osp.isfile(path):
        os.remove(path)


def _disk_full_error(path: str, written: int,
                     previous: Optional[str]) -> OSError:
    """The error of a checkpoint that did not fit on its disk: which file,
    about how much space it needs, and that the previous one is intact."""
    folder = osp.dirname(path)
    needed = max(written, osp.getsize(previous) if previous else 0)
    free = shutil.disk_usage(folder).free
    kept = (f'The previous checkpoint {previous} is intact; resume from it '
            'with --resume once there is space.'
            if previous else 'No earlier checkpoint was touched.')
    return OSError(
        errno.ENOSPC,
        f'No space left on the disk to save the checkpoint {path}: it needs '
        f'about {needed / 2**20:.0f} MiB (its previous checkpoint\'s size) '
        f'and {free / 2**20:.0f} MiB are free in {folder}. {kept} Free '
        'space, or keep fewer checkpoints (default_hooks.checkpoint.'
        'max_keep_ckpts=N), or save to another disk (--work-dir).')


def save_checkpoint_atomically(runner, out_dir: str, filename: str,
                               **save_kwargs) -> str:
    """Save a runner checkpoint as ``<out_dir>/<filename>`` so that a kill
    or a full disk at any moment leaves every file valid, then point
    ``<work_dir>/last_checkpoint`` at it.

    The checkpoint is written to a hidden temporary file in the same
    folder, flushed to disk, and renamed over its final name (``os.replace``
    is atomic); only then is the pointer updated, in the same way. Every
    rank calls it (the model's state may be gathered); the main process
    writes.

    Args:
        runner: The runner.
        out_dir: The local folder of the checkpoint.
        filename: Its file name, e.g. ``epoch_3.pth``.
        **save_kwargs: Passed on to ``runner.save_checkpoint`` (``meta``,
            ``by_epoch``, ``save_optimizer``...).

    Returns:
        str: The path of the checkpoint.

    Raises:
        OSError: If the disk is full; the message names the file, the space
            it needs and the previous checkpoint, which is left intact.
    """
    path = osp.join(out_dir, filename)
    tmp_filename = f'.{filename}.tmp'
    tmp_path = osp.join(out_dir, tmp_filename)
    try:
        runner.save_checkpoint(out_dir, tmp_filename, **save_kwargs)
        # only the main process writes checkpoints
        if not is_main_process():
            return path
        _fsync(tmp_path)
        os.replace(tmp_path, path)
    except BaseException as error:
        if not is_main_process():
            raise
        written = osp.getsize(tmp_path) if osp.isfile(tmp_path) else 0
        _remove_if_present(tmp_path)
        if isinstance(error, OSError) and error.errno == errno.ENOSPC:
            # the pointer still names the checkpoint saved before this one
            previous = pointed_checkpoint(runner.work_dir)
            raise _disk_full_error(path, written, previous) from error
        raise
    atomic_write_text(path, osp.join(runner.work_dir, 'last_checkpoint'))
    return path


def _non_finite_parameters(model: torch.nn.Module) -> list:
    """Names of the parameters that hold a NaN or an infinity."""
    return [
        name for name, param in model.named_parameters()
        if not bool(torch.isfinite(param).all())
    ]


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """:class:`~mmengine.hooks.CheckpointHook` that saves atomically.

    MMEngine's hook writes ``epoch_N.pth`` in place, then the
    ``last_checkpoint`` pointer that ``resume=True`` follows; before that it
    already deleted the oldest checkpoint when ``max_keep_ckpts`` is set. A
    process killed while saving can therefore leave a truncated checkpoint, a
    truncated pointer, or a pointer to a deleted file, and auto-resume then
    fails. This hook keeps every file on disk valid at every moment:

    1. the checkpoint is written to a hidden temporary file in the same
       folder, flushed to disk, and renamed over its final name
       (``os.replace`` is atomic on POSIX and Windows);
    2. only then is ``last_checkpoint`` updated, in the same way;
    3. only then are outdated checkpoints deleted.

    (Steps 1 and 2 are :func:`save_checkpoint_atomically`.) A write that
    fails removes its temporary file and raises; on a full disk the error
    names the file, the space it needs, and the previous checkpoint, which
    is intact.
    Weights that hold a NaN or an infinity are never saved: the hook raises
    instead, so that the good checkpoints are not rotated out by diverged
    ones.

    It takes the same arguments as ``CheckpointHook`` and, unlike it, refuses
    unknown ones when it is built (``CheckpointHook`` hands them to
    ``runner.save_checkpoint``, where a typo fails only at the first save).
    mmdla's configs name it in ``default_hooks``::

        checkpoint=dict(type='mmdla.AtomicCheckpointHook', interval=1)

    Checkpoints that go to a remote storage backend (e.g. ``s3://``) are
    saved by the parent class unchanged, as object stores publish whole
    objects anyway.
    Best checkpoints (``save_best``) are saved by the parent class too; they
    are never followed by ``last_checkpoint``.
    """

    def __init__(self, *args, **kwargs) -> None:
        unknown = [name for name in kwargs if name not in _OPTIONS]
        if unknown:
            name = unknown[0]
            close = difflib.get_close_matches(name, _OPTIONS, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else '.'
            raise TypeError(
                f"{type(self).__name__} has no option '{name}'{hint} Its "
                f'options are: {", ".join(_OPTIONS)}.')
        super().__init__(*args, **kwargs)

    def _save_checkpoint_with_step(self, runner, step: int,
                                   meta: dict) -> None:
        bad = _non_finite_parameters(runner.model)
        if bad:
            unit = 'epoch' if self.by_epoch else 'iteration'
            raise FloatingPointError(
                f'Not saving the checkpoint of {unit} {step}: {len(bad)} '
                'parameters hold NaN or infinite values '
                f'(e.g. {bad[0]}); training diverged. The earlier '
                'checkpoints are kept.')
        if not isinstance(self.file_backend, LocalBackend):
            super()._save_checkpoint_with_step(runner, step, meta)
            return

        outdated_step = None
        # `_save_checkpoint` and `_save_best_checkpoint` may both save at the
        # same step; the step is then registered once, as in the parent
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids and
                                            self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                outdated_step = self.keep_ckpt_ids.popleft()
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids',
                                           list(self.keep_ckpt_ids))

        ckpt_filename = self.filename_tmpl.format(step)
        self.last_ckpt = osp.join(self.out_dir, ckpt_filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        save_checkpoint_atomically(
            runner,
            self.out_dir,
            ckpt_filename,
            file_client_args=self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            backend_args=self.backend_args,
            **self.args)

        if outdated_step is not None and is_main_process():
            outdated = osp.join(self.out_dir,
                                self.filename_tmpl.format(outdated_step))
            if osp.isfile(outdated):
                os.remove(outdated)
