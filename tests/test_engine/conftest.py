"""A toy MMEngine runner for the tests of mmdla's engine: a linear model
with dropout, trained on noisy points, so that training draws from the
random states of Python, NumPy and torch as real training does."""
import itertools
import random
from typing import Callable, Optional

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.model import BaseModel
from mmengine.runner import Runner

from mmdla.engine import SafeLoadRunner

_RUN_NAMES = itertools.count()


class ToyModel(BaseModel):
    """``y = w . dropout(x) + b`` with a squared error; the same initial
    weights in every run (the model is built before the runner seeds)."""

    def __init__(self) -> None:
        super().__init__()
        self.dropout = nn.Dropout(0.5)
        self.linear = nn.Linear(2, 1)
        with torch.no_grad():
            self.linear.weight.copy_(torch.tensor([[0.5, -0.5]]))
            self.linear.bias.zero_()

    def forward(self, inputs, labels=None, mode='tensor'):
        outputs = self.linear(self.dropout(torch.stack(inputs)))
        if mode == 'loss':
            return dict(loss=((outputs - torch.stack(labels))**2).mean())
        return outputs


class ToyDataset(torch.utils.data.Dataset):
    """Four points whose inputs get noise from NumPy and Python, as data
    augmentation does."""
    metainfo = dict()

    def __len__(self) -> int:
        return 4

    def __getitem__(self, index):
        noise = np.random.uniform(-0.1, 0.1) + random.uniform(-0.1, 0.1)
        inputs = torch.tensor([index / 4, 1.0]) + noise
        return dict(inputs=inputs, labels=torch.ones(1))


def _build_toy_runner(work_dir: str,
                      max_epochs: int = 2,
                      lr: float = 0.01,
                      resume: bool = False,
                      load_from: Optional[str] = None,
                      checkpoint: Optional[dict] = None,
                      train_loop: Optional[str] = None,
                      **hooks: dict) -> Runner:
    """A runner of 2 iterations per epoch (batch 2) with shuffled data,
    seed 0, an ``mmdla.AtomicCheckpointHook`` (``checkpoint`` updates its
    options), the training loop of type ``train_loop`` (default: MMEngine's
    epoch-based one) and ``hooks`` as further default hooks."""
    checkpoint_hook = dict(type='mmdla.AtomicCheckpointHook', interval=1)
    checkpoint_hook.update(checkpoint or {})
    return SafeLoadRunner(
        model=ToyModel(),
        work_dir=work_dir,
        experiment_name=f'toy_{next(_RUN_NAMES)}',
        train_dataloader=dict(
            dataset=ToyDataset(),
            sampler=dict(type='DefaultSampler', shuffle=True),
            batch_size=2,
            num_workers=0),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=lr)),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs) if train_loop
        is None else dict(type=train_loop, max_epochs=max_epochs),
        default_hooks=dict(checkpoint=checkpoint_hook, **hooks),
        resume=resume,
        load_from=load_from,
        randomness=dict(seed=0),
        log_level='WARNING',
        default_scope='mmengine')


@pytest.fixture
def toy_runner() -> Callable[..., Runner]:
    """A function building the toy runner; see ``_build_toy_runner``."""
    return _build_toy_runner


@pytest.fixture
def toy_classes() -> tuple:
    """``(ToyModel, ToyDataset)``, for tests that build a runner of their
    own."""
    return ToyModel, ToyDataset
