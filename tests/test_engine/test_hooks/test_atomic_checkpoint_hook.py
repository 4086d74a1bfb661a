"""Checkpoints and the ``last_checkpoint`` pointer are written atomically;
failed writes leave nothing behind, and diverged weights are not saved."""
import os
import os.path as osp

import pytest
import torch
from mmengine.fileio import LocalBackend

from mmdla.engine import AtomicCheckpointHook, atomic_write_text


def _pointer(work_dir) -> str:
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        return f.read()


def _hidden_files(folder) -> list:
    return [name for name in os.listdir(folder) if name.startswith('.')]


def _hook(runner) -> AtomicCheckpointHook:
    return next(h for h in runner.hooks if isinstance(h, AtomicCheckpointHook))


def test_saves_like_checkpoint_hook(tmp_path, toy_runner):
    runner = toy_runner(str(tmp_path), checkpoint=dict(max_keep_ckpts=1))
    runner.train()
    assert any(isinstance(h, AtomicCheckpointHook) for h in runner.hooks)
    assert _pointer(tmp_path) == str(tmp_path / 'epoch_2.pth')
    # the older checkpoint was rotated out, no temporary file is left
    assert not (tmp_path / 'epoch_1.pth').exists()
    assert not _hidden_files(tmp_path)
    checkpoint = torch.load(tmp_path / 'epoch_2.pth', weights_only=False)
    assert checkpoint['meta']['epoch'] == 2
    assert checkpoint['meta']['iter'] == 4


@pytest.mark.parametrize('max_keep_ckpts', [-1, 1])
def test_crash_while_saving_keeps_resumable_state(tmp_path, monkeypatch,
                                                  toy_runner, max_keep_ckpts):
    options = dict(max_keep_ckpts=max_keep_ckpts)
    runner = toy_runner(str(tmp_path), checkpoint=options)
    runner.train()  # epoch_1.pth (rotated out if max_keep_ckpts=1), epoch_2

    def save_half_and_die(checkpoint, filename, **kwargs):
        with open(filename, 'wb') as f:
            f.write(b'PK\x03\x04 truncated')
        raise KeyboardInterrupt('killed while saving')

    monkeypatch.setattr('mmengine.runner.runner.save_checkpoint',
                        save_half_and_die)
    with pytest.raises(KeyboardInterrupt):
        _hook(runner)._save_checkpoint_with_step(runner, 3,
                                                 dict(epoch=3, iter=6))

    # nothing `--resume` follows was touched: the pointer still names a
    # complete checkpoint, which loads, and no epoch_3.pth exists
    assert _pointer(tmp_path) == str(tmp_path / 'epoch_2.pth')
    assert not (tmp_path / 'epoch_3.pth').exists()
    monkeypatch.undo()
    resumed = toy_runner(str(tmp_path), checkpoint=options, resume=True)
    resumed.load_or_resume()
    assert resumed.iter == 4 and resumed.epoch == 2


def test_failed_write_leaves_no_temporary_file(tmp_path, monkeypatch,
                                               toy_runner):
    runner = toy_runner(str(tmp_path), checkpoint=dict(max_keep_ckpts=1))
    runner.train()

    def disk_full(backend, obj, filepath):
        # the disk fills up half-way through writing the file
        with open(filepath, 'wb') as out:
            out.write(obj[:len(obj) // 2])
        raise OSError(28, 'No space left on device')

    monkeypatch.setattr(LocalBackend, 'put', disk_full)
    with pytest.raises(OSError, match='No space left'):
        _hook(runner)._save_checkpoint_with_step(runner, 3,
                                                 dict(epoch=3, iter=6))
    assert not _hidden_files(tmp_path)
    # the last good checkpoint was neither replaced nor rotated out
    assert _pointer(tmp_path) == str(tmp_path / 'epoch_2.pth')
    assert (tmp_path / 'epoch_2.pth').is_file()

    def disk_full_text(*args, **kwargs):
        raise OSError(28, 'No space left on device')

    monkeypatch.setattr(os, 'fsync', disk_full_text)
    with pytest.raises(OSError, match='No space left'):
        atomic_write_text('x', str(tmp_path / 'last_checkpoint'))
    assert not _hidden_files(tmp_path)


def test_non_finite_weights_are_not_saved(tmp_path, toy_runner):
    runner = toy_runner(str(tmp_path), checkpoint=dict(max_keep_ckpts=1))
    runner.train()
    with torch.no_grad():
        runner.model.linear.weight[0, 1] = float('nan')
    with pytest.raises(FloatingPointError) as error:
        _hook(runner)._save_checkpoint_with_step(runner, 3,
                                                 dict(epoch=3, iter=6))
    assert 'epoch 3' in str(error.value)
    assert 'linear.weight' in str(error.value)
    assert (tmp_path / 'epoch_2.pth').is_file()
    assert not (tmp_path / 'epoch_3.pth').exists()
    assert _pointer(tmp_path) == str(tmp_path / 'epoch_2.pth')


def test_unknown_option_is_an_error_when_built():
    with pytest.raises(TypeError) as error:
        AtomicCheckpointHook(intreval=1)
    assert "no option 'intreval'; did you mean 'interval'?" in str(error.value)
    # options of MMEngine's CheckpointHook are accepted
    hook = AtomicCheckpointHook(interval=2, max_keep_ckpts=3, save_best=None)
    assert hook.interval == 2


def test_atomic_write_text_replaces_whole_file(tmp_path):
    path = str(tmp_path / 'last_checkpoint')
    atomic_write_text('first', path)
    atomic_write_text('second', path)
    with open(path) as f:
        assert f.read() == 'second'
    assert os.listdir(tmp_path) == ['last_checkpoint']
