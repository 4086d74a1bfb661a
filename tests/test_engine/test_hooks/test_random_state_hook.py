"""A run killed and resumed ends with the weights of the run never
interrupted."""
import pytest
import torch
from mmengine.hooks import Hook

from mmdla.engine import RandomStateHook
from mmdla.utils import runner_checkpoint_loading


class KillBeforeEpoch(Hook):
    """Interrupts training when an epoch is about to start."""
    priority = 'VERY_HIGH'

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def before_train_epoch(self, runner) -> None:
        if runner.epoch == self.epoch:
            raise KeyboardInterrupt(f'killed before epoch {self.epoch + 1}')


def _weights(runner) -> dict:
    return {k: v.clone() for k, v in runner.model.state_dict().items()}


def test_resumed_run_repeats_uninterrupted_run(tmp_path, toy_runner):
    random_state = dict(type='mmdla.RandomStateHook')
    uninterrupted = toy_runner(
        str(tmp_path / 'once'), max_epochs=4, random_state=random_state)
    uninterrupted.train()
    expected = _weights(uninterrupted)

    work_dir = str(tmp_path / 'twice')
    killed = toy_runner(
        work_dir,
        max_epochs=4,
        random_state=random_state,
        kill=KillBeforeEpoch(epoch=2))
    with pytest.raises(KeyboardInterrupt):
        killed.train()
    assert killed.iter == 4
    with runner_checkpoint_loading():
        checkpoint = torch.load(
            f'{work_dir}/epoch_2.pth', map_location='cpu', weights_only=True)
    assert set(checkpoint['random_states']) >= {
        'python', 'numpy', 'torch', 'sampler_seed'
    }

    resumed = toy_runner(
        work_dir, max_epochs=4, resume=True, random_state=random_state)
    resumed.train()
    assert any(isinstance(h, RandomStateHook) for h in resumed.hooks)
    assert resumed.iter == uninterrupted.iter == 8
    # shuffling, noise and dropout drew the same numbers: exactly equal
    for name, value in _weights(resumed).items():
        assert torch.equal(value, expected[name]), name


def test_loading_to_start_over_keeps_the_seeded_states(tmp_path, toy_runner):
    first = toy_runner(
        str(tmp_path / 'first'),
        max_epochs=2,
        random_state=dict(type='mmdla.RandomStateHook'))
    first.train()
    fresh = toy_runner(
        str(tmp_path / 'fresh'),
        max_epochs=1,
        random_state=dict(type='mmdla.RandomStateHook'))
    fresh.train()
    # the same run started from epoch_2.pth's weights with `load_from`
    loaded = toy_runner(
        str(tmp_path / 'loaded'),
        max_epochs=1,
        load_from=str(tmp_path / 'first' / 'epoch_2.pth'),
        random_state=dict(type='mmdla.RandomStateHook'))
    loaded.train()
    fresh_sampler = fresh.train_dataloader.sampler
    loaded_sampler = loaded.train_dataloader.sampler
    assert loaded_sampler.seed == fresh_sampler.seed
    assert loaded.iter == 2
