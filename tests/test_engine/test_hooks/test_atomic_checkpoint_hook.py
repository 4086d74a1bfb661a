"""Checkpoints and the ``last_checkpoint`` pointer are written atomically."""
import os
import os.path as osp

import pytest
import torch
import torch.nn as nn
from mmengine.model import BaseModel
from mmengine.runner import Runner

from mmdla.engine import AtomicCheckpointHook, atomic_write_text


class ToyModel(BaseModel):

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, inputs, labels=None, mode='tensor'):
        outputs = self.linear(torch.stack(inputs))
        if mode == 'loss':
            return dict(loss=((outputs - torch.stack(labels))**2).mean())
        return outputs


class ToyDataset(torch.utils.data.Dataset):
    metainfo = dict()

    def __len__(self) -> int:
        return 4

    def __getitem__(self, index):
        return dict(inputs=torch.ones(2) * index, labels=torch.ones(1))


def _runner(work_dir: str,
            max_keep_ckpts: int = -1,
            resume: bool = False) -> Runner:
    return Runner(
        model=ToyModel(),
        work_dir=work_dir,
        train_dataloader=dict(
            dataset=ToyDataset(),
            sampler=dict(type='DefaultSampler', shuffle=False),
            batch_size=2,
            num_workers=0),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        train_cfg=dict(by_epoch=True, max_epochs=2),
        default_hooks=dict(
            checkpoint=dict(
                type='AtomicCheckpointHook',
                interval=1,
                max_keep_ckpts=max_keep_ckpts)),
        resume=resume,
        default_scope='mmengine')


def _pointer(work_dir) -> str:
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        return f.read()


def test_saves_like_checkpoint_hook(tmp_path):
    runner = _runner(str(tmp_path), max_keep_ckpts=1)
    runner.train()
    assert any(isinstance(h, AtomicCheckpointHook) for h in runner.hooks)
    assert _pointer(tmp_path) == str(tmp_path / 'epoch_2.pth')
    # the older checkpoint was rotated out, no temporary file is left
    assert not (tmp_path / 'epoch_1.pth').exists()
    assert not [f for f in os.listdir(tmp_path) if f.endswith('.tmp')]
    checkpoint = torch.load(tmp_path / 'epoch_2.pth', weights_only=False)
    assert checkpoint['meta']['epoch'] == 2
    assert checkpoint['meta']['iter'] == 4


@pytest.mark.parametrize('max_keep_ckpts', [-1, 1])
def test_crash_while_saving_keeps_resumable_state(tmp_path, monkeypatch,
                                                  max_keep_ckpts):
    runner = _runner(str(tmp_path), max_keep_ckpts=max_keep_ckpts)
    runner.train()  # epoch_1.pth (rotated out if max_keep_ckpts=1), epoch_2
    hook = next(h for h in runner.hooks if isinstance(h, AtomicCheckpointHook))

    def save_half_and_die(checkpoint, filename, **kwargs):
        with open(filename, 'wb') as f:
            f.write(b'PK\x03\x04 truncated')
        raise KeyboardInterrupt('killed while saving')

    monkeypatch.setattr('mmengine.runner.runner.save_checkpoint',
                        save_half_and_die)
    with pytest.raises(KeyboardInterrupt):
        hook._save_checkpoint_with_step(runner, 3, dict(epoch=3, iter=6))

    # nothing `--resume` follows was touched: the pointer still names a
    # complete checkpoint, which loads, and no epoch_3.pth exists
    assert _pointer(tmp_path) == str(tmp_path / 'epoch_2.pth')
    assert not (tmp_path / 'epoch_3.pth').exists()
    monkeypatch.undo()
    resumed = _runner(
        str(tmp_path), max_keep_ckpts=max_keep_ckpts, resume=True)
    resumed.load_or_resume()
    assert resumed.iter == 4 and resumed.epoch == 2


def test_atomic_write_text_replaces_whole_file(tmp_path):
    path = str(tmp_path / 'last_checkpoint')
    atomic_write_text('first', path)
    atomic_write_text('second', path)
    with open(path) as f:
        assert f.read() == 'second'
    assert os.listdir(tmp_path) == ['last_checkpoint']
