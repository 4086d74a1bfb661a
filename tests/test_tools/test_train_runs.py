"""tools/train.py and the runs of a work dir: a new run over an earlier one,
two trainings at once, and resuming with a changed config, a complete run or
the checkpoint of another model.

All train the classification demo on the tiny shapes set (one iteration per
epoch).
"""
import os
import os.path as osp
import shutil
import signal
import sys
import time
from typing import List

import pytest
import torch


def _load(path) -> dict:
    return torch.load(str(path), map_location='cpu', weights_only=False)


@pytest.fixture(scope='module')
def train_command(repo_root, cls_demo, tiny_shapes_cls):
    """A function of the work dir, the epochs and further ``--cfg-options``
    giving the command that trains the classification demo on the tiny
    set, with a checkpoint every epoch and no validation."""

    def command(work_dir, epochs: int, *options: str) -> List[str]:
        return [
            sys.executable,
            osp.join(repo_root, 'tools', 'train.py'), cls_demo, '--work-dir',
            str(work_dir), '--cfg-options',
            f'train_dataloader.dataset.data_root={tiny_shapes_cls}',
            f'val_dataloader.dataset.data_root={tiny_shapes_cls}',
            f'train_cfg.max_epochs={epochs}', 'train_cfg.val_interval=100',
            'default_hooks.checkpoint.interval=1',
            'default_hooks.logger.interval=1', *options
        ]

    return command


@pytest.fixture(scope='module')
def first_run(tmp_path_factory, train_command, run_tool) -> str:
    """The work dir of a finished one-epoch run."""
    work_dir = tmp_path_factory.mktemp('first_run') / 'work'
    result = run_tool(
        train_command(work_dir, 1), cwd=str(work_dir.parent), timeout=300)
    assert result.returncode == 0, result.stdout[-3000:]
    return str(work_dir)


def _copy_run(source: str, work_dir) -> None:
    """Copy a work dir, its checkpoint pointer pointing into the copy."""
    shutil.copytree(source, work_dir)
    pointer = work_dir / 'last_checkpoint'
    pointer.write_text(str(work_dir / osp.basename(pointer.read_text())))


def _log_folders(work_dir) -> List[str]:
    return sorted(path.name for path in work_dir.iterdir()
                  if path.is_dir() and path.name[:1].isdigit())


def test_new_run_over_an_earlier_one(tmp_path, first_run, train_command,
                                     run_tool):
    work_dir = tmp_path / 'work'
    _copy_run(first_run, work_dir)
    checkpoint = (work_dir / 'epoch_1.pth').read_bytes()
    pointer = (work_dir / 'last_checkpoint').read_text()

    result = run_tool(train_command(work_dir, 1), cwd=str(tmp_path))
    assert result.returncode == 1
    assert f'EarlierRunError: The work dir {str(work_dir)!r} holds the ' \
        'checkpoints of an earlier run (epoch_1.pth); a new run would ' \
        'overwrite them. Continue that run with --resume, give this run ' \
        'another --work-dir, or pass --new-run' in result.stdout
    assert 'Epoch(train)' not in result.stdout
    assert (work_dir / 'epoch_1.pth').read_bytes() == checkpoint
    assert (work_dir / 'last_checkpoint').read_text() == pointer

    result = run_tool([*train_command(work_dir, 1), '--new-run'],
                      cwd=str(tmp_path),
                      timeout=300)
    assert result.returncode == 0, result.stdout[-3000:]
    assert f'--new-run: moved the earlier run of {work_dir}' in result.stdout
    earlier = list((work_dir / 'earlier_runs').iterdir())
    assert len(earlier) == 1
    assert (earlier[0] / 'epoch_1.pth').read_bytes() == checkpoint
    assert _load(work_dir / 'epoch_1.pth')['meta']['epoch'] == 1


