"""Stop training at the first iteration whose loss is not finite."""
from typing import Dict, Optional

import torch
from mmengine.dist import all_reduce, is_distributed
from mmengine.hooks import Hook

from mmdla.registry import HOOKS


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite."""


@HOOKS.register_module()
class FiniteLossHook(Hook):
    """Stop training with an error when the loss becomes NaN or infinite.

    Without it a diverged run trains on to its last epoch with exit status 0,
    and its NaN checkpoints rotate the good ones out (``max_keep_ckpts``).
    This hook checks the losses every iteration and raises
    :class:`NonFiniteLossError`, naming the iteration, the losses and the
    last checkpoint, before any later checkpoint is written; the process
    then exits with a non-zero status. In a distributed run every rank stops
    at the same iteration. mmdla's configs name it in ``default_hooks``::

        finite_loss=dict(type='mmdla.FiniteLossHook')

    The losses are those the model's ``train_step`` returns (``loss`` and
    its parts); reading them costs one device synchronisation per iteration,
    which the logger already pays.
    """

    priority = 'ABOVE_NORMAL'  # before the checkpoint and logger hooks

    def after_train_iter(
            self,
            runner,
            batch_idx: int,
            data_batch=None,
            outputs: Optional[Dict[str, torch.Tensor]] = None) -> None:
        if not outputs:
            return
        losses = {
            name: torch.as_tensor(value).detach().float()
            for name, value in outputs.items() if 'loss' in name
        }
        if not losses:
            return
        finite = torch.stack(
            [value.isfinite().all() for value in losses.values()]).all()
        if is_distributed():
            flag = finite.to(torch.int32)
            all_reduce(flag, op='min')
            finite = flag.bool()
        if bool(finite):
            return
        values = ', '.join(f'{name}={value.mean().item():.4g}'
                           for name, value in losses.items())
        last = runner.message_hub.get_info('last_ckpt')
        kept = (f'The last checkpoint, {last}, was saved before and is kept'
                if last else 'No checkpoint was saved yet')
        raise NonFiniteLossError(
            f'Training stopped at iteration {runner.iter + 1}: the loss is '
            f'not finite on this or another rank ({values}). {kept}. Lower '
            'the learning rate (optim_wrapper.optimizer.lr), add gradient '
            'clipping (optim_wrapper.clip_grad=dict(max_norm=...)) or check '
            'the data, then resume with --resume.')
