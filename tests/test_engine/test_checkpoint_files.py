"""Which files are checkpoints, and which one ``--resume`` continues from."""
import os
import shutil

import pytest
import torch

from mmdla.engine import (CheckpointFileError, check_checkpoint_file,
                          find_resume_checkpoint)


def _save(path, iteration: int) -> str:
    torch.save(dict(meta=dict(iter=iteration), state_dict={}), path)
    return str(path)


def test_valid_checkpoints_pass(tmp_path):
    check_checkpoint_file(_save(tmp_path / 'a.pth', 1))
    legacy = tmp_path / 'legacy.pth'
    torch.save({}, legacy, _use_new_zipfile_serialization=False)
    check_checkpoint_file(str(legacy))


@pytest.mark.parametrize('kind, expected', [
    ('directory', 'is a directory, not a checkpoint file'),
    ('empty', 'is empty (0 bytes), not a checkpoint'),
    ('text', "is a text file (it starts with 'version https://git-lfs"),
    ('truncated', 'is truncated or corrupt'),
    ('binary', 'is not a PyTorch checkpoint'),
])
def test_broken_files_are_named_with_what_they_are_not(tmp_path, kind,
                                                       expected):
    path = tmp_path / 'epoch_1.pth'
    if kind == 'directory':
        path.mkdir()
    elif kind == 'empty':
        path.write_bytes(b'')
    elif kind == 'text':
        path.write_text('version https://git-lfs.github.com/spec/v1\n')
    elif kind == 'truncated':
        _save(path, 1)
        data = path.read_bytes()
        path.write_bytes(data[:len(data) // 2])
    else:
        path.write_bytes(bytes(range(256)))
    with pytest.raises(CheckpointFileError) as error:
        check_checkpoint_file(str(path))
    assert str(path) in str(error.value)
    assert expected in str(error.value)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match='does not exist'):
        check_checkpoint_file(str(tmp_path / 'nothing.pth'))


def test_resume_follows_a_valid_pointer(tmp_path):
    _save(tmp_path / 'epoch_1.pth', 4)
    pointed = _save(tmp_path / 'epoch_2.pth', 8)
    (tmp_path / 'last_checkpoint').write_text(pointed)
    assert find_resume_checkpoint(str(tmp_path)) == pointed


def test_resume_without_pointer_takes_the_latest_valid(tmp_path):
    # the latest by iteration, not by name; a broken newer file is skipped
    _save(tmp_path / 'epoch_2.pth', 8)
    _save(tmp_path / 'epoch_10.pth', 40)
    (tmp_path / 'epoch_11.pth').write_bytes(b'')
    _save(tmp_path / 'iter_12.pth', 12)
    assert find_resume_checkpoint(str(tmp_path)) == str(tmp_path /
                                                        'epoch_10.pth')


def test_resume_with_a_broken_pointed_file_takes_the_latest_valid(tmp_path):
    _save(tmp_path / 'epoch_1.pth', 4)
    (tmp_path / 'epoch_2.pth').write_text('not a checkpoint')
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'epoch_2.pth'))
    assert find_resume_checkpoint(str(tmp_path)) == str(tmp_path /
                                                        'epoch_1.pth')


def test_resume_in_a_moved_work_dir(tmp_path):
    old = tmp_path / 'old'
    old.mkdir()
    _save(old / 'epoch_1.pth', 4)
    _save(old / 'epoch_3.pth', 12)
    _save(old / 'epoch_2.pth', 8)
    # the pointer names epoch_2 (e.g. epoch_3 is a best checkpoint's copy)
    (old / 'last_checkpoint').write_text(str(old / 'epoch_2.pth'))
    new = tmp_path / 'new'
    shutil.move(str(old), str(new))
    assert find_resume_checkpoint(str(new)) == str(new / 'epoch_2.pth')


def test_resume_in_an_empty_work_dir_starts_a_new_run(tmp_path):
    assert find_resume_checkpoint(str(tmp_path / 'not_created')) is None
    (tmp_path / 'config.py').write_text('')
    assert find_resume_checkpoint(str(tmp_path)) is None


def test_resume_refuses_to_train_over_unusable_checkpoints(tmp_path):
    (tmp_path / 'epoch_1.pth').write_bytes(b'')
    torch.save(dict(state_dict={}), tmp_path / 'converted.pth')
    with pytest.raises(CheckpointFileError) as error:
        find_resume_checkpoint(str(tmp_path))
    message = str(error.value)
    assert 'epoch_1.pth' in message and 'converted.pth' in message
    assert '--resume PATH' in message
    assert sorted(os.listdir(tmp_path)) == ['converted.pth', 'epoch_1.pth']
