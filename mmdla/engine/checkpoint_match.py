"""Does a checkpoint hold the weights of the model it is loaded into?

MMEngine's runner loads checkpoints with ``strict=False``: a checkpoint of
another depth or variant evaluates with a partly random model and one line of
warning. :func:`check_checkpoint_fits` (for a file) and
:func:`check_state_dict_matches` (for a state dict) turn that into an error
that names the missing, unexpected and mismatched keys.
"""
from typing import Dict, List, Mapping, Tuple

import torch
import torch.nn as nn
from mmengine.model import is_model_wrapper

from .checkpoint_files import read_checkpoint

_SHOWN_KEYS = 8
# how tools/test.py gets past a mismatch
PARTIAL_LOAD_FIX = ('pass that config, or --allow-partial-checkpoint to load '
                    'the matching weights on purpose.')


class CheckpointMismatchError(RuntimeError):
    """A checkpoint's state dict does not fit the model."""


def compare_state_dicts(
    model_state: Mapping[str, torch.Tensor],
    checkpoint_state: Mapping[str, torch.Tensor],
) -> Tuple[List[str], List[str], List[str]]:
    """Compare the keys and shapes of two state dicts.

    Args:
        model_state: The state dict of the model to load into.
        checkpoint_state: The state dict of the checkpoint.

    Returns:
        tuple[list[str], list[str], list[str]]: The keys the checkpoint
        lacks, the keys the model lacks, and ``'key: checkpoint shape vs.
        model shape'`` for each key present in both with another shape.
    """
    missing = [key for key in model_state if key not in checkpoint_state]
    unexpected = [key for key in checkpoint_state if key not in model_state]
    mismatched = [
        f'{key}: {tuple(value.shape)} in the checkpoint vs. '
        f'{tuple(model_state[key].shape)} in the model'
        for key, value in checkpoint_state.items()
        if key in model_state and value.shape != model_state[key].shape
    ]
    return missing, unexpected, mismatched


def _describe(title: str, keys: List[str]) -> str:
    shown = ', '.join(keys[:_SHOWN_KEYS])
    if len(keys) > _SHOWN_KEYS:
        shown += f', and {len(keys) - _SHOWN_KEYS} more'
    return f'{len(keys)} {title} ({shown})'


def check_state_dict_matches(model: nn.Module,
                             checkpoint_state: Dict[str, torch.Tensor],
                             checkpoint_name: str,
                             fix: str = PARTIAL_LOAD_FIX) -> None:
    """Raise if ``checkpoint_state`` cannot fill ``model`` exactly.

    A ``module.`` prefix (saved from a DataParallel model) is ignored, as
    MMEngine's runner strips it when loading.

    Args:
        model: The model (unwrapped) the checkpoint is for.
        checkpoint_state: The checkpoint's ``state_dict``.
        checkpoint_name: The checkpoint's path, for the message.
        fix: The end of the message: what to do instead.

    Raises:
        CheckpointMismatchError: If keys are missing, unexpected or of
            another shape; the message names them.
    """
    checkpoint_state = {
        key[len('module.'):] if key.startswith('module.') else key: value
        for key, value in checkpoint_state.items()
    }
    missing, unexpected, mismatched = compare_state_dicts(
        model.state_dict(), checkpoint_state)
    problems = []
    if missing:
        problems.append(_describe('keys of the model are missing', missing))
    if unexpected:
        problems.append(
            _describe('keys of the checkpoint are not in the model',
                      unexpected))
    if mismatched:
        problems.append(_describe('weights have another shape', mismatched))
    if problems:
        raise CheckpointMismatchError(
            f'Checkpoint {checkpoint_name!r} does not fit the model of the '
            'config: ' + '; '.join(problems) + '. It was probably trained '
            f'with another config (depth, width, variant or classes); {fix}')


def check_checkpoint_fits(model: nn.Module,
                          filename: str,
                          fix: str = PARTIAL_LOAD_FIX) -> None:
    """Raise if the checkpoint file ``filename`` cannot fill ``model``.

    Only the names and shapes are read (the file is memory-mapped), so the
    check costs little next to loading the checkpoint afterwards.

    Args:
        model: The model, possibly in a DDP wrapper.
        filename: A local checkpoint file with a ``state_dict`` entry, or a
            bare state dict.
        fix: The end of the message: what to do instead.

    Raises:
        CheckpointMismatchError: See :func:`check_state_dict_matches`.
    """
    if is_model_wrapper(model):
        model = model.module
    checkpoint = read_checkpoint(filename)
    check_state_dict_matches(model, checkpoint.get('state_dict', checkpoint),
                             filename, fix)
