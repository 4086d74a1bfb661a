"""Runner checkpoints load weights-only, and a crafted one runs no code.

The payloads are the two routes of a crafted checkpoint past an allowlist
that holds ``builtins.getattr`` and ``HistoryBuffer`` themselves: ``getattr``
up to ``exec``, and a ``HistoryBuffer`` state that plants attributes (an
instance ``__reduce_ex__``, which ``copy.deepcopy`` calls) or entries of the
class-wide statistics table.
"""
import copy
import importlib
import io
import os.path as osp
import sys
from typing import Any, Callable

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer

from mmdla.utils import (runner_checkpoint_globals, runner_checkpoint_loading,
                         runner_checkpoints_load)


def saved(crafted, obj: Any) -> io.BytesIO:
    buffer = io.BytesIO()
    crafted.save(obj, buffer)
    buffer.seek(0)
    return buffer


def marker_code(marker: str) -> str:
    return f'open({marker!r}, "w").close()'


def test_payload_runs_where_getattr_and_history_buffer_are_allowed(
        tmp_path, crafted) -> None:
    # the control: the payload is real, and PyTorch's own list refuses it
    marker = str(tmp_path / 'ran')
    buffer = saved(
        crafted,
        {'runtime_info': {
            'x': crafted.exec_buffer(marker_code(marker))
        }})
    with pytest.raises(Exception, match='HistoryBuffer was not an allowed'):
        torch.load(buffer, weights_only=True)
    buffer.seek(0)
    multiarray = importlib.import_module('numpy._core.multiarray')
    reconstruct = multiarray._reconstruct
    unsafe = [
        HistoryBuffer, getattr, np.ndarray, np.dtype,
        type(np.dtype('f8')),
        type(np.dtype('i8')),
        (reconstruct, 'numpy._core.multiarray._reconstruct')
    ]
    with torch.serialization.safe_globals(unsafe):
        loaded = torch.load(buffer, weights_only=True)
    assert not osp.exists(marker)
    copy.deepcopy(loaded)
    assert osp.exists(marker)


def test_payload_is_refused(tmp_path, crafted) -> None:
    marker = str(tmp_path / 'ran')
    buffer = saved(
        crafted,
        {'runtime_info': {
            'x': crafted.exec_buffer(marker_code(marker))
        }})
    with runner_checkpoint_loading():
        with pytest.raises(Exception, match="attribute '__self__'"):
            torch.load(buffer, weights_only=True)
    assert not osp.exists(marker)


def history_state(**changes) -> dict:
    state = dict(
        max_length=10,
        _log_history=np.array([1.0, 2.0]),
        _count_history=np.array([1, 1]),
        statistics_methods={'mean': HistoryBuffer.mean})
    state.update(changes)
    return state


@pytest.mark.parametrize(
    'state, refusal', [
        (history_state(__reduce_ex__=np.ndarray), 'not the keys'),
        (history_state(statistics_methods={'mean': np.ndarray}),
         "not MMEngine's"),
        (history_state(max_length='10'), 'max_length of type str'),
        (history_state(_log_history=np.array(['a'])), '1-d numeric'),
        (history_state(_count_history=np.array([1])), 'two lengths'),
        (['not', 'a', 'dict'], 'has the state'),
    ],
    ids=[
        'planted attribute', 'planted statistic', 'max_length', 'array',
        'lengths', 'list'
    ])
def test_planted_history_buffer_state_is_refused(state, refusal,
                                                 crafted) -> None:
    mean_before = HistoryBuffer._statistics_methods['mean']
    buffer = saved(crafted, {'message_hub': crafted.buffer(state)})
    with runner_checkpoint_loading():
        with pytest.raises(Exception, match=refusal):
            torch.load(buffer, weights_only=True)
    assert HistoryBuffer._statistics_methods['mean'] is mean_before


def test_history_buffer_cannot_be_called_into_being(crafted) -> None:
    buffer = saved(crafted,
                   {'log': crafted.reduced(HistoryBuffer, ([1.0], [1]))})
    with runner_checkpoint_loading():
        with pytest.raises(Exception, match='calls HistoryBuffer'):
            torch.load(buffer, weights_only=True)


def test_message_hub_round_trip_gives_plain_history_buffers(crafted) -> None:
    history = HistoryBuffer([1.0, 3.0], [1, 2], max_length=5)
    history.update(5.0)
    hub = {'log_scalars': {'loss': history}, 'runtime_info': {'epoch': 3}}
    with runner_checkpoint_loading():
        loaded = torch.load(saved(crafted, hub), weights_only=True)
    restored = loaded['log_scalars']['loss']
    assert type(restored) is HistoryBuffer
    assert restored.max_length == 5
    np.testing.assert_array_equal(restored.data[0], [1.0, 3.0, 5.0])
    np.testing.assert_array_equal(restored.data[1], [1, 2, 1])
    # MMEngine's mean: the sum of the values over the sum of the counts
    assert restored.mean() == pytest.approx((1.0 + 3.0 + 5.0) / (1 + 2 + 1))
    # a copy (MMEngine deep-copies the hub) is a HistoryBuffer as well
    assert type(copy.deepcopy(restored)) is HistoryBuffer
    assert runner_checkpoints_load()


def test_allowlist_holds_only_inside_the_block(crafted) -> None:
    hub = {'loss': HistoryBuffer([1.0], [1])}
    before = set(torch.serialization.get_safe_globals())
    with runner_checkpoint_loading():
        with runner_checkpoint_loading():  # nested: the outer one adds
            pass
        assert set(runner_checkpoint_globals()) <= set(
            torch.serialization.get_safe_globals())
        torch.load(saved(crafted, hub), weights_only=True)
    assert set(torch.serialization.get_safe_globals()) == before
    with pytest.raises(Exception, match='HistoryBuffer'):
        torch.load(saved(crafted, hub), weights_only=True)


def test_importing_mmdla_leaves_torch_allowlist_alone(run_tool: Callable,
                                                      repo_root: str) -> None:
    # the stack first: PyTorch adds some globals of its own on import
    script = (
        'import torch, torch.distributed.run, mmdet.apis, mmpretrain.apis\n'
        'before = set(torch.serialization.get_safe_globals())\n'
        'import mmdla, mmdla.apis, mmdla.deployment, mmdla.engine\n'
        'print(set(torch.serialization.get_safe_globals()) - before)\n')
    result = run_tool([sys.executable, '-c', script], cwd=repo_root)
    assert result.returncode == 0, result.stdout
    assert result.stdout.strip().splitlines()[-1] == 'set()'
