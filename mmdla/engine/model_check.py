"""Checks of a config that run before a runner builds it, so that a
setting that does not fit the rest of the model, a misspelt backbone
argument or a training length that cannot train is named with its fix
instead of surfacing as a shape error at the first forward pass, a
``TypeError`` of a constructor or an error after the first epoch."""
import difflib
import inspect
from typing import List, Optional, Union

import torch
from mmengine.config import Config
from mmengine.registry import MODELS, DefaultScope

#: Side of the square input of the shape probe: a multiple of the largest
#: stride (32) of the supported backbones.
_PROBE_SIZE = 64


def backbone_out_channels(backbone_cfg: dict,
                          scope: Optional[str] = None) -> Optional[List[int]]:
    """Channels of the feature maps a backbone config returns.

    The backbone is built on PyTorch's ``meta`` device (no weight is
    initialised), given uninitialised CPU memory and run on a small black
    image: only the shapes of its outputs are used.

    Args:
        backbone_cfg (dict): The ``model.backbone`` of a config.
        scope (str, optional): Default scope the backbone is built in (the
            config's ``default_scope``).

    Returns:
        list[int] | None: One entry per returned feature map, or None if
        the backbone cannot be probed that way (it is then left to the
        runner to build, with its own errors).
    """
    in_channels = backbone_cfg.get('in_channels', 3)
    try:
        with DefaultScope.overwrite_default_scope(scope):
            with torch.device('meta'):
                backbone = MODELS.build(backbone_cfg)
            backbone.to_empty(device='cpu')
            backbone.eval()  # some backbones' train() returns None
            with torch.no_grad():
                outs = backbone(
                    torch.zeros(1, in_channels, _PROBE_SIZE, _PROBE_SIZE))
    except Exception:  # any failure here is reported by the real build
        return None
    if isinstance(outs, torch.Tensor):
        outs = (outs, )
    return [out.shape[1] for out in outs]


def check_neck_channels(cfg: Config) -> None:
    """Check that ``model.neck.in_channels`` lists the channels of the
    backbone's outputs (e.g. after ``--cfg-options model.backbone.depth=50``
    on a config written for depth 18).

    Configs without a neck that takes ``in_channels`` are left alone.

    Raises:
        ValueError: If the lists differ, with the backbone's channels.
    """
    model = cfg.get('model') or {}
    backbone, neck = model.get('backbone'), model.get('neck')
    if not isinstance(backbone, dict) or not isinstance(neck, dict) or (
            'in_channels' not in neck):
        return
    expected = neck['in_channels']
    expected = list(expected) if isinstance(expected,
                                            (list, tuple)) else [expected]
    channels = backbone_out_channels(backbone, cfg.get('default_scope'))
    if channels is None or channels == expected:
        return
    depth = f', depth {backbone["depth"]}' if 'depth' in backbone else ''
    value = '[' + ','.join(map(str, channels)) + ']'
    raise ValueError(
        f'model.neck.in_channels is {expected}, but the backbone '
        f'({backbone["type"]}{depth}) returns features of {channels} '
        f'channels. Set model.neck.in_channels to {channels}, in the '
        f'config or with --cfg-options "model.neck.in_channels={value}".')


def constructor_arguments(cls: type) -> Optional[List[str]]:
    """The keyword arguments that the constructor of ``cls`` accepts.

    A constructor with ``**kwargs`` is taken to pass them on to the
    constructor of the next base class that defines one (as
    ``ResNetDLACifar`` passes them to ``ResNetDLA``).

    Returns:
        list[str] | None: The names, sorted; None if ``**kwargs`` lead past
        the last constructor that names its arguments.
    """
    names = set()
    keyword = (inspect.Parameter.POSITIONAL_OR_KEYWORD,
               inspect.Parameter.KEYWORD_ONLY)
    for klass in cls.__mro__:
        if '__init__' not in vars(klass):
            continue
        parameters = list(
            inspect.signature(klass.__init__).parameters.values())[1:]
        names.update(p.name for p in parameters if p.kind in keyword)
        if all(p.kind is not inspect.Parameter.VAR_KEYWORD
               for p in parameters):
            return sorted(names)
    return None


