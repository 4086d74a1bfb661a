"""One run per work dir: the lock, the refusal of a new run over an earlier
one, and ``--new-run`` moving the earlier run aside."""
import os

import pytest

from mmdla.engine.work_dir import (EarlierRunError, WorkDirBusyError,
                                   claim_work_dir, earlier_run_files,
                                   lock_work_dir)


def _earlier_run(work_dir) -> dict:
    """Files of a finished run; returns their contents by name."""
    work_dir.mkdir(exist_ok=True)
    contents = {
        'epoch_1.pth': b'first',
        'epoch_2.pth': b'second',
        'last_checkpoint': str(work_dir / 'epoch_2.pth').encode(),
        'config.py': b'lr = 0.1\n',
    }
    for name, content in contents.items():
        (work_dir / name).write_bytes(content)
    (work_dir / '20260101_120000').mkdir()
    (work_dir / '20260101_120000' / '20260101_120000.log').write_text('log')
    return contents


def test_lock_is_held_until_the_file_is_closed(tmp_path):
    lock = lock_work_dir(str(tmp_path))
    assert (tmp_path / '.train.lock').read_text() == str(os.getpid())
    with pytest.raises(WorkDirBusyError) as error:
        lock_work_dir(str(tmp_path))
    message = str(error.value)
    assert f'Another training is running in the work dir {str(tmp_path)!r}' \
        in message
    assert f'(process {os.getpid()} holds' in message
    assert 'another --work-dir' in message
    lock.close()
    lock_work_dir(str(tmp_path)).close()


def test_new_run_over_an_earlier_one_is_refused(tmp_path):
    contents = _earlier_run(tmp_path)
    with pytest.raises(EarlierRunError) as error:
        claim_work_dir(str(tmp_path), resume=False, new_run=False, rank=0)
    message = str(error.value)
    assert 'holds the checkpoints of an earlier run (epoch_1.pth, ' \
        'epoch_2.pth)' in message
    assert '--resume' in message and '--work-dir' in message
    assert '--new-run' in message
    for name, content in contents.items():
        assert (tmp_path / name).read_bytes() == content
    # the refusal released the lock
    lock_work_dir(str(tmp_path)).close()


def test_new_run_moves_the_earlier_one_aside(tmp_path):
    contents = _earlier_run(tmp_path)
    (tmp_path / 'notes.txt').write_text('mine')
    lock = claim_work_dir(str(tmp_path), resume=False, new_run=True, rank=0)
    moved = list((tmp_path / 'earlier_runs').iterdir())
    assert len(moved) == 1
    for name, content in contents.items():
        assert not (tmp_path / name).exists()
        if name != 'last_checkpoint':
            assert (moved[0] / name).read_bytes() == content
    # the pointer follows its checkpoint, away from the new run's files
    assert (moved[0] / 'last_checkpoint').read_text() == \
        str(moved[0] / 'epoch_2.pth')
    assert (moved[0] / '20260101_120000' / '20260101_120000.log').is_file()
    # what the runner did not write stays, and so does the lock
    assert (tmp_path / 'notes.txt').read_text() == 'mine'
    assert (tmp_path / '.train.lock').is_file()
    assert earlier_run_files(str(tmp_path)) == []
    lock.close()


def test_resume_and_empty_work_dirs_are_claimed_as_they_are(tmp_path):
    contents = _earlier_run(tmp_path / 'run')
    claim_work_dir(
        str(tmp_path / 'run'), resume=True, new_run=False, rank=0).close()
    for name, content in contents.items():
        assert (tmp_path / 'run' / name).read_bytes() == content
    # logs without a checkpoint: nothing to lose
    (tmp_path / 'logs' / '20260101_120000').mkdir(parents=True)
    claim_work_dir(
        str(tmp_path / 'logs'), resume=False, new_run=False, rank=0).close()
    claim_work_dir(
        str(tmp_path / 'new'), resume=False, new_run=False, rank=0).close()


def test_only_rank_zero_claims(tmp_path):
    _earlier_run(tmp_path)
    held = lock_work_dir(str(tmp_path))
    assert claim_work_dir(
        str(tmp_path), resume=False, new_run=False, rank=1) is None
    held.close()
