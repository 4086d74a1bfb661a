"""A hook that makes a resumed run say, and use, what its config changed."""
import logging
from typing import Dict, List, Optional, Sequence

from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.optim import OptimWrapper

from mmdla.registry import HOOKS
from ..config_diff import (Difference, changed_optimizer_settings,
                           config_differences, describe_differences)


class OptimizerChangedError(RuntimeError):
    """A checkpoint's optimizer state cannot be resumed into the config's
    optimizer of another type."""


def _schedulers(param_schedulers) -> list:
    """The runner's schedulers as one list (it keeps a list, or a dict of
    lists with several optimizers)."""
    if param_schedulers is None:
        return []
    if isinstance(param_schedulers, dict):
        return [s for group in param_schedulers.values() for s in group]
    return list(param_schedulers)


def apply_optimizer_settings(param_groups: List[dict],
                             built_groups: List[dict], names: Sequence[str],
                             param_schedulers: Sequence) -> List[str]:
    """Give restored parameter groups the hyper-parameters ``names`` of the
    groups the config built.

    A value a scheduler drives (the group holds ``initial_<name>``) keeps
    its point of the schedule: it is scaled by the ratio of the new initial
    value to the restored one, and the initial value and the schedulers'
    ``base_values`` take the new one. Other values are replaced.

    Args:
        param_groups: The optimizer's groups, restored from a checkpoint;
            updated in place.
        built_groups: Copies of the groups as the config built them
            (paramwise multipliers and ``auto_scale_lr`` applied), in the
            same order.
        names: The hyper-parameters to apply, e.g. ``['lr']``.
        param_schedulers: The schedulers of the optimizer.

    Returns:
        list[str]: ``'lr of param group 0: 0.002 -> 0.1'`` for each value
        that changed.
    """
    changes = []
    for index, (group, built) in enumerate(zip(param_groups, built_groups)):
        for name in names:
            if name not in built:
                continue
            initial = f'initial_{name}'
            old = group.get(name)
            if initial in built and group.get(initial):
                if group[initial] == built[initial]:
                    continue
                group[name] = old * built[initial] / group[initial]
                group[initial] = built[initial]
                _set_base_value(param_schedulers, group, name, built[initial])
            elif old != built[name]:
                group[name] = built[name]
            else:
                continue
            changes.append(f'{name} of param group {index}: {old!r} -> '
                           f'{group[name]!r}')
    return changes


def _set_base_value(param_schedulers: Sequence, group: dict, name: str,
                    value: float) -> None:
    """Set the base value of ``group`` in the schedulers of ``name``."""
    for scheduler in param_schedulers:
        if scheduler.param_name != name:
            continue
        for index, scheduled in enumerate(scheduler.optimizer.param_groups):
            if scheduled is group:
                scheduler.base_values[index] = value


@HOOKS.register_module()
class ResumedConfigHook(Hook):
    """On resume, log how the config differs from the checkpoint's, and
    train with the optimizer hyper-parameters of the config.

    MMEngine's runner restores the optimizer's state on resume, its
    hyper-parameters included: a learning rate changed in the config
    would be dropped without a word. This hook

    1. copies the optimizer's parameter groups as the config built them
       (``before_run``);
    2. compares the checkpoint's config (``meta['cfg']``) with the run's and
       logs each difference with the value that wins
       (:func:`~mmdla.engine.config_diff.describe_differences`), and stops
       if the optimizer's type changed (``after_load_checkpoint``);
    3. once the optimizer is restored, sets the changed
       ``optim_wrapper.optimizer`` hyper-parameters on it
       (:func:`apply_optimizer_settings`, ``before_train``).

    The scheduler's state, settings included, stays the checkpoint's.
    ``tools/train.py`` adds this hook to every resumed run.
    """

    def __init__(self) -> None:
        self._built_groups: List[dict] = []
        self._differences: Optional[List[Difference]] = None

    def before_run(self, runner) -> None:
        # `runner.test()` and `runner.val()` build no optimizer
        if not isinstance(runner.optim_wrapper, OptimWrapper):
            return
        self._built_groups = [{
            key: value
            for key, value in group.items() if key != 'params'
        } for group in _param_groups(runner)]

    def after_load_checkpoint(self, runner, checkpoint: Dict) -> None:
        saved = checkpoint.get('meta', {}).get('cfg')
        if saved is None:
            return
        saved_cfg = Config.fromstring(saved, '.py')
        self._differences = config_differences(saved_cfg, runner.cfg)
        if not self._differences:
            return
        source = runner.cfg.get('load_from') or 'the checkpoint'
        print_log(
            describe_differences(self._differences, source),
            logger='current',
            level=logging.WARNING)
        old_type, new_type = (
            cfg.get('optim_wrapper', {}).get('optimizer', {}).get('type')
            for cfg in (saved_cfg, runner.cfg))
        if old_type and old_type != new_type:
            raise OptimizerChangedError(
                f'{source} holds the state of a {old_type} optimizer and the '
                f'config builds {new_type}: one cannot be resumed into the '
                f'other. Resume with optim_wrapper.optimizer.type='
                f'{old_type}, or start a new run from its weights: '
                f'--cfg-options load_from={source} (without --resume).')

    def before_train(self, runner) -> None:
        if not self._differences:
            return
        names = changed_optimizer_settings(self._differences)
        changes = apply_optimizer_settings(
            _param_groups(runner), self._built_groups, names,
            _schedulers(runner.param_schedulers))
        if changes:
            print_log(
                'Resumed optimizer set to the config: ' + '; '.join(changes),
                logger='current',
                level=logging.WARNING)


def _param_groups(runner) -> List[dict]:
    """The parameter groups of the runner's optimizer(s), as one list."""
    groups = runner.optim_wrapper.param_groups
    if isinstance(groups, dict):
        return [group for value in groups.values() for group in value]
    return groups