def _registered_class(backbone_type: Union[str, type],
                      scope: Optional[str]) -> Optional[type]:
    """The class that ``MODELS.build`` would build for ``backbone_type`` (a
    class, or its registered name) in the default scope ``scope``; None if
    it is not found (the runner's build reports that)."""
    if inspect.isclass(backbone_type):
        return backbone_type
    if not isinstance(backbone_type, str):
        return None
    try:
        with MODELS.switch_scope_and_registry(scope) as registry:
            return registry.get(backbone_type)
    except Exception:  # an unknown scope: left to the runner's build
        return None


def check_backbone_arguments(cfg: Config) -> None:
    """Check that every key of ``model.backbone`` is an argument of the
    backbone's class, for the backbones of mmdla (``mmdla.ResNetDLA``,
    ``mmdla.ResNetDLACifar``); the modules of other codebases are left to
    their own constructors.

    Raises:
        ValueError: For the keys the class does not take, each with the
            closest argument it takes.
    """
    backbone = (cfg.get('model') or {}).get('backbone')
    if not isinstance(backbone, dict) or 'type' not in backbone:
        return
    cls = _registered_class(backbone['type'], cfg.get('default_scope'))
    if cls is None or cls.__module__.split('.')[0] != 'mmdla':
        return
    accepted = constructor_arguments(cls)
    if accepted is None:
        return
    unknown = [key for key in backbone if key not in ('type', *accepted)]
    if not unknown:
        return
    name = backbone['type'] if isinstance(backbone['type'],
                                          str) else cls.__name__
    problems = []
    for key in unknown:
        close = difflib.get_close_matches(key, accepted, n=1)
        fix = (f"did you mean '{close[0]}' (model.backbone.{close[0]})?"
               if close else f'its arguments are {", ".join(accepted)}.')
        problems.append(f'model.backbone.{key}: {name} has no argument '
                        f"'{key}'; {fix}")
    raise ValueError(' '.join(problems) + ' Correct the key, in the config '
                     'or in --cfg-options.')


#: Settings of ``train_cfg`` that must be at least 1, with their meaning
#: (``{unit}``: epoch or iteration, the loop's unit).
_LOOP_COUNTS = (
    ('max_epochs', 'the number of epochs to train'),
    ('max_iters', 'the number of iterations to train'),
    ('val_interval', 'validate every val_interval {unit}s'),
)


def check_train_loop(cfg: Config) -> None:
    """Check that ``train_cfg.max_epochs``, ``train_cfg.max_iters`` and
    ``train_cfg.val_interval``, where given, are numbers >= 1 (MMEngine's
    loops accept 0, and then fail in a parameter scheduler, or with a
    ``ZeroDivisionError`` after the first epoch).

    Raises:
        ValueError: For the first setting that is not, naming it and its
            valid values.
    """
    train_cfg = cfg.get('train_cfg')
    if not isinstance(train_cfg, dict):
        return
    unit = 'iteration' if 'max_iters' in train_cfg else 'epoch'
    for key, meaning in _LOOP_COUNTS:
        value = train_cfg.get(key)
        if value is None or (isinstance(value, (int, float))
                             and not isinstance(value, bool) and value >= 1):
            continue
        fix = f'give at least 1, e.g. --cfg-options train_cfg.{key}=1'
        if key == 'val_interval':
            fix = (f'give 1 to validate after every {unit}, a larger value '
                   'to validate less often, or train without validating '
                   '(tools/train.py --no-validate)')
        raise ValueError(f'train_cfg.{key} must be an integer >= 1 '
                         f'({meaning.format(unit=unit)}), got {value!r}; '
                         f'{fix}.')


def check_config_options(cfg: Config) -> None:
    """Check the settings that MMEngine would accept and fail on later:
    the arguments of an mmdla backbone (:func:`check_backbone_arguments`)
    and the length of training (:func:`check_train_loop`).

    Raises:
        ValueError: Naming the setting and its valid values.
    """
    check_backbone_arguments(cfg)
    check_train_loop(cfg)
