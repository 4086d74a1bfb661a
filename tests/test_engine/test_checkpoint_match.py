"""A checkpoint of another model is an error that names the keys."""
import pytest
import torch
import torch.nn as nn

from mmdla.engine import (CheckpointMismatchError, check_checkpoint_fits,
                          check_state_dict_matches, compare_state_dicts)


def _net(blocks: int, width: int = 4) -> nn.Sequential:
    """``blocks`` linear layers of ``width`` features with a final norm."""
    return nn.Sequential(*[nn.Linear(width, width) for _ in range(blocks)],
                         nn.BatchNorm1d(width))


def test_compare_state_dicts():
    deeper = _net(3).state_dict()
    model = _net(2).state_dict()
    missing, unexpected, mismatched = compare_state_dicts(model, deeper)
    # the deeper net's index 2 is a Linear, the model's is the norm
    assert missing == [
        '2.running_mean', '2.running_var', '2.num_batches_tracked'
    ]
    assert unexpected == [
        '3.weight', '3.bias', '3.running_mean', '3.running_var',
        '3.num_batches_tracked'
    ]
    assert mismatched == [
        '2.weight: (4, 4) in the checkpoint vs. (4,) in the model'
    ]
    assert compare_state_dicts(model, _net(2).state_dict()) == ([], [], [])


def test_mismatch_names_keys_and_shapes():
    with pytest.raises(CheckpointMismatchError) as error:
        check_state_dict_matches(
            _net(2),
            _net(2, width=5).state_dict(), 'other.pth')
    message = str(error.value)
    assert "Checkpoint 'other.pth' does not fit the model" in message
    assert '0.weight: (5, 5) in the checkpoint vs. (4, 4) in the model' \
        in message
    assert '--allow-partial-checkpoint' in message


def test_long_key_lists_are_shortened():
    with pytest.raises(CheckpointMismatchError) as error:
        check_state_dict_matches(_net(1), _net(12).state_dict(), 'deep.pth')
    # the model: Linear 0, norm 1; the checkpoint: Linear 0-11, norm 12
    message = str(error.value)
    assert '3 keys of the model are missing (1.running_mean, ' \
        '1.running_var, 1.num_batches_tracked)' in message
    assert '25 keys of the checkpoint are not in the model (2.weight, ' \
        '2.bias, 3.weight' in message
    assert 'and 17 more' in message
    assert '1 weights have another shape (1.weight: (4, 4) in the ' \
        'checkpoint vs. (4,) in the model)' in message


def test_file_with_prefixes_and_wrappers(tmp_path):
    model = _net(2)
    path = tmp_path / 'dp.pth'
    # saved from a DataParallel model, inside a runner checkpoint
    state = {f'module.{k}': v for k, v in model.state_dict().items()}
    torch.save(dict(state_dict=state), path)
    check_checkpoint_fits(model, str(path))
    torch.save(_net(2).state_dict(), path)  # a bare state dict
    check_checkpoint_fits(model, str(path))
    torch.save(dict(state_dict={}), path)
    with pytest.raises(CheckpointMismatchError, match='9 keys of the model'):
        check_checkpoint_fits(model, str(path))
