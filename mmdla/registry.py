"""Registries of mmdla.

``MODELS`` is a child of MMEngine's root model registry with the scope
``mmdla``. Its modules are imported lazily from ``mmdla.models``, so a config
of any OpenMMLab codebase (mmdet, mmpretrain, ...) can build an mmdla model by
its scoped name, without ``custom_imports``::

    backbone=dict(type='mmdla.ResNetDLA', depth=50)

When the default scope is ``mmdla`` itself, the plain name ``ResNetDLA`` works.
"""
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import Registry

MODELS = Registry(
    'model', parent=MMENGINE_MODELS, scope='mmdla', locations=['mmdla.models'])
