"""Resuming runner checkpoints on torch >= 2.6 within
``runner_checkpoint_loading`` and the fix of ``mmdla.utils.compat``:
``read_base()`` imports of ``mmdla.configs``.

Outside ``runner_checkpoint_loading``, the resumed runner fails in
``torch.load`` with "Weights only load failed ... HistoryBuffer".
"""
import pickle
from pathlib import Path
from typing import Dict, List

import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.logging import HistoryBuffer
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch.utils.data import Dataset

from mmdla.utils import (compat, config_base_lookup_patched, mmdla_config_root,
                         runner_checkpoint_loading)


class TinyRegressor(BaseModel):
    """A linear model trained with a squared error."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self,
                inputs: torch.Tensor,
                targets: torch.Tensor,
                mode: str = 'loss') -> Dict[str, torch.Tensor]:
        return dict(loss=(self.linear(inputs) - targets).pow(2).mean())


class TinyDataset(Dataset):
    """Eight points of the line ``y = x0 + x1``."""

    def __len__(self) -> int:
        return 8

    def __getitem__(self, index: int) -> Dict[str, torch.Tensor]:
        inputs = torch.tensor([index, 1.0]) / 8
        return dict(inputs=inputs, targets=inputs.sum(0, keepdim=True))


class IterationRecorder(Hook):
    """Records the runner iteration at which each training step starts."""

    def __init__(self) -> None:
        self.iterations: List[int] = []

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        self.iterations.append(runner.iter)


def build_runner(work_dir: Path, max_iters: int, resume: bool,
                 recorder: IterationRecorder) -> Runner:
    """Build an iteration-based runner that saves a checkpoint every 2."""
    return Runner(
        model=TinyRegressor(),
        work_dir=str(work_dir),
        experiment_name=f'resume_{resume}_{work_dir.name}',
        train_dataloader=dict(
            dataset=TinyDataset(),
            batch_size=2,
            num_workers=0,
            sampler=dict(type='DefaultSampler', shuffle=False),
            collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9)),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', interval=2, by_epoch=False),
            logger=dict(type='LoggerHook', interval=1)),
        custom_hooks=[recorder],
        resume=resume,
        log_level='WARNING',
        env_cfg=dict(cudnn_benchmark=False),
        default_scope='mmengine')


def test_config_base_lookup_is_patched() -> None:
    assert config_base_lookup_patched()


def test_resume_continues_from_saved_iteration(tmp_path: Path) -> None:
    first_recorder = IterationRecorder()
    first = build_runner(tmp_path, 2, resume=False, recorder=first_recorder)
    first.train()
    assert first_recorder.iterations == [0, 1]
    checkpoint = tmp_path / 'iter_2.pth'
    assert checkpoint.is_file()
    weights = {k: v.clone() for k, v in first.model.state_dict().items()}

    # The runner checkpoint carries the message hub, whose HistoryBuffers
    # torch >= 2.6 refuses outside runner_checkpoint_loading.
    with pytest.raises(pickle.UnpicklingError, match='HistoryBuffer'):
        torch.load(checkpoint, map_location='cpu', weights_only=True)
    with runner_checkpoint_loading():
        saved = torch.load(checkpoint, map_location='cpu', weights_only=True)
    buffer = saved['message_hub']['log_scalars']['train/loss']
    assert isinstance(buffer, HistoryBuffer)
    assert saved['meta']['iter'] == 2

    second_recorder = IterationRecorder()
    second = build_runner(tmp_path, 4, resume=True, recorder=second_recorder)
    with runner_checkpoint_loading():
        second.load_or_resume()
        assert second.iter == 2
        for name, value in second.model.state_dict().items():
            torch.testing.assert_close(value, weights[name])
        second.train()

    # Training went on from iteration 2 instead of starting over, and the
    # loss history restored from the checkpoint was extended.
    assert second_recorder.iterations == [2, 3]
    assert second.iter == 4
    assert (tmp_path / 'iter_4.pth').is_file()
    losses, counts = second.message_hub.get_scalar('train/loss').data
    assert len(losses) == 4


class NotAllowlisted:
    """An arbitrary class that weights-only loading must keep refusing."""


def test_other_globals_stay_refused(tmp_path: Path) -> None:
    path = tmp_path / 'untrusted.pth'
    torch.save({'payload': NotAllowlisted()}, path)
    with runner_checkpoint_loading():
        with pytest.raises(pickle.UnpicklingError, match='NotAllowlisted'):
            torch.load(path, weights_only=True)


def test_mmdla_config_root_holds_the_configs() -> None:
    root = mmdla_config_root()
    assert root is not None
    assert any((Path(root) / 'configs').glob('*.py'))


@pytest.mark.parametrize('layout', ['wheel', 'editable'])
def test_read_base_imports_mmdla_configs(tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch,
                                         layout: str) -> None:
    # A wheel ships site-packages/mmdla/configs; an editable install maps
    # mmdla.configs to the checkout's top-level configs/ folder.
    package_dir = tmp_path / 'mmdla'
    config_dir = (
        package_dir / 'configs' if layout == 'wheel' else tmp_path / 'configs')
    config_dir.mkdir(parents=True)
    (config_dir / 'probe_base.py').write_text('probe = dict(depth=50)\n')
    monkeypatch.setattr(compat, '_PACKAGE_DIR', str(package_dir))

    child = tmp_path / 'child.py'
    child.write_text('from mmengine.config import read_base\n\n'
                     'with read_base():\n'
                     '    from mmdla.configs.probe_base import *\n\n'
                     'probe.update(depth=101)\n')
    cfg = Config.fromfile(str(child))
    assert cfg.probe == dict(depth=101)
