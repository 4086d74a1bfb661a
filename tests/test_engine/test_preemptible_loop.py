"""``PreemptibleEpochBasedTrainLoop``: a stop signal saves the iteration
reached, and a resume continues mid-epoch with the weights of the run never
interrupted. The toy runner trains 2 iterations an epoch with shuffled data,
noise and dropout, so that training draws from every random generator."""
import errno
import os
import signal
from typing import List

import pytest
import torch
from mmengine.hooks import Hook

from mmdla.engine import TrainingStopped
from mmdla.engine.preemptible_loop import EPOCH_BATCH_KEY, StopRequest
from mmdla.utils import runner_checkpoint_loading

LOOP = 'mmdla.PreemptibleEpochBasedTrainLoop'
RANDOM_STATE = dict(type='mmdla.RandomStateHook')


class SignalAfter(Hook):
    """Sends ``signum`` to this process after iteration ``iteration``
    (counted from 1)."""

    def __init__(self, iteration: int, signum: int) -> None:
        self.iteration = iteration
        self.signum = signum

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None) -> None:
        if runner.iter + 1 == self.iteration:
            os.kill(os.getpid(), self.signum)


class BatchRecorder(Hook):
    """Records the inputs of every training batch."""

    def __init__(self) -> None:
        self.batches: List[torch.Tensor] = []

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        self.batches.append(torch.stack(data_batch['inputs']))


def _weights(runner) -> dict:
    return {k: v.clone() for k, v in runner.model.state_dict().items()}


@pytest.mark.parametrize('signum', [signal.SIGTERM, signal.SIGUSR1])
def test_signal_saves_iteration_and_resume_repeats_the_run(
        tmp_path, toy_runner, signum) -> None:
    whole_batches = BatchRecorder()
    whole = toy_runner(
        str(tmp_path / 'whole'),
        train_loop=LOOP,
        max_epochs=3,
        random_state=RANDOM_STATE,
        recorder=whole_batches)
    whole.train()
    expected = _weights(whole)

    work_dir = tmp_path / 'split'
    first_batches, rest_batches = BatchRecorder(), BatchRecorder()
    stopped = toy_runner(
        str(work_dir),
        train_loop=LOOP,
        max_epochs=3,
        random_state=RANDOM_STATE,
        recorder=first_batches,
        signal=SignalAfter(3, signum))
    with pytest.raises(TrainingStopped) as stop:
        stopped.train()
    # iteration 3 is the 1st of epoch 2
    checkpoint = work_dir / 'iter_3.pth'
    assert stop.value.checkpoint == str(checkpoint)
    assert stop.value.signal_name == signal.Signals(signum).name
    assert (work_dir / 'last_checkpoint').read_text() == str(checkpoint)
    with runner_checkpoint_loading():
        saved = torch.load(checkpoint, weights_only=True)
    assert saved['meta']['epoch'] == 1 and saved['meta']['iter'] == 3
    assert saved['message_hub']['runtime_info'][EPOCH_BATCH_KEY] == 1

    resumed = toy_runner(
        str(work_dir),
        train_loop=LOOP,
        max_epochs=3,
        resume=True,
        random_state=RANDOM_STATE,
        recorder=rest_batches)
    resumed.train()
    assert resumed.iter == whole.iter == 6
    batches = first_batches.batches + rest_batches.batches
    assert len(batches) == len(whole_batches.batches) == 6
    for got, want in zip(batches, whole_batches.batches):
        assert torch.equal(got, want)
    for name, value in _weights(resumed).items():
        assert torch.equal(value, expected[name]), name


def test_stop_after_the_last_batch_resumes_at_the_epoch_end(
        tmp_path, toy_runner) -> None:
    work_dir = tmp_path / 'run'
    stopped = toy_runner(
        str(work_dir),
        max_epochs=2,
        train_loop=LOOP,
        signal=SignalAfter(2, signal.SIGTERM))
    with pytest.raises(TrainingStopped):
        stopped.train()
    assert not (work_dir / 'epoch_1.pth').exists()
    resumed = toy_runner(
        str(work_dir), max_epochs=2, train_loop=LOOP, resume=True)
    resumed.train()
    # the epoch's end (its checkpoint) came first, then epoch 2
    assert resumed.iter == 4
    assert (work_dir / 'epoch_1.pth').exists()
    assert (work_dir / 'epoch_2.pth').exists()


def test_full_disk_on_a_stop_names_the_file_and_keeps_the_last(
        tmp_path, toy_runner, monkeypatch) -> None:
    work_dir = tmp_path / 'run'
    runner = toy_runner(
        str(work_dir),
        max_epochs=2,
        train_loop=LOOP,
        signal=SignalAfter(3, signal.SIGTERM))

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, 'No space left on device')

    original = runner.save_checkpoint

    def save(out_dir, filename, **kwargs):
        if filename.startswith('.iter_'):
            disk_full()
        original(out_dir, filename, **kwargs)

    monkeypatch.setattr(runner, 'save_checkpoint', save)
    with pytest.raises(OSError) as error:
        runner.train()
    message = str(error.value)
    assert f'the checkpoint {work_dir / "iter_3.pth"}: it needs about' in \
        message
    assert f'The previous checkpoint {work_dir / "epoch_1.pth"} is intact' \
        in message
    assert (work_dir / 'last_checkpoint').read_text() == str(work_dir /
                                                             'epoch_1.pth')
    assert not [p for p in os.listdir(work_dir) if p.endswith('.tmp')]


def test_stop_request_restores_the_handlers() -> None:
    before = signal.getsignal(signal.SIGUSR1)
    with StopRequest() as request:
        assert request.agreed() is None
        signal.raise_signal(signal.SIGUSR1)
        assert request.agreed() == 'SIGUSR1'
    assert signal.getsignal(signal.SIGUSR1) == before
