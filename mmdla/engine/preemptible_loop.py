"""Epoch-based training that a cluster can stop and restart without loss.

Shared clusters preempt jobs: Slurm sends ``SIGTERM`` (and, with
``--signal=USR1@SECONDS``, ``SIGUSR1`` ahead of time), and torchrun passes
``SIGTERM`` on to its workers, giving them 30 seconds. MMEngine's loop dies on
the signal and loses everything since the last epoch checkpoint.
:class:`PreemptibleEpochBasedTrainLoop` instead

1. on ``SIGTERM`` or ``SIGUSR1`` finishes the iteration under way; all ranks
   agree (one all-reduce of a flag per iteration) to stop at the same
   iteration boundary;
2. saves ``iter_<N>.pth`` of that iteration atomically and points
   ``last_checkpoint`` at it;
3. raises :class:`TrainingStopped`, on which ``tools/train.py`` logs the
   command that continues and exits with :data:`EXIT_STOPPED` (75,
   ``EX_TEMPFAIL``: try again later).

``--resume`` then continues in the same epoch at the next batch of the same
sample order: the batches done are skipped in the batch sampler, without
loading their data, so no sample is seen twice and none is skipped. With the
data loaded in the main process (``num_workers=0``) and
``mmdla.RandomStateHook``, the resumed run ends with the weights of the run
never interrupted, bitwise on the CPU. With worker processes the order of the
samples is the same, but their random augmentation is not repeated: the
workers' random states are not saved.

mmdla's configs select it with ``train_cfg = dict(type=
'mmdla.PreemptibleEpochBasedTrainLoop')``; it takes the arguments of
MMEngine's ``EpochBasedTrainLoop``.
"""
import itertools
import logging
import signal
from types import FrameType
from typing import Iterable, Iterator, List, Optional

import torch
from mmengine.dist import all_reduce, get_world_size
from mmengine.fileio import LocalBackend
from mmengine.hooks import CheckpointHook
from mmengine.logging import print_log
from mmengine.runner import EpochBasedTrainLoop
from torch.utils.data import DataLoader, Sampler

from mmdla.registry import LOOPS
from .hooks import RandomStateHook
from .hooks.atomic_checkpoint_hook import save_checkpoint_atomically
from .sample_errors import name_sample_errors

#: Exit status of a training that stopped on a signal after saving.
EXIT_STOPPED = 75
#: The signals that stop a training at the next iteration boundary.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1)
#: Message hub key: the batches of the current epoch done, saved with every
#: checkpoint (0 at an epoch's end).
EPOCH_BATCH_KEY = 'epoch_batch'


class TrainingStopped(Exception):
    """Training stopped on a signal, after saving a checkpoint.

    Args:
        signal_name: The signal, e.g. ``'SIGTERM'``.
        checkpoint: The checkpoint saved.
        iteration: The iterations done.
    """

    def __init__(self, signal_name: str, checkpoint: str,
                 iteration: int) -> None:
        super().__init__(
            f'Training stopped on {signal_name} after iteration {iteration}; '
            f'saved {checkpoint}. Continue it with the same command and '
            '--resume (a restarted torchrun or Slurm job resumes by itself).')
        self.signal_name = signal_name
        self.checkpoint = checkpoint
        self.iteration = iteration


class StopRequest:
    """The stop signals received by this process, agreed with the others.

    Install it around training with ``with StopRequest():``; its handlers
    only record the signal, and :meth:`agreed` tells every rank, at the same
    iteration, whether any rank received one.
    """

    def __init__(self,
                 signals: Iterable[signal.Signals] = STOP_SIGNALS) -> None:
        self.signals = tuple(signals)
        self.received: Optional[str] = None
        self._previous: List = []

    def __enter__(self) -> 'StopRequest':
        self._previous = [(sig, signal.signal(sig, self._record))
                          for sig in self.signals]
        return self

    def __exit__(self, *exc_info) -> None:
        for sig, handler in self._previous:
            signal.signal(sig, handler)
        self._previous = []

    def _record(self, signum: int, frame: Optional[FrameType]) -> None:
        if self.received is None:
            self.received = signal.Signals(signum).name
            print_log(
                f'Received {self.received}: saving a checkpoint after the '
                'iteration under way, then stopping.',
                logger='current',
                level=logging.WARNING)

    def agreed(self) -> Optional[str]:
        """The name of a stop signal if this or any other rank received
        one, else ``None``. Every rank must call it at the same point."""
        if get_world_size() == 1:
            return self.received
        flag = torch.tensor([0 if self.received is None else 1])
        all_reduce(flag, op='max')
        if not flag.item():
            return None
        return self.received or 'a stop signal (on another rank)'