def test_two_trainings_at_once(tmp_path, train_command, start_tool,
                               run_tool):
    work_dir = tmp_path / 'work'
    command = train_command(work_dir, 1000)
    lock = work_dir / '.train.lock'
    with open(tmp_path / 'first.log', 'w') as log:
        first = start_tool(command, str(tmp_path), log)
        try:
            deadline = time.time() + 240
            while first.poll() is None and time.time() < deadline and not (
                    lock.exists() and lock.read_text() == str(first.pid)):
                time.sleep(0.1)
            assert first.poll() is None, (tmp_path / 'first.log').read_text()

            second = run_tool(command, cwd=str(tmp_path), timeout=300)
            assert second.returncode == 1
            assert 'WorkDirBusyError: Another training is running in the ' \
                f'work dir {str(work_dir)!r} (process {first.pid} holds' \
                in second.stdout

            pointer = work_dir / 'last_checkpoint'
            while first.poll() is None and time.time() < deadline \
                    and not pointer.exists():
                time.sleep(0.1)
            assert first.poll() is None, (tmp_path / 'first.log').read_text()
        finally:
            if first.poll() is None:
                os.killpg(first.pid, signal.SIGKILL)
            first.wait()
    # the second run wrote nothing: one log folder, the first's checkpoints
    assert len(_log_folders(work_dir)) == 1
    assert _load(pointer.read_text())['meta']['epoch'] >= 1


def test_resume_with_a_changed_lr(tmp_path, first_run, train_command,
                                  run_tool):
    work_dir = tmp_path / 'work'
    _copy_run(first_run, work_dir)
    result = run_tool([
        *train_command(work_dir, 2, 'optim_wrapper.optimizer.lr=0.1'),
        '--resume'
    ],
                      cwd=str(tmp_path),
                      timeout=300)
    assert result.returncode == 0, result.stdout[-3000:]
    assert 'with a config that differs from the one it was saved with' \
        in result.stdout
    assert "optim_wrapper.optimizer.lr: 0.002 -> 0.1; the config's: set on " \
        'the restored optimizer' in result.stdout
    assert "train_cfg.max_epochs: 1 -> 2; the config's" in result.stdout
    assert 'Resumed optimizer set to the config: lr of param group 0: ' \
        '0.002 -> 0.1' in result.stdout
    group = _load(work_dir / 'epoch_2.pth')['optimizer']['param_groups'][0]
    assert group['lr'] == 0.1 and group['initial_lr'] == 0.1


def test_resume_of_a_complete_run_says_so(tmp_path, first_run, train_command,
                                          run_tool, cls_demo):
    work_dir = tmp_path / 'work'
    _copy_run(first_run, work_dir)
    logs = _log_folders(work_dir)
    result = run_tool([*train_command(work_dir, 1), '--resume'],
                      cwd=str(tmp_path))
    assert result.returncode == 0, result.stdout[-3000:]
    checkpoint = work_dir / 'epoch_1.pth'
    assert f'Nothing to train: {checkpoint} was saved at epoch 1, and the ' \
        'config trains for train_cfg.max_epochs=1; the run is complete. To ' \
        'train longer, resume with --cfg-options train_cfg.max_epochs=N; ' \
        f'to evaluate it: python tools/test.py {cls_demo} {checkpoint}' \
        in result.stdout
    assert _log_folders(work_dir) == logs  # no runner was built


def test_resume_a_checkpoint_of_another_model(tmp_path, first_run,
                                              train_command, run_tool):
    checkpoint = osp.join(first_run, 'epoch_1.pth')
    result = run_tool([
        *train_command(tmp_path / 'work', 2, 'model.backbone.depth=29'),
        '--resume', checkpoint
    ],
                      cwd=str(tmp_path),
                      timeout=300)
    assert result.returncode == 1
    assert f"CheckpointMismatchError: Checkpoint '{checkpoint}' does not " \
        'fit the model of the config' in result.stdout
    assert 'resume it with that config, or start a new run from its ' \
        'matching weights: --cfg-options load_from=CHECKPOINT, without ' \
        '--resume.' in result.stdout
    assert 'parameter group' not in result.stdout
