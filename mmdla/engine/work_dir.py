"""One run per work dir: a lock, and an earlier run that is never lost.

MMEngine's runner writes ``epoch_N.pth`` and ``last_checkpoint`` into the
work dir whatever it holds: a new run over an earlier one overwrites its
checkpoints, and two runs at once overwrite each other's.
:func:`claim_work_dir` is called by ``tools/train.py`` before the runner is
built. It locks the work dir for the life of the process (a second training
in the same work dir stops, naming the first), and refuses to start a new
run over the checkpoints of an earlier one unless asked to, in which case
the earlier run is moved into ``<work_dir>/earlier_runs/<time>/`` first.

The lock is an advisory ``flock`` on ``<work_dir>/.train.lock``: the
operating system releases it when the process ends, however it ends, so a
killed run leaves no stale lock. It is taken by the process of rank 0 only,
as all the processes of a distributed run share the work dir.
"""
import fcntl
import logging
import os
import os.path as osp
import re
import shutil
import time
from typing import IO, List, Optional

from mmengine.logging import print_log

from .hooks import atomic_write_text

LOCK_FILE = '.train.lock'
EARLIER_RUNS = 'earlier_runs'
# what the runner writes at the top of a work dir: checkpoints, their
# pointer, the dumped config and the log folders named by their start time
_RUN_FILE = re.compile(r'^(?:.+\.pth|last_checkpoint|.+\.py|\d{8}_\d{6})$')


class WorkDirBusyError(RuntimeError):
    """Another training holds the lock of the work dir."""


class EarlierRunError(RuntimeError):
    """A new run would overwrite the checkpoints of an earlier one."""


def lock_work_dir(work_dir: str) -> IO:
    """Lock ``work_dir`` for this process, until it ends.

    Args:
        work_dir: The work dir; created if missing.

    Returns:
        The open lock file; keep a reference to it for as long as the lock
        must be held (closing it releases the lock).

    Raises:
        WorkDirBusyError: If another process holds the lock; the message
            names its process id.
    """
    os.makedirs(work_dir, exist_ok=True)
    path = osp.join(work_dir, LOCK_FILE)
    lock = open(path, 'a+')
    try:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.seek(0)
        holder = lock.read().strip() or 'unknown'
        lock.close()
        raise WorkDirBusyError(
            f'Another training is running in the work dir {work_dir!r} '
            f'(process {holder} holds {path}); two runs in one work dir '
            'would overwrite each other\'s checkpoints. Wait for it to end, '
            'or give this run another --work-dir.') from None
    lock.seek(0)
    lock.truncate()
    lock.write(str(os.getpid()))
    lock.flush()
    return lock


def earlier_run_files(work_dir: str) -> List[str]:
    """The names of the files and log folders an earlier run left at the
    top of ``work_dir``, sorted; empty if it holds no checkpoint (``.pth``
    file or ``last_checkpoint`` pointer), as then nothing can be lost."""
    if not osp.isdir(work_dir):
        return []
    names = sorted(name for name in os.listdir(work_dir)
                   if _RUN_FILE.match(name))
    if not any(name.endswith('.pth') or name == 'last_checkpoint'
               for name in names):
        return []
    return names


def move_earlier_run(work_dir: str) -> Optional[str]:
    """Move the earlier run of ``work_dir`` (see :func:`earlier_run_files`)
    into ``<work_dir>/earlier_runs/<YYYYmmdd_HHMMSS>/`` and log it.

    Returns:
        str, optional: The folder it was moved to, or ``None`` if there was
        no earlier run.
    """
    names = earlier_run_files(work_dir)
    if not names:
        return None
    stamp = time.strftime('%Y%m%d_%H%M%S')
    target = osp.join(work_dir, EARLIER_RUNS, stamp)
    suffix = 1
    while osp.exists(target):
        target = osp.join(work_dir, EARLIER_RUNS, f'{stamp}_{suffix}')
        suffix += 1
    os.makedirs(target)
    for name in names:
        shutil.move(osp.join(work_dir, name), osp.join(target, name))
    pointer = osp.join(target, 'last_checkpoint')
    if osp.isfile(pointer):
        # it named a path of the work dir, where the new run now saves
        with open(pointer) as f:
            pointed = osp.basename(f.read().strip())
        atomic_write_text(osp.join(target, pointed), pointer)
    print_log(
        f'--new-run: moved the earlier run of {work_dir} ({len(names)} '
        f'files and folders: {", ".join(names)}) into {target}; resume it '
        f'with --work-dir {target} --resume.',
        logger='current',
        level=logging.WARNING)
    return target


def claim_work_dir(work_dir: str, resume: bool, new_run: bool,
                   rank: int) -> Optional[IO]:
    """Make ``work_dir`` this training's own, before the runner is built.

    Only the process of rank 0 does anything: it locks the work dir
    (:func:`lock_work_dir`), then, for a run that does not resume, refuses
    an earlier run's checkpoints or, with ``new_run``, moves them aside
    (:func:`move_earlier_run`).

    Args:
        work_dir: The work dir of the run.
        resume: Whether the run resumes a checkpoint (``--resume``).
        new_run: Whether a new run may move an earlier one aside
            (``--new-run``).
        rank: The global rank of this process.

    Returns:
        The lock file (rank 0; keep a reference to it), else ``None``.

    Raises:
        WorkDirBusyError: If another training holds the work dir.
        EarlierRunError: If a new run would overwrite an earlier one's
            checkpoints; the message says the three ways on.
    """
    if rank != 0:
        return None
    lock = lock_work_dir(work_dir)
    if resume:
        return lock
    if new_run:
        move_earlier_run(work_dir)
        return lock
    names = earlier_run_files(work_dir)
    if names:
        lock.close()
        checkpoints = [name for name in names if name.endswith('.pth')]
        raise EarlierRunError(
            f'The work dir {work_dir!r} holds the checkpoints of an earlier '
            f'run ({", ".join(checkpoints) or "last_checkpoint"}); a new run '
            'would overwrite them. Continue that run with --resume, give '
            'this run another --work-dir, or pass --new-run to move the '
            f'earlier run into {osp.join(work_dir, EARLIER_RUNS)}/ and start '
            'over.')
    return lock
