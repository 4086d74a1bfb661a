"""End to end on the CPU: a training stopped by a signal saves the iteration
it is at and resumes mid-epoch; torchrun restarts a failed group, which
resumes by itself.

The classification demo trains on a tiny shapes set (12 images, batch 2: 6
iterations an epoch). A probe module, imported by the test configs, sends the
signal at a chosen iteration and records the samples of every batch.
"""
import json
import os.path as osp
import sys
from pathlib import Path
from typing import Dict, List

import cv2
import numpy as np
import pytest
import torch

from mmdla.datasets import generate_shapes_cls
from mmdla.engine import EXIT_STOPPED

PROBE = '''
import json
import os
import signal

from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class SignalAtIterationHook(Hook):
    """Sends ``signal_name`` to this process (or its parent, torchrun) after
    the iteration ``iteration`` (counted from 1) of rank 0, on the first
    start of the job only."""

    def __init__(self, iteration, signal_name='SIGTERM', to_parent=False,
                 kill_rank=None):
        self.iteration = iteration
        self.signal = getattr(signal, signal_name)
        self.to_parent = to_parent
        self.kill_rank = kill_rank

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        if runner.iter + 1 != self.iteration or \\
                os.environ.get('TORCHELASTIC_RESTART_COUNT', '0') != '0':
            return
        if self.kill_rank is not None:
            if get_rank() == self.kill_rank:
                os.kill(os.getpid(), signal.SIGKILL)
        elif get_rank() == 0:
            os.kill(os.getppid() if self.to_parent else os.getpid(),
                    self.signal)


@HOOKS.register_module()
class SampleRecordHook(Hook):
    """Appends ``[iteration, [sample indices]]`` of each training batch to
    ``<folder>/samples_rank<R>.jsonl``."""

    def __init__(self, folder):
        self.folder = folder

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        indices = [s.sample_idx for s in data_batch['data_samples']]
        path = os.path.join(self.folder, f'samples_rank{get_rank()}.jsonl')
        with open(path, 'a') as f:
            f.write(json.dumps([runner.iter, indices]) + '\\n')
'''


def write_config(folder: Path,
                 base: str,
                 data_root: str,
                 record: Path,
                 extra: str = '',
                 **signal_hook) -> str:
    """A config over the classification demo: 2 epochs of 6 iterations on
    the tiny set, the probe's hooks, a checkpoint every epoch, and the
    lines ``extra``."""
    (folder / 'preemption_probe.py').write_text(PROBE)
    hooks = [dict(type='SampleRecordHook', folder=str(record))]
    if signal_hook:
        hooks.append(dict(type='SignalAtIterationHook', **signal_hook))
    path = folder / f'config_{len(list(folder.glob("config_*.py")))}.py'
    path.write_text(f'''
_base_ = {base!r}
custom_imports = dict(imports=['preemption_probe'], allow_failed_imports=False)
train_dataloader = dict(
    batch_size=2, dataset=dict(data_root={data_root!r}))
val_dataloader = dict(dataset=dict(data_root={data_root!r}))
test_dataloader = val_dataloader
train_cfg = dict(max_epochs=2, val_interval=100)
param_scheduler = dict(milestones=[1])
default_hooks = dict(
    logger=dict(interval=1), checkpoint=dict(interval=1),
    visualization=dict(enable=False))
custom_hooks = {hooks!r}
{extra}
''')
    return str(path)


def samples(record: Path, rank: int = 0) -> List[list]:
    path = record / f'samples_rank{rank}.jsonl'
    return [json.loads(line) for line in path.read_text().splitlines()]


def assert_same_weights(expected: Path, actual: Path) -> None:
    """The two checkpoints hold exactly the same weights."""
    expected_weights, actual_weights = [
        torch.load(path, map_location='cpu', weights_only=False)['state_dict']
        for path in (expected, actual)
    ]
    for name, value in expected_weights.items():
        assert torch.equal(actual_weights[name], value), name


