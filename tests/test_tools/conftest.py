"""Fixtures of the tool tests: checkpoints of freshly built demo models."""
import os.path as osp
from typing import Callable, Dict, Optional

import pytest
import torch
from mmengine.registry import MODELS, init_default_scope

from mmdla.apis import load_config


def write_random_checkpoint(config: str,
                            path: str,
                            dataset_meta: Dict,
                            cfg_options: Optional[dict] = None,
                            seed: int = 0) -> str:
    """Save the seeded, freshly built model of a config as a runner
    checkpoint (``state_dict`` and ``meta.dataset_meta``)."""
    cfg = load_config(config, cfg_options)
    init_default_scope(cfg.default_scope)
    torch.manual_seed(seed)
    model = MODELS.build(cfg.model)
    torch.save(
        {
            'meta': {
                'dataset_meta': dataset_meta
            },
            'state_dict': model.state_dict()
        }, path)
    return path


@pytest.fixture(scope='session')
def random_checkpoint(tmp_path_factory) -> Callable[..., str]:
    """A function ``(config, dataset_meta, cfg_options=None)`` writing the
    checkpoint of :func:`write_random_checkpoint` into a new folder and
    returning its path."""

    def write(config: str,
              dataset_meta: Dict,
              cfg_options: Optional[dict] = None) -> str:
        folder = tmp_path_factory.mktemp('checkpoint')
        return write_random_checkpoint(config, osp.join(folder, 'random.pth'),
                                       dataset_meta, cfg_options)

    return write
