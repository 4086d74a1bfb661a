"""Loading MMEngine runner checkpoints without letting them run code.

Since PyTorch 2.6, ``torch.load`` defaults to ``weights_only=True``: it
unpickles tensors, containers and an allowlist of globals, and calls nothing
else. MMEngine 0.10.7 calls ``torch.load`` without ``weights_only``, so
resuming a runner checkpoint fails with "Weights only load failed ...
HistoryBuffer": besides the weights, a runner checkpoint holds the message
hub, whose :class:`~mmengine.logging.HistoryBuffer` objects keep numpy arrays
and, through ``HistoryBuffer.__getstate__``, the class's statistics methods
(pickled as ``getattr(HistoryBuffer, 'mean')``).

Allowing ``HistoryBuffer`` and ``builtins.getattr`` themselves would let a
crafted file run code: ``getattr`` reaches any attribute of any object the
file can build (``getattr(getattr, '__self__')`` is the ``builtins`` module),
and ``HistoryBuffer.__setstate__`` sets any instance attribute (a
``__reduce_ex__`` that ``copy.deepcopy`` later calls) and any entry of the
class-wide statistics table. :func:`runner_checkpoint_globals` therefore
allows checked stand-ins under those two names instead:

- ``mmengine.logging.history_buffer.HistoryBuffer`` builds a
  :class:`CheckedHistoryBuffer`, whose ``__setstate__`` accepts exactly the
  state MMEngine writes (``max_length``: an int; ``_log_history`` and
  ``_count_history``: numeric 1-d arrays of one length;
  ``statistics_methods``: names of the statistics MMEngine defines) and then
  turns the object into a plain ``HistoryBuffer``. The statistics table of
  the class is never written.
- ``builtins.getattr`` is :func:`history_buffer_statistic`, which returns only
  a statistics method of ``HistoryBuffer`` and refuses any other owner or
  name.

Together with numpy's array, dtype and scalar reconstructors (which rebuild
data only) that is everything a runner checkpoint may contain besides what
``torch.load(weights_only=True)`` allows by default: tensors, numbers,
strings, bytes, lists, tuples, dicts, sets and ``OrderedDict``.

The allowlist is scoped: it holds inside :func:`runner_checkpoint_loading`
only, which mmdla's tools put around their loads; every other
``torch.load(weights_only=True)`` of the process keeps PyTorch's own list.
mmdla's configs build their runner as ``mmdla.SafeLoadRunner``, which loads
within it, also under MMDetection's and MMPretrain's tools. A script of your
own that loads a runner checkpoint does the same::

    from mmdla.utils import runner_checkpoint_loading

    with runner_checkpoint_loading():
        runner.train()
"""
import contextlib
import importlib
import io
from pickle import UnpicklingError
from typing import Any, Callable, Iterator, List, Tuple, Union

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

SafeGlobal = Union[Callable, Tuple[Callable, str]]

#: The pickled names that the stand-ins below are allowed under.
HISTORY_BUFFER_NAME = 'mmengine.logging.history_buffer.HistoryBuffer'
GETATTR_NAME = 'builtins.getattr'

#: The statistics methods ``HistoryBuffer`` defines; ``__getstate__`` pickles
#: them by name (``getattr(HistoryBuffer, name)``).
HISTORY_BUFFER_STATISTICS = ('min', 'max', 'current', 'mean')

_ARRAY_KEYS = ('_log_history', '_count_history')
_STATE_KEYS = frozenset(('max_length', 'statistics_methods') + _ARRAY_KEYS)


def _refuse(what: str) -> UnpicklingError:
    return UnpicklingError(
        f'Refusing to load this checkpoint: {what}. MMEngine never writes '
        'that; the file was made or edited by other code. Load only '
        'checkpoints you trust, and train a new one otherwise.')


def history_buffer_statistic(owner: Any, name: str) -> Callable:
    """``getattr`` as runner checkpoints use it: a statistics method of
    ``HistoryBuffer`` by name, and nothing else.

    Raises:
        UnpicklingError: For any other owner or attribute.
    """
    if not (isinstance(owner, type) and issubclass(owner, HistoryBuffer)
            and name in HISTORY_BUFFER_STATISTICS):
        raise _refuse(f'it reads the attribute {name!r} of {owner!r}')
    return getattr(HistoryBuffer, name)


