"""Loading state dicts saved by earlier layouts of mmdla's modules.

A module whose parameter names changed raises its ``_version`` and renames
the keys of older state dicts in ``_load_from_state_dict`` before loading,
as :class:`torch.nn.BatchNorm2d` does. PyTorch records the version of every
module in a state dict's ``_metadata``; a state dict without it (e.g. one
whose keys were re-prefixed) is treated as the oldest version, and only keys
that are present are renamed, so that a current state dict passes
unchanged.
"""
from typing import Dict, Mapping


def rename_legacy_keys(state_dict: Dict[str, object], prefix: str,
                       renames: Mapping[str, str]) -> None:
    """Rename the keys of one module's old layout in place.

    Args:
        state_dict (dict): The state dict being loaded (all modules).
        prefix (str): The module's prefix, e.g. ``'layer1.'``.
        renames (Mapping[str, str]): Old name -> new name, relative to
            ``prefix``. A name ending in ``'.'`` renames every key under
            it, e.g. ``{'attentions.': 'layer_attention.attentions.'}``.
    """
    for key in list(state_dict):
        if not key.startswith(prefix):
            continue
        name = key[len(prefix):]
        for old, new in renames.items():
            if name == old or (old.endswith('.') and name.startswith(old)):
                state_dict[prefix + new +
                           name[len(old):]] = state_dict.pop(key)
                break
