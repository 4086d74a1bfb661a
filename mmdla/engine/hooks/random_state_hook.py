"""Random states in checkpoints, so that a resumed run repeats the original.

MMEngine seeds a run once, when the runner is built. A run resumed from a
checkpoint therefore continues with the random states of a fresh start, and
its data augmentation, dropout and shuffling differ from those the run would
have had without the interruption.
"""
import logging
import random
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch
from mmengine.dist import all_gather_object, get_rank, get_world_size
from mmengine.hooks import Hook
from mmengine.logging import print_log

from mmdla.registry import HOOKS

RandomStates = Dict[str, Any]


def capture_random_states() -> RandomStates:
    """The states of Python's, NumPy's and torch's (CPU and CUDA) global
    random generators."""
    states = dict(
        python=random.getstate(),
        numpy=np.random.get_state(),
        torch=torch.get_rng_state())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states['torch_cuda'] = torch.cuda.get_rng_state_all()
    return states


def restore_random_states(states: RandomStates) -> None:
    """Set the global random generators to ``states`` (see
    :func:`capture_random_states`); CUDA states are restored when the
    number of devices is the same."""
    random.setstate(states['python'])
    np.random.set_state(states['numpy'])
    torch.set_rng_state(states['torch'])
    cuda_states = states.get('torch_cuda')
    if (cuda_states is not None and torch.cuda.is_available()
            and len(cuda_states) == torch.cuda.device_count()):
        torch.cuda.set_rng_state_all(cuda_states)


def _states_of_ranks(states: RandomStates) -> List[RandomStates]:
    """The random states of every rank, in rank order (a collective)."""
    if get_world_size() == 1:
        return [states]
    return all_gather_object(states)


def _own_states(rank_states: List[RandomStates]) -> RandomStates:
    """This rank's states of a checkpoint's ``rank_random_states``, or rank
    0's, with a warning, where the checkpoint was saved by another number of
    ranks."""
    if len(rank_states) == get_world_size():
        return rank_states[get_rank()]
    if get_rank() == 0:
        print_log(
            f'The checkpoint holds the random states of {len(rank_states)} '
            f'rank(s) and this run has {get_world_size()}: every rank goes '
            'on with those of rank 0, so the resumed run does not repeat '
            'the interrupted one exactly.',
            logger='current',
            level=logging.WARNING)
    return rank_states[0]


def _train_sampler(runner) -> Any:
    """The sampler of the training data loader (inside its batch sampler,
    if it has one, as with MMDetection's ``AspectRatioBatchSampler``)."""
    loader = runner.train_loop.dataloader
    batch_sampler = getattr(loader, 'batch_sampler', None)
    return getattr(batch_sampler, 'sampler', loader.sampler)


@HOOKS.register_module()
class RandomStateHook(Hook):
    """Save the random states in each checkpoint and restore them on resume.

    Every checkpoint gets a ``random_states`` entry: the states of Python's,
    NumPy's and torch's random generators and the seed of the training
    sampler (which shuffles each epoch with ``seed + epoch``), and a
    ``rank_random_states`` entry with the generators' states of every rank
    (which differ with ``randomness.diff_rank_seed=True``); a run resumed
    with as many ranks restores each rank's own. Epoch checkpoints and the
    checkpoints of a stop on a signal hold every rank's states; an
    iteration checkpoint of ``CheckpointHook`` within an epoch holds rank
    0's (the main process saves it alone). They are
    taken at the end of the epoch, when the checkpoint is saved, and set
    again at the start of the next epoch, in the run that goes on as in a
    run resumed from that checkpoint. Whatever happens in between (an
    evaluation that draws random numbers, the building of a resumed runner)
    then leaves training untouched, and on the CPU a run killed and resumed
    ends with exactly the weights of the run never interrupted. States are
    restored only into a run that continues at the checkpoint's iteration
    (``--resume``), not into one that loads it to start over
    (``load_from``). mmdla's configs name it in ``default_hooks``::

        random_state=dict(type='mmdla.RandomStateHook')

    The exact repetition holds for epoch-based training with the data
    loaded in the training processes (``num_workers=0``) or by workers that
    are restarted each epoch (``persistent_workers=False``): the states of
    persistent worker processes are not saved. A run resumed with another
    number of ranks restores rank 0's states on every rank, and says so. On
    a GPU, non-deterministic kernels may still make runs differ.
    """

    priority = 'NORMAL'

    def __init__(self) -> None:
        # (iteration, random states of every rank, sampler seed): saved with
        # a checkpoint of that iteration, and restored at the start of the
        # next epoch if training is then at that iteration
        self._pending: Optional[Tuple[int, List[RandomStates], Any]] = None

    def capture(self, runner) -> None:
        """Take the random states of every rank, for the checkpoint of this
        iteration and for the next epoch. A collective: call it on every
        rank (``mmdla.PreemptibleEpochBasedTrainLoop`` does before it saves
        on a signal; checkpoints are written by the main process alone)."""
        self._pending = (runner.iter,
                         _states_of_ranks(capture_random_states()),
                         getattr(_train_sampler(runner), 'seed', None))

    def after_train_epoch(self, runner) -> None:
        self.capture(runner)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if self._pending is not None and self._pending[0] == runner.iter:
            _, rank_states, sampler_seed = self._pending
        else:  # a save within an epoch that `capture` did not precede
            rank_states = [capture_random_states()]
            sampler_seed = getattr(_train_sampler(runner), 'seed', None)
        checkpoint['random_states'] = dict(
            rank_states[0], sampler_seed=sampler_seed)
        checkpoint['rank_random_states'] = rank_states

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        saved = checkpoint.get('random_states')
        if saved is None:
            return
        states = {k: v for k, v in saved.items() if k != 'sampler_seed'}
        rank_states = checkpoint.get('rank_random_states') or [states]
        self._pending = (checkpoint['meta']['iter'], rank_states,
                         saved.get('sampler_seed'))

    def before_train_epoch(self, runner) -> None:
        if self._pending is None:
            return
        iteration, rank_states, sampler_seed = self._pending
        self._pending = None
        if iteration != runner.iter:  # loaded to start over (`load_from`)
            return
        restore_random_states(_own_states(rank_states))
        sampler = _train_sampler(runner)
        if sampler_seed is not None and hasattr(sampler, 'seed'):
            sampler.seed = sampler_seed