@pytest.fixture
def probe_env(tool_env, tmp_path) -> Dict[str, str]:
    """The tool environment with the probe module importable."""
    env = dict(tool_env)
    env['PYTHONPATH'] = f'{tmp_path}{osp.pathsep}{env["PYTHONPATH"]}'
    return env


def test_sigterm_saves_the_iteration_and_resume_repeats_the_run(
        tmp_path, repo_root, cls_demo, tiny_shapes_cls, run_tool,
        probe_env) -> None:
    train = osp.join(repo_root, 'tools', 'train.py')
    whole_record, split_record = tmp_path / 'whole', tmp_path / 'split'
    whole_record.mkdir()
    split_record.mkdir()
    whole = write_config(tmp_path, cls_demo, tiny_shapes_cls, whole_record)
    split = write_config(
        tmp_path, cls_demo, tiny_shapes_cls, split_record, iteration=9)

    result = run_tool(
        [sys.executable, train, whole, '--work-dir',
         str(tmp_path / 'w')],
        cwd=str(tmp_path),
        env=probe_env,
        timeout=300)
    assert result.returncode == 0, result.stdout[-5000:]

    work_dir = tmp_path / 's'
    command = [sys.executable, train, split, '--work-dir', str(work_dir)]
    stopped = run_tool(command, cwd=str(tmp_path), env=probe_env, timeout=300)
    assert stopped.returncode == EXIT_STOPPED, stopped.stdout[-5000:]
    # the signal came during iteration 9, the 3rd of epoch 2
    checkpoint = work_dir / 'iter_9.pth'
    assert 'Received SIGTERM' in stopped.stdout
    assert f'Training stopped on SIGTERM after iteration 9; saved ' \
        f'{checkpoint}' in stopped.stdout
    assert (work_dir / 'last_checkpoint').read_text() == str(checkpoint)
    saved = torch.load(checkpoint, map_location='cpu', weights_only=False)
    assert saved['meta']['epoch'] == 1 and saved['meta']['iter'] == 9
    assert not list(work_dir.glob('.*.tmp'))

    resumed = run_tool([*command, '--resume'],
                       cwd=str(tmp_path),
                       env=probe_env,
                       timeout=300)
    assert resumed.returncode == 0, resumed.stdout[-5000:]
    assert 'Resuming epoch 2 at batch 4 of 6.' in resumed.stdout

    # the same batches in the same order: none twice, none left out
    assert samples(split_record) == samples(whole_record)
    assert [it for it, _ in samples(whole_record)] == list(range(12))
    assert_same_weights(tmp_path / 'w' / 'epoch_2.pth',
                        work_dir / 'epoch_2.pth')


def test_sigterm_to_dist_train_stops_both_ranks_at_one_iteration(
        tmp_path, repo_root, cls_demo, tiny_shapes_cls, run_tool,
        probe_env) -> None:
    # each rank draws its own random numbers; resume restores each one's
    seeds = 'randomness = dict(seed=0, diff_rank_seed=True)'
    whole_record, split_record = tmp_path / 'whole', tmp_path / 'split'
    whole_record.mkdir()
    split_record.mkdir()
    whole = write_config(tmp_path, cls_demo, tiny_shapes_cls, whole_record,
                         seeds)
    # rank 0 signals torchrun (dist_train.sh's process), which passes the
    # signal on to both ranks
    split = write_config(
        tmp_path,
        cls_demo,
        tiny_shapes_cls,
        split_record,
        seeds,
        iteration=2,
        to_parent=True)
    dist_train = ['bash', osp.join(repo_root, 'tools', 'dist_train.sh')]

    result = run_tool(
        [*dist_train, whole, '2', '--work-dir',
         str(tmp_path / 'w')],
        cwd=str(tmp_path),
        env=probe_env,
        timeout=300)
    assert result.returncode == 0, result.stdout[-5000:]

    # a space in the path: the launch script passes its arguments whole
    work_dir = tmp_path / 'split run'
    command = [*dist_train, split, '2', '--work-dir', str(work_dir)]
    stopped = run_tool(command, cwd=str(tmp_path), env=probe_env, timeout=300)
    assert stopped.returncode == EXIT_STOPPED, stopped.stdout[-5000:]
    assert 'torchrun: stopped on SIGTERM' in stopped.stdout
    assert 'SignalException' not in stopped.stdout
    pointed = Path((work_dir / 'last_checkpoint').read_text())
    saved = torch.load(pointed, map_location='cpu', weights_only=False)
    # 12 images on 2 ranks of batch 2: 3 iterations an epoch; both ranks
    # stopped after the same one
    stop = saved['meta']['iter']
    assert pointed.name == f'iter_{stop}.pth' and 2 <= stop <= 3
    assert len(saved['rank_random_states']) == 2
    for rank in (0, 1):
        assert [it
                for it, _ in samples(split_record, rank)] == list(range(stop))

    resumed = run_tool([*command, '--resume'],
                       cwd=str(tmp_path),
                       env=probe_env,
                       timeout=300)
    assert resumed.returncode == 0, resumed.stdout[-5000:]
    for rank in (0, 1):
        assert samples(split_record, rank) == samples(whole_record, rank)
    assert_same_weights(tmp_path / 'w' / 'epoch_2.pth',
                        work_dir / 'epoch_2.pth')