class CheckedHistoryBuffer(HistoryBuffer):
    """What a pickled ``HistoryBuffer`` is built as while loading a runner
    checkpoint: its state is checked, then it becomes a ``HistoryBuffer``.

    Only unpickling builds it (``__new__`` then ``__setstate__``); calling
    the class is refused, as a crafted file could otherwise make one that
    keeps this type.
    """

    def __init__(self, *args, **kwargs) -> None:
        raise _refuse('it calls HistoryBuffer(...) instead of restoring one')

    def __setstate__(self, state: Any) -> None:
        """Check ``state`` (the dict of ``HistoryBuffer.__getstate__``) and
        restore it, without touching ``HistoryBuffer._statistics_methods``.

        Raises:
            UnpicklingError: If ``state`` holds other keys or values of
                other types than MMEngine writes.
        """
        if not isinstance(state, dict) or not set(state) <= _STATE_KEYS \
                or not set(_STATE_KEYS) - {'statistics_methods'} <= set(state):
            keys = sorted(state) if isinstance(state, dict) else state
            raise _refuse(f'a HistoryBuffer has the state {keys!r}, not the '
                          f'keys {sorted(_STATE_KEYS)}')
        if type(state['max_length']) is not int:
            raise _refuse('a HistoryBuffer has a max_length of type '
                          f'{type(state["max_length"]).__name__}')
        for key in _ARRAY_KEYS:
            value = state[key]
            if type(value) is not np.ndarray or value.ndim != 1 \
                    or value.dtype.kind not in 'biuf':
                raise _refuse(f'a HistoryBuffer has a {key} that is not a '
                              '1-d numeric array')
        if len(state['_log_history']) != len(state['_count_history']):
            raise _refuse('a HistoryBuffer has histories of two lengths')
        methods = state.get('statistics_methods', {})
        if not isinstance(methods, dict) or any(
                getattr(HistoryBuffer, name, None) is not method
                for name, method in methods.items()
                if name in HISTORY_BUFFER_STATISTICS):
            raise _refuse('a HistoryBuffer has statistics methods that are '
                          "not MMEngine's")
        self.__class__ = HistoryBuffer
        self.__dict__.update({
            key: state[key]
            for key in _STATE_KEYS if key != 'statistics_methods'
        })


def _numpy_multiarray() -> Any:
    """Return numpy's ``multiarray`` module without deprecation warnings."""
    try:
        return importlib.import_module('numpy._core.multiarray')
    except ImportError:  # numpy < 1.26 has no ``numpy._core``
        return importlib.import_module('numpy.core.multiarray')


def _numpy_dtype_classes() -> List[type]:
    """Return the classes of numpy's dtypes (``numpy.dtypes.Float64DType``...).

    Unpickling a dtype sets its state, which weights-only loading allows only
    for allowlisted types; since numpy 1.25 every dtype has its own class.
    """
    classes = []
    for code in np.typecodes['All']:
        try:
            dtype_class = type(np.dtype(code))
        except TypeError:  # a code this numpy release does not know
            continue
        if dtype_class not in classes:
            classes.append(dtype_class)
    return classes


def runner_checkpoint_globals() -> List[SafeGlobal]:
    """List the globals that MMEngine runner checkpoints contain beyond
    PyTorch's default allowlist, each paired with a checked stand-in where
    the real one could run code.

    Returns:
        list: Classes and functions, some paired with the dotted path under
        which they are pickled (numpy 1 pickles its helpers under
        ``numpy.core``, numpy 2 under ``numpy._core``), in the format of
        :func:`torch.serialization.safe_globals`.
    """
    multiarray = _numpy_multiarray()
    safe_globals: List[SafeGlobal] = [
        (CheckedHistoryBuffer, HISTORY_BUFFER_NAME),
        (history_buffer_statistic, GETATTR_NAME),
        np.ndarray,
        np.dtype,
    ]
    safe_globals.extend(_numpy_dtype_classes())
    for name in ('_reconstruct', 'scalar'):
        helper = getattr(multiarray, name)
        for module in ('numpy.core.multiarray', 'numpy._core.multiarray'):
            safe_globals.append((helper, f'{module}.{name}'))
    return safe_globals


_depth = 0


@contextlib.contextmanager
def runner_checkpoint_loading() -> Iterator[None]:
    """Within the block, ``torch.load(weights_only=True)`` (PyTorch's
    default) also reads MMEngine runner checkpoints, and still runs no code
    of the file; outside it PyTorch's allowlist is as it was. Blocks may
    nest: the outermost one adds and removes the globals."""
    global _depth
    if _depth:
        _depth += 1
        try:
            yield
        finally:
            _depth -= 1
        return
    with torch.serialization.safe_globals(runner_checkpoint_globals()):
        _depth = 1
        try:
            yield
        finally:
            _depth = 0


def runner_checkpoints_load() -> bool:
    """Whether a runner checkpoint's message hub survives a round trip
    through ``torch.save`` and :func:`runner_checkpoint_loading`; the
    environment check reports it."""
    hub_state = {'log_scalars': {'loss': HistoryBuffer([1.0], [1])}}
    buffer = io.BytesIO()
    torch.save(hub_state, buffer)
    buffer.seek(0)
    try:
        with runner_checkpoint_loading():
            loaded = torch.load(buffer, weights_only=True)
    except (UnpicklingError, RuntimeError):
        return False
    return type(loaded['log_scalars']['loss']) is HistoryBuffer
