"""Checkpoint files on disk: what a valid one is, and which one to resume.

:func:`check_checkpoint_file` tells a user in one sentence why a file is not
a checkpoint (a directory, an empty, text, truncated or foreign file) instead
of a traceback from deep inside ``torch.load``. :func:`find_resume_checkpoint`
picks the checkpoint that ``--resume`` without a path continues from, so
that a work dir without (or with a stale) ``last_checkpoint`` pointer is
never trained over from scratch.
"""
import logging
import os
import os.path as osp
import re
import zipfile
from typing import List, Optional, Tuple

import torch
from mmengine.logging import print_log

from mmdla.utils.checkpoint_allowlist import runner_checkpoint_loading

# torch.save writes a zip archive; before torch 1.6 it wrote a pickle stream
_ZIP_MAGIC = b'PK\x03\x04'
_PICKLE_PROTOCOL_2 = b'\x80\x02'
_RUNNER_CHECKPOINT = re.compile(r'^(?:epoch|iter)_\d+\.pth$')


class CheckpointFileError(ValueError):
    """A path that was given or found as a checkpoint is not one."""


def _looks_like_text(head: bytes) -> bool:
    try:
        text = head.decode('utf-8')
    except UnicodeDecodeError:
        return False
    return all(c.isprintable() or c.isspace() for c in text)


def check_checkpoint_file(path: str) -> None:
    """Check that ``path`` is a complete file written by ``torch.save``.

    Reads the first bytes and, for a zip archive, its central directory at
    the end of the file (which a truncated file lacks); the tensors are not
    read.

    Args:
        path: The checkpoint file.

    Raises:
        FileNotFoundError: If nothing exists at ``path``.
        CheckpointFileError: If ``path`` is a directory, or an empty, text,
            truncated or other file that ``torch.load`` cannot read; the
            message names the file and what it is not.
    """
    if not osp.exists(path):
        raise FileNotFoundError(f'Checkpoint {path!r} does not exist.')
    if osp.isdir(path):
        raise CheckpointFileError(
            f'Checkpoint {path!r} is a directory, not a checkpoint file; '
            'pass one of the .pth files in it.')
    size = osp.getsize(path)
    if size == 0:
        raise CheckpointFileError(
            f'Checkpoint {path!r} is empty (0 bytes), not a checkpoint; it '
            'was not written completely. Use another checkpoint.')
    with open(path, 'rb') as f:
        head = f.read(64)
    if head.startswith(_ZIP_MAGIC):
        try:
            with zipfile.ZipFile(path) as archive:
                archive.infolist()
        except zipfile.BadZipFile:
            raise CheckpointFileError(
                f'Checkpoint {path!r} is truncated or corrupt ({size} bytes, '
                'no complete archive), not a readable checkpoint; it was not '
                'written completely. Use another checkpoint.') from None
        return
    if head.startswith(_PICKLE_PROTOCOL_2):  # the legacy format
        return
    if _looks_like_text(head):
        raise CheckpointFileError(
            f'Checkpoint {path!r} is a text file (it starts with '
            f'{head[:32].decode("utf-8")!r}), not a PyTorch checkpoint.')
    raise CheckpointFileError(
        f'Checkpoint {path!r} is not a PyTorch checkpoint (a file written by '
        'torch.save starts with a zip or pickle header).')


def read_checkpoint(path: str) -> dict:
    """The contents of a local checkpoint, memory-mapped where the file is
    in ``torch.save``'s zip format, so that reading its structure (meta,
    keys, shapes) does not read the tensors. Loaded weights-only, with the
    allowlist of :func:`~mmdla.utils.runner_checkpoint_loading`: the file
    runs no code."""
    with runner_checkpoint_loading():
        return torch.load(
            path,
            map_location='cpu',
            weights_only=True,
            mmap=zipfile.is_zipfile(path))


def _checkpoint_iteration(path: str) -> Optional[int]:
    """The training iteration a runner checkpoint was saved at, or ``None``
    if the file is not a readable runner checkpoint."""
    try:
        check_checkpoint_file(path)
        return int(read_checkpoint(path)['meta']['iter'])
    except Exception as error:  # any unreadable file is skipped, with why
        print_log(
            f'Not resuming from {path}: {error}',
            logger='current',
            level=logging.WARNING)
        return None


def pointed_checkpoint(work_dir: str) -> Optional[str]:
    """The checkpoint ``<work_dir>/last_checkpoint`` names, if it exists.

    A pointer holds an absolute path; when that path is gone (the work dir
    was moved or copied) the file of the same name in ``work_dir`` is used.
    """
    pointer = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(pointer):
        return None
    with open(pointer) as f:
        pointed = f.read().strip()
    if not pointed:
        return None
    for candidate in (pointed, osp.join(work_dir, osp.basename(pointed))):
        if osp.isfile(candidate):
            return candidate
    return None


def find_resume_checkpoint(work_dir: str) -> Optional[str]:
    """Choose the checkpoint to resume a run in ``work_dir`` from.

    1. The checkpoint named by ``last_checkpoint`` if it is a valid file (a
       path that no longer exists is looked up in ``work_dir`` by name).
    2. Otherwise the runner checkpoint (``epoch_N.pth``, ``iter_N.pth``) of
       ``work_dir`` saved at the latest iteration, among those that load.

    Args:
        work_dir: The run's work dir.

    Returns:
        str, optional: The checkpoint path, or ``None`` when ``work_dir``
        holds no ``.pth`` file at all (there is nothing to lose by starting
        from scratch).

    Raises:
        CheckpointFileError: If ``work_dir`` holds ``.pth`` files but none
            is a valid runner checkpoint; the message says what to pass.
    """
    pointed = pointed_checkpoint(work_dir)
    if pointed is not None:
        if _checkpoint_iteration(pointed) is not None:
            return pointed
    if not osp.isdir(work_dir):
        return None
    names = sorted(os.listdir(work_dir))
    candidates: List[Tuple[int, str]] = []
    for name in names:
        if _RUNNER_CHECKPOINT.match(name):
            path = osp.join(work_dir, name)
            iteration = _checkpoint_iteration(path)
            if iteration is not None:
                candidates.append((iteration, path))
    if candidates:
        path = max(candidates)[1]
        print_log(
            f'Resuming from {path}, the latest valid checkpoint of the work '
            'dir (its last_checkpoint pointer is missing or stale).',
            logger='current',
            level=logging.WARNING)
        return path
    others = [name for name in names if name.endswith('.pth')]
    if others:
        raise CheckpointFileError(
            f'--resume found no valid epoch_N.pth or iter_N.pth checkpoint '
            f'in {work_dir!r}, but it holds {", ".join(others)}; training '
            'from scratch would overwrite them. Pass the checkpoint to '
            'continue from (--resume PATH), or another --work-dir to start '
            'a new run.')
    return None