def test_restarted_group_resumes_from_the_latest_checkpoint(
        tmp_path, repo_root, cls_demo, tiny_shapes_cls, run_tool,
        probe_env) -> None:
    record = tmp_path / 'record'
    record.mkdir()
    # rank 1 dies in epoch 2, after epoch_1.pth was saved
    config = write_config(
        tmp_path, cls_demo, tiny_shapes_cls, record, iteration=5, kill_rank=1)
    work_dir = tmp_path / 'work_dir'
    env = dict(probe_env, MAX_RESTARTS='1')
    result = run_tool([
        'bash',
        osp.join(repo_root, 'tools', 'dist_train.sh'), config, '2',
        '--work-dir',
        str(work_dir)
    ],
                      cwd=str(tmp_path),
                      env=env,
                      timeout=400)
    assert result.returncode == 0, result.stdout[-5000:]
    assert 'Restart 1 of this job: resuming from the latest checkpoint' in \
        result.stdout
    assert 'resumed epoch: 1, iter: 3' in result.stdout
    final = torch.load(
        work_dir / 'epoch_2.pth', map_location='cpu', weights_only=False)
    assert final['meta']['iter'] == 6


def test_rank_failing_on_an_image_is_the_reported_root_cause(
        tmp_path, repo_root, cls_demo, run_tool, tool_env) -> None:
    data_root = tmp_path / 'data'
    generate_shapes_cls(str(data_root), num_train=12, num_val=6)
    # one image over OpenCV's pixel limit: OpenCV's error names no file
    large = sorted((data_root / 'train').rglob('*.png'))[3]
    cv2.imwrite(str(large), np.zeros((64, 64, 3), np.uint8))
    env = dict(tool_env, OPENCV_IO_MAX_IMAGE_PIXELS=str(48 * 48))
    result = run_tool([
        'bash', osp.join(repo_root, 'tools', 'dist_train.sh'), cls_demo, '2',
        '--work-dir', str(tmp_path / 'work_dir'), '--cfg-options',
        *(f'{loader}.dataset.data_root={data_root}/'
          for loader in ('train_dataloader', 'val_dataloader',
                         'test_dataloader')), 'train_dataloader.batch_size=2'
    ], cwd=str(tmp_path), env=env, timeout=300)
    assert result.returncode != 0
    # torchrun's report ends with the root cause: the rank that failed on
    # the file, not the other rank's lost connection
    root_cause = result.stdout.rsplit('Root Cause', 1)[-1]
    assert 'CV_IO_MAX_IMAGE_PIXELS' in root_cause, result.stdout[-3000:]
    assert f'while preparing the sample {large}' in root_cause
    assert 'Connection closed by peer' not in root_cause
