"""How a config differs from the one a checkpoint was saved with, and which
of the two values a resumed run trains with.

MMEngine's runner saves its config as text in every checkpoint
(``meta['cfg']``); on resume it builds everything from the new config, then
restores the optimizer's and the schedulers' state from the checkpoint,
which silently takes back their old settings. :func:`config_differences`
lists the settings that differ and :func:`describe_differences` says, for
each, which value wins.
"""
from typing import Any, Dict, List, Tuple

from mmengine.config import Config

# settings that say how a run starts, not how it trains
_START_KEYS = ('load_from', 'resume')
_ABSENT = '(not set)'

Difference = Tuple[str, Any, Any]


def _flatten(value: Any, prefix: str, out: Dict[str, Any]) -> None:
    """Store the leaves of nested dicts and lists under dotted keys
    (list items by index, as ``--cfg-options`` names them)."""
    if isinstance(value, dict) and value:
        for key, item in value.items():
            _flatten(item, f'{prefix}.{key}' if prefix else str(key), out)
    elif isinstance(value, (list, tuple)) and value and any(
            isinstance(item, (dict, list, tuple)) for item in value):
        for index, item in enumerate(value):
            _flatten(item, f'{prefix}.{index}', out)
    else:
        out[prefix] = value


def flatten_config(cfg: Config) -> Dict[str, Any]:
    """The settings of ``cfg`` as ``{'a.b.0.c': value}``."""
    out: Dict[str, Any] = {}
    _flatten(cfg.to_dict(), '', out)
    return out


def config_differences(saved: Config, current: Config) -> List[Difference]:
    """The settings of ``current`` that differ from ``saved``.

    Both configs are compared as their text would load (a checkpoint holds
    the text), so that a tuple and the list it prints as are equal.
    ``load_from`` and ``resume`` are left out.

    Returns:
        list[tuple[str, Any, Any]]: ``(key, saved value, current value)``
        sorted by key; a setting only one config has is ``'(not set)'`` in
        the other.
    """
    old = flatten_config(saved)
    new = flatten_config(Config.fromstring(current.pretty_text, '.py'))
    keys = sorted(set(old) | set(new))
    return [(key, old.get(key, _ABSENT), new.get(key, _ABSENT))
            for key in keys
            if key.split('.')[0] not in _START_KEYS
            and old.get(key, _ABSENT) != new.get(key, _ABSENT)]


def changed_optimizer_settings(differences: List[Difference]) -> List[str]:
    """The names of the optimizer's hyper-parameters that changed (``lr``
    for ``optim_wrapper.optimizer.lr``), without ``type``."""
    names = []
    for key, _, _ in differences:
        parts = key.split('.')
        if parts[:2] == ['optim_wrapper', 'optimizer'] and len(parts) > 2 \
                and parts[2] != 'type' and parts[2] not in names:
            names.append(parts[2])
    return names


def winner(key: str) -> str:
    """Which value of the setting ``key`` a resumed run trains with."""
    if key.startswith('optim_wrapper.optimizer.'):
        return ("the config's: set on the restored optimizer; a scheduled "
                'value (lr) continues at the resumed point of the schedule')
    if key.startswith('optim_wrapper.paramwise_cfg'):
        return ("the checkpoint's: the restored optimizer keeps its "
                'per-group values')
    if key.startswith('param_scheduler'):
        return ("the checkpoint's: the schedulers' state, settings "
                'included, is restored; for the new schedule start a new '
                'run from the weights (--cfg-options load_from=CHECKPOINT, '
                'without --resume)')
    if key == 'randomness.seed':
        return "the checkpoint's: the runner restores its seed"
    return "the config's"


def describe_differences(differences: List[Difference],
                         checkpoint: str) -> str:
    """A message listing ``differences`` (checkpoint value -> config
    value) and which value wins for each."""
    lines = [
        f'Resuming {checkpoint} with a config that differs from the one it '
        'was saved with (checkpoint -> config; the value used):'
    ]
    lines += [
        f'  {key}: {old!r} -> {new!r}; {winner(key)}'
        for key, old, new in differences
    ]
    return '\n'.join(lines)
