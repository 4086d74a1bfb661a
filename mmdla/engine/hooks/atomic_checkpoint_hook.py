"""A checkpoint hook whose checkpoints survive a kill at any moment."""
import os
import os.path as osp

from mmengine.dist import is_main_process
from mmengine.fileio import LocalBackend
from mmengine.hooks import CheckpointHook
from mmengine.registry import HOOKS


def _fsync(path: str) -> None:
    """Flush a file's data to the disk."""
    with open(path, 'rb') as f:
        os.fsync(f.fileno())


def atomic_write_text(text: str, path: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old or the new
    content, never a truncated file."""
    tmp_path = osp.join(osp.dirname(path), f'.{osp.basename(path)}.tmp')
    with open(tmp_path, 'w') as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp_path, path)


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

    It takes the same arguments as ``CheckpointHook``; ``tools/train.py``
    uses it in place of ``CheckpointHook`` for every config. Checkpoints
    that go to a remote storage backend (e.g. ``s3://``) are saved by the
    parent class unchanged, as object stores publish whole objects anyway.
    Best checkpoints (``save_best``) are saved by the parent class too; they
    are never followed by ``last_checkpoint``.
    """

    def _save_checkpoint_with_step(self, runner, step: int,
                                   meta: dict) -> None:
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

        tmp_path = osp.join(self.out_dir, tmp_filename)
        _fsync(tmp_path)
        os.replace(tmp_path, self.last_ckpt)
        atomic_write_text(self.last_ckpt,
                          osp.join(runner.work_dir, 'last_checkpoint'))

        if outdated_step is not None:
            outdated = osp.join(self.out_dir,
                                self.filename_tmpl.format(outdated_step))
            if osp.isfile(outdated):
                os.remove(outdated)
