"""A checkpoint hook whose checkpoints survive a kill at any moment."""
import difflib
import inspect
import os
import os.path as osp

import torch
from mmengine.dist import is_main_process
from mmengine.fileio import LocalBackend
from mmengine.hooks import CheckpointHook

from mmdla.registry import HOOKS

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

    A write that fails (a full disk) removes its temporary file and raises.
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

        tmp_filename = f'.{ckpt_filename}.tmp'
        tmp_path = osp.join(self.out_dir, tmp_filename)
        try:
            runner.save_checkpoint(
                self.out_dir,
                tmp_filename,
                self.file_client_args,
                save_optimizer=self.save_optimizer,
                save_param_scheduler=self.save_param_scheduler,
                meta=meta,
                by_epoch=self.by_epoch,
                backend_args=self.backend_args,
                **self.args)
            # only the main process writes checkpoints
            if not is_main_process():
                return
            _fsync(tmp_path)
            os.replace(tmp_path, self.last_ckpt)
        except BaseException:
            if is_main_process():
                _remove_if_present(tmp_path)
            raise
        atomic_write_text(self.last_ckpt,
                          osp.join(runner.work_dir, 'last_checkpoint'))

        if outdated_step is not None:
            outdated = osp.join(self.out_dir,
                                self.filename_tmpl.format(outdated_step))
            if osp.isfile(outdated):
                os.remove(outdated)
