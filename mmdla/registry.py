"""Registries of mmdla.

``MODELS``, ``HOOKS``, ``LOOPS``, ``RUNNERS`` and ``VISUALIZERS`` are children
of MMEngine's root registries with the scope ``mmdla``. Their modules are
imported lazily (from ``mmdla.models``, ``mmdla.engine`` and
``mmdla.visualization.scaled_det_visualizer``, which needs MMDetection), so a
config of any OpenMMLab codebase (mmdet, mmpretrain, ...) can build an mmdla
model, hook, loop, runner or visualizer by its scoped name, without
``custom_imports``::

    backbone=dict(type='mmdla.ResNetDLA', depth=50)
    default_hooks=dict(checkpoint=dict(type='mmdla.AtomicCheckpointHook'))
    train_cfg=dict(type='mmdla.PreemptibleEpochBasedTrainLoop')
    runner_type = 'mmdla.SafeLoadRunner'
    visualizer=dict(type='mmdla.ScaledDetLocalVisualizer', scale=3)

When the default scope is ``mmdla`` itself, the plain names work.
"""
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import LOOPS as MMENGINE_LOOPS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import RUNNERS as MMENGINE_RUNNERS
from mmengine.registry import VISUALIZERS as MMENGINE_VISUALIZERS
from mmengine.registry import Registry

MODELS = Registry(
    'model', parent=MMENGINE_MODELS, scope='mmdla', locations=['mmdla.models'])
HOOKS = Registry(
    'hook', parent=MMENGINE_HOOKS, scope='mmdla', locations=['mmdla.engine'])
LOOPS = Registry(
    'loop', parent=MMENGINE_LOOPS, scope='mmdla', locations=['mmdla.engine'])
RUNNERS = Registry(
    'runner',
    parent=MMENGINE_RUNNERS,
    scope='mmdla',
    locations=['mmdla.engine'])
VISUALIZERS = Registry(
    'visualizer',
    parent=MMENGINE_VISUALIZERS,
    scope='mmdla',
    locations=['mmdla.visualization.scaled_det_visualizer'])
