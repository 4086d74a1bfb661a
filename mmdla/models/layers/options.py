"""Options of a backbone that reach the parts built from configs.

A backbone offers some options to a part it builds from a config (the layer
attention step of a stage, its context cell) without knowing the part's
class: the part receives, as default arguments, exactly the options its
constructor names. A user's part therefore gets the same options as mmdla's
own, and an option that a part does not take is not passed to it. Values set
in the part's config take precedence. An option the user set on the backbone
(a value other than the backbone's default) that the part does not take is
an error (:func:`check_options_taken`): it would have no effect.
"""
import inspect
from typing import Any, Dict, Mapping, Union

from mmdla.registry import MODELS


def registered_class(cfg: Union[str, dict], kind: type) -> type:
    """The class that ``cfg`` (a type name or a config with ``type``)
    builds, checked to be a subclass of ``kind``."""
    name = cfg if isinstance(cfg, str) else cfg.get('type')
    cls = MODELS.get(name) if isinstance(name, str) else name
    if not (isinstance(cls, type) and issubclass(cls, kind)):
        raise ValueError(f'{name!r} is not a registered {kind.__name__} of '
                         f'mmdla; registered: {registered_names(kind)}.')
    return cls


def registered_names(kind: type) -> list:
    """Names of the classes of mmdla's MODELS registry derived from
    ``kind``."""
    return sorted(name for name, cls in MODELS.module_dict.items()
                  if isinstance(cls, type) and issubclass(cls, kind))


def accepted_options(cls: type, options: Mapping[str, Any]) -> Dict[str, Any]:
    """The entries of ``options`` that the constructor of ``cls`` names
    (all of them if it takes ``**kwargs``)."""
    parameters = inspect.signature(cls).parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in parameters):
        return dict(options)
    names = {p.name for p in parameters}
    return {key: value for key, value in options.items() if key in names}


def check_options_taken(cls: type, options: Mapping[str, Any],
                        defaults: Mapping[str, Any]) -> None:
    """Raise if an option of ``options`` set to other than its value in
    ``defaults`` is not taken by the constructor of ``cls``.

    Raises:
        ValueError: Naming the options and the class that ignores them.
    """
    taken = accepted_options(cls, options)
    ignored = sorted(
        name for name, value in options.items()
        if name not in taken and value != defaults.get(name))
    if ignored:
        settings = ', '.join(f'{name}={options[name]!r}' for name in ignored)
        raise ValueError(
            f'{cls.__name__} does not take {settings}: the option would have '
            'no effect. Drop it, or choose a layer attention step that takes '
            'it.')
