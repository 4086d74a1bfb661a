"""Key mapping from the authors' DLA checkpoints to mmdla's layout.

Two reference layouts are known: the ImageNet ResNets (``layerN.*``) and the
CIFAR ResNets (``stages.I.*``). Both become an MMPretrain
``ImageClassifier`` state dict: ``backbone.*`` (:class:`ResNetDLA` /
:class:`ResNetDLACifar`) and ``head.fc.*``.
"""
import re
from collections import OrderedDict
from typing import Dict, List, Tuple

import torch

# (pattern of a reference key, its replacement); applied to the key after the
# stage name has been normalised to ``layerN``. The first match wins.
_BACKBONE_RULES: List[Tuple[str, str]] = [
    (r'^(conv1|bn1)\.(.+)$', r'\1.\2'),
    (r'^(layer\d+)\.layers\.(\d+)\.(.+)$', r'\1.\2.\3'),
    (r'^(layer\d+)\.attention\.(\d+)\.layer_attention\.lambda_t$',
     r'\1.layer_attention.attentions.\2.lambda_t'),
    (r'^(layer\d+)\.attention\.(\d+)\.layer_attention\.'
     r'(?:mrla|layer_attention)\.Wq\.weight$',
     r'\1.layer_attention.attentions.\2.query_kernel'),
    (r'^(layer\d+)\.attention\.(\d+)\.layer_attention\.'
     r'(?:mrla|layer_attention)\.Wk\.weight$',
     r'\1.layer_attention.attentions.\2.key_kernel'),
    (r'^(layer\d+)\.attention\.(\d+)\.layer_attention\.'
     r'(?:mrla|layer_attention)\.Wv\.weight$',
     r'\1.layer_attention.attentions.\2.value_kernel'),
    (r'^(layer\d+)\.attention\.(\d+)\.bn_layer_attention\.(.+)$',
     r'\1.layer_attention.norms.\2.\3'),
    (r'^(layer\d+)\.lstm\.w_ih\.0\.seq\.(0|2)\.(weight|bias)$',
     r'\1.layer_attention.context_cell.input_transform.\2.\3'),
    (r'^(layer\d+)\.lstm\.w_hh\.0\.seq\.(0|2)\.(weight|bias)$',
     r'\1.layer_attention.context_cell.hidden_transform.\2.\3'),
    (r'^(layer\d+)\.(?:extict|excite)\.weight$',
     r'\1.layer_attention.update_kernel'),
]
_HEAD_RULE = (r'^fc\.(weight|bias)$', r'head.fc.\1')
# The reference's query and key projections are ``Conv1d(1, 1, k)`` weights
# ``[1, 1, k]``; mmdla holds the 1-D kernels ``[k]``.
_KERNEL_1D = re.compile(r'\.(query|key)_kernel$')


def _stage_to_layer(key: str) -> str:
    """``stages.I.`` (CIFAR layout) -> ``layer{I+1}.``."""
    return re.sub(r'^stages\.(\d+)\.',
                  lambda m: f'layer{int(m.group(1)) + 1}.', key)


def convert_official_state_dict(
        state_dict: Dict[str, torch.Tensor]) -> 'OrderedDict[str, torch.Tensor]':
    """Convert a reference DLA state dict to an mmdla ImageClassifier one.

    A ``module.`` prefix (DataParallel) is stripped. Every key must be
    accounted for.

    Args:
        state_dict (dict[str, Tensor]): The reference model's state dict.

    Returns:
        OrderedDict[str, Tensor]: ``backbone.*`` and ``head.fc.*`` entries.

    Raises:
        KeyError: If keys of an unknown layout remain; lists them.
    """
    converted = OrderedDict()
    unmatched = []
    for key, value in state_dict.items():
        name = _stage_to_layer(re.sub(r'^module\.', '', key))
        pattern, repl = _HEAD_RULE
        if re.match(pattern, name):
            converted[re.sub(pattern, repl, name)] = value
            continue
        for pattern, repl in _BACKBONE_RULES:
            if re.match(pattern, name):
                name = re.sub(pattern, repl, name)
                if _KERNEL_1D.search(name):
                    value = value.flatten()
                converted['backbone.' + name] = value
                break
        else:
            unmatched.append(key)
    if unmatched:
        raise KeyError(
            f'{len(unmatched)} keys of the checkpoint match no known DLA '
            'reference layout (ImageNet ResNet-50/101 DLA-L, CIFAR DLA-L/B): '
            + ', '.join(unmatched))
    return converted