class _SkipBatches(Sampler):
    """The batches of ``batch_sampler`` after the first ``start``; the
    skipped ones are drawn (indices only) but never loaded."""

    def __init__(self, batch_sampler: Sampler, start: int) -> None:
        self.batch_sampler = batch_sampler
        self.start = start

    def __iter__(self) -> Iterator[List[int]]:
        return itertools.islice(iter(self.batch_sampler), self.start, None)

    def __len__(self) -> int:
        return max(len(self.batch_sampler) - self.start, 0)


def loader_from_batch(loader: DataLoader, start: int, seed: int) -> DataLoader:
    """A loader of the batches of ``loader``'s present epoch from batch
    ``start`` on, in the same order.

    Its iterator draws its base seed from a generator of ``seed`` instead of
    torch's global one, which the run's saved random states already cover.

    Args:
        loader: The training loader; its sampler's epoch is already set.
        start: The batches of this epoch done.
        seed: Seed of the base seed of the loader's workers.

    Returns:
        DataLoader: A loader for this epoch only (no persistent workers).
    """
    generator = torch.Generator()
    generator.manual_seed(seed)
    workers = loader.num_workers
    return DataLoader(
        loader.dataset,
        batch_sampler=_SkipBatches(loader.batch_sampler, start),
        num_workers=workers,
        collate_fn=loader.collate_fn,
        pin_memory=loader.pin_memory,
        timeout=loader.timeout,
        worker_init_fn=loader.worker_init_fn,
        multiprocessing_context=loader.multiprocessing_context,
        generator=generator,
        prefetch_factor=loader.prefetch_factor if workers else None,
        pin_memory_device=loader.pin_memory_device)


@LOOPS.register_module()
class PreemptibleEpochBasedTrainLoop(EpochBasedTrainLoop):
    """MMEngine's ``EpochBasedTrainLoop`` that stops on ``SIGTERM`` or
    ``SIGUSR1`` with a checkpoint of the last iteration, and resumes in the
    middle of an epoch (see the module's documentation). An error raised
    while a training sample is prepared names the sample's file
    (:func:`~mmdla.engine.sample_errors.name_sample_errors`)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        name_sample_errors(self.dataloader.dataset)

    def run(self) -> torch.nn.Module:
        with StopRequest() as self._stop_request:
            return super().run()

    def run_epoch(self) -> None:
        """Iterate over the rest of the epoch: all of it, or after a resume
        from a checkpoint saved within it, the batches after those done."""
        runner = self.runner
        runner.call_hook('before_train_epoch')
        runner.model.train()
        start = runner.message_hub.get_info(EPOCH_BATCH_KEY, 0)
        batches = self.dataloader
        if start:
            print_log(
                f'Resuming epoch {self._epoch + 1} at batch {start + 1} of '
                f'{len(self.dataloader)}.',
                logger='current')
            batches = loader_from_batch(self.dataloader, start,
                                        runner.seed + self._epoch)
        for idx, data_batch in enumerate(batches, start):
            # a checkpoint saved after this iteration resumes after it
            runner.message_hub.update_info(EPOCH_BATCH_KEY, idx + 1)
            self.run_iter(idx, data_batch)
            self._stop_if_requested()
        runner.message_hub.update_info(EPOCH_BATCH_KEY, 0)
        runner.call_hook('after_train_epoch')
        self._epoch += 1

    def _stop_if_requested(self) -> None:
        """Save and raise :class:`TrainingStopped` if a rank received a stop
        signal."""
        signal_name = self._stop_request.agreed()
        if signal_name is None:
            return
        checkpoint = self._save_iteration_checkpoint()
        stopped = TrainingStopped(signal_name, checkpoint, self._iter)
        print_log(str(stopped), logger='current', level=logging.WARNING)
        raise stopped

    def _save_iteration_checkpoint(self) -> str:
        """Save ``iter_<N>.pth`` of the iterations done, with the options of
        the run's checkpoint hook, where that hook saves."""
        runner = self.runner
        hook = next(
            (hook
             for hook in runner.hooks if isinstance(hook, CheckpointHook)),
            None)
        out_dir = runner.work_dir
        for random_state_hook in runner.hooks:
            if isinstance(random_state_hook, RandomStateHook):
                random_state_hook.capture(runner)
        options = {}
        if hook is not None:
            if isinstance(hook.file_backend, LocalBackend):
                out_dir = hook.out_dir
            options = dict(
                save_optimizer=hook.save_optimizer,
                save_param_scheduler=hook.save_param_scheduler)
        return save_checkpoint_atomically(
            runner,
            out_dir,
            f'iter_{self._iter}.pth',
            meta=dict(epoch=self._epoch, iter=self._iter),
            by_epoch=False,
            **options)
