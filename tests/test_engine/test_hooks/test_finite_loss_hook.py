"""Training stops at the first non-finite loss and keeps its checkpoints."""
import os

import pytest
from mmengine.hooks import Hook

from mmdla.engine import FiniteLossHook, NonFiniteLossError


class RaiseLearningRate(Hook):
    """Sets a divergent learning rate from a given iteration on."""

    def __init__(self, from_iter: int) -> None:
        self.from_iter = from_iter

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        if runner.iter == self.from_iter:
            for group in runner.optim_wrapper.optimizer.param_groups:
                group['lr'] = 1e30


def test_stops_at_first_non_finite_loss(tmp_path, toy_runner):
    # 2 iterations per epoch; epochs 1 and 2 train well, then the 5th
    # iteration steps with lr 1e30: the 6th loss is infinite
    runner = toy_runner(
        str(tmp_path),
        max_epochs=4,
        checkpoint=dict(max_keep_ckpts=1),
        finite_loss=dict(type='mmdla.FiniteLossHook'),
        diverge=RaiseLearningRate(from_iter=4))
    assert any(isinstance(h, FiniteLossHook) for h in runner.hooks)
    with pytest.raises(NonFiniteLossError) as error:
        runner.train()
    message = str(error.value)
    assert 'Training stopped at iteration 6' in message
    assert 'loss=inf' in message or 'loss=nan' in message
    assert str(tmp_path / 'epoch_2.pth') in message
    assert runner.iter == 5  # the 6th iteration did not complete
    # the last good checkpoint is kept and still the one to resume
    checkpoints = sorted(f for f in os.listdir(tmp_path) if f.endswith('.pth'))
    assert checkpoints == ['epoch_2.pth']
    with open(tmp_path / 'last_checkpoint') as f:
        assert f.read() == str(tmp_path / 'epoch_2.pth')


def test_finite_losses_pass(tmp_path, toy_runner):
    runner = toy_runner(
        str(tmp_path),
        max_epochs=2,
        finite_loss=dict(type='mmdla.FiniteLossHook'))
    runner.train()
    assert runner.iter == 4
