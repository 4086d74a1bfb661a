"""Loading a pretrained checkpoint into a DLA backbone.

``ResNetDLA`` loads the checkpoint of an ``init_cfg=dict(type='Pretrained',
checkpoint=..., prefix=...)`` with :func:`load_backbone_checkpoint` instead
of MMEngine's ``PretrainedInit``. It accepts

- a plain ResNet of the backbone's depth: torchvision's layout
  (``torchvision://resnet50``, a file saved from ``torchvision.models``),
  MMPretrain's classifiers and MMDetection's detectors (``backbone.*``); the
  layer attention is then not in the checkpoint;
- a DLA backbone with the same layer attention (an ImageNet DLA classifier).

Which tensors belong to the backbone: those under ``prefix`` when the
checkpoint has any, otherwise those under the prefix that precedes the
checkpoint's ``layer1.0.conv1.weight`` (none in torchvision's layout,
``backbone.`` in MMPretrain's and MMDetection's, ``module.backbone.`` in a
distributed one). Tensors outside the backbone (a classifier's ``fc``, a
detector's heads) are ignored. Anything else that does not fit (another
depth or stem, the layer attention of another kind, a file that is not a
checkpoint) raises a :class:`ValueError` that says what did not match and
what to pass instead, before the backbone's weights change where it can be
known in advance.
"""
import pickle
import re
from collections import Counter
from typing import Dict, List, Mapping, NamedTuple, Optional, Tuple

import torch
import torch.nn as nn
from mmengine.runner import CheckpointLoader

# A tensor of the first block of the first stage of a ResNet in every layout
# (torchvision, MMPretrain, MMDetection, mmdla); what precedes it is the
# backbone's prefix.
ANCHOR_KEY = 'layer1.0.conv1.weight'
BLOCK_KEY = re.compile(r'^layer(\d+)\.(\d+)\.')
# Keys of the layer attention in mmdla's current and first layouts.
ATTENTION_KEY = re.compile(
    r'^layer\d+\.(layer_attention|attentions|attention_norms|'
    r'context_cell|shortcut_conv)\.')
# Tensors that torchvision's older checkpoints do not store.
OPTIONAL_SUFFIX = 'num_batches_tracked'


class LoadedCheckpoint(NamedTuple):
    """What :func:`load_backbone_checkpoint` loaded.

    Attributes:
        loaded (int): Number of tensors copied into the backbone.
        with_attention (bool): Whether they include the layer attention.
        ignored (list[str]): Checkpoint tensors under the backbone's prefix
            that the backbone does not have (e.g. torchvision's ``fc.*``).
    """
    loaded: int
    with_attention: bool
    ignored: List[str]


def abbreviate_keys(keys: List[str], limit: int = 3) -> str:
    """``'a, b, c and 5 more'``."""
    shown = ', '.join(keys[:limit])
    return shown + (f' and {len(keys) - limit} more'
                    if len(keys) > limit else '')


def read_state_dict(
        checkpoint: str,
        map_location: Optional[str] = 'cpu') -> Dict[str, torch.Tensor]:
    """The tensors of a checkpoint file or URL (``torchvision://``,
    ``open-mmlab://``, ``http(s)://`` or a path), from its ``state_dict``
    entry if it has one.

    Raises:
        ValueError: If the file does not exist, cannot be read or is not a
            PyTorch checkpoint holding tensors.
    """
    fix = ('pass an existing file or URL as init_cfg.checkpoint (e.g. '
           '--cfg-options model.backbone.init_cfg.checkpoint=PATH)')
    try:
        loaded = CheckpointLoader.load_checkpoint(
            checkpoint, map_location=map_location, logger='silent')
    except FileNotFoundError as error:
        raise ValueError(f'checkpoint {checkpoint} not found (relative '
                         f'paths start at the working directory); '
                         f'{fix}.') from error
    except OSError as error:  # also failed downloads
        raise ValueError(f'checkpoint {checkpoint} could not be read '
                         f'({error}); {fix}, or download it and pass the '
                         'local file.') from error
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError,
            UnicodeDecodeError) as error:
        raise ValueError(
            f'{checkpoint} is not a PyTorch checkpoint (torch.load: '
            f'{str(error).splitlines()[0]}); {fix}.') from error
    if isinstance(loaded, Mapping) and isinstance(
            loaded.get('state_dict'), Mapping):
        loaded = loaded['state_dict']
    tensors = ({
        key: value
        for key, value in loaded.items() if isinstance(value, torch.Tensor)
    } if isinstance(loaded, Mapping) else {})
    if not tensors:
        raise ValueError(
            f'{checkpoint} holds no state dict of tensors (it holds a '
            f'{type(loaded).__name__}); {fix}.')
    return tensors


def select_backbone(state_dict: Mapping[str,
                                        torch.Tensor], prefix: Optional[str],
                    checkpoint: str) -> Tuple[Dict[str, torch.Tensor], str]:
    """The backbone's tensors with their prefix removed, and the prefix.

    Those under ``prefix`` if the checkpoint has ``prefix`` +
    :data:`ANCHOR_KEY`, otherwise those under the one prefix that precedes
    :data:`ANCHOR_KEY`.

    Raises:
        ValueError: If neither identifies the backbone's tensors.
    """
    if not (prefix and prefix + ANCHOR_KEY in state_dict):
        found = sorted({
            key[:-len(ANCHOR_KEY)]
            for key in state_dict if key.endswith(ANCHOR_KEY)
        })
        if len(found) != 1:
            what = (f'ResNets under each of {found}'
                    if found else f'no {ANCHOR_KEY!r} under any prefix')
            raise ValueError(
                f'cannot find a ResNet backbone in {checkpoint}: it has '
                f'{what} (first keys: {abbreviate_keys(list(state_dict))}); '
                "pass a ResNet checkpoint, or the backbone's prefix as "
                "init_cfg.prefix (e.g. prefix='backbone.').")
        prefix = found[0]
    return {
        key[len(prefix):]: value
        for key, value in state_dict.items() if key.startswith(prefix)
    }, prefix


class ResNetLayout(NamedTuple):
    """Block kind and blocks per stage of a ResNet."""
    block: str  # 'Bottleneck' or 'BasicBlock'
    stage_blocks: Tuple[int, ...]

    @classmethod
    def of(cls, keys) -> 'ResNetLayout':
        """The layout of the ResNet whose state dict has ``keys``."""
        blocks = Counter()
        bottleneck = False
        for key in keys:
            match = BLOCK_KEY.match(key)
            if match:
                stage, block = int(match.group(1)), int(match.group(2))
                blocks[stage] = max(blocks[stage], block + 1)
                bottleneck |= key.startswith(match.group(0) + 'conv3.')
        return cls('Bottleneck' if bottleneck else 'BasicBlock',
                   tuple(blocks[i] for i in range(1,
                                                  len(blocks) + 1)))

    @property
    def depth(self) -> int:
        """Weighted layers: 3 per bottleneck, 2 per basic block, the stem
        and the classifier."""
        per_block = 3 if self.block == 'Bottleneck' else 2
        return per_block * sum(self.stage_blocks) + 2

    def __str__(self) -> str:
        return (f'ResNet-{self.depth} ({self.block} blocks, '
                f'{self.stage_blocks} per stage)')


def attention_kind(keys) -> str:
    """The registered step whose layer attention a checkpoint's ``keys``
    (current or first layout) hold, for error messages."""
    names = ' '.join(key for key in keys if ATTENTION_KEY.match(key))
    if 'context_cell' in names:
        return ('DLALightStep' if 'update_kernel' in names
                or 'shortcut_conv' in names else 'DLABaseStep')
    return 'MRLALightStep' if 'lambda_t' in names else 'MRLABaseStep'


def _check_layout(state_dict: Mapping[str, torch.Tensor],
                  own: Mapping[str, torch.Tensor], source: str) -> None:
    """Raise if the checkpoint's ResNet has another depth, or tensors of
    other shapes, than the backbone's."""
    theirs, ours = ResNetLayout.of(state_dict), ResNetLayout.of(own)
    if theirs != ours:
        example = (f' (e.g. torchvision://resnet{ours.depth})'
                   if len(ours.stage_blocks) == 4 else '')
        raise ValueError(
            f'{source} holds a {theirs}, the backbone is a {ours}: pass a '
            f'ResNet-{ours.depth} checkpoint{example}, or build the backbone '
            f'with depth={theirs.depth}.')
    mismatched = [
        f'{key} {tuple(value.shape)} (backbone: {tuple(own[key].shape)})'
        for key, value in state_dict.items()
        if key in own and value.shape != own[key].shape
    ]
    if mismatched:
        raise ValueError(
            f'{source} does not fit the backbone: {len(mismatched)} tensors '
            f'have other shapes: {abbreviate_keys(mismatched)}; pass a '
            'checkpoint of a backbone built with the same arguments '
            '(stem_channels, base_channels, deep_stem, head_dim, '
            'context_cell, ...).')


def load_backbone_checkpoint(
        backbone: nn.Module,
        checkpoint: str,
        prefix: Optional[str] = None,
        map_location: Optional[str] = 'cpu',
        step_name: str = 'layer attention') -> LoadedCheckpoint:
    """Load a ResNet or DLA checkpoint into a DLA backbone.

    The depth and the tensor shapes are checked before anything is copied;
    the layer attention and the ResNet's completeness after copying (the
    modules rename the keys of mmdla's first layout while loading).

    Args:
        backbone (nn.Module): A :class:`ResNetDLA` (stages ``layer1``, ...
            holding their ``layer_attention``).
        checkpoint (str): Path or URL, as MMEngine's ``CheckpointLoader``
            reads them (``torchvision://resnet50``, ...).
        prefix (str, optional): Prefix of the backbone's tensors in the
            checkpoint, e.g. ``'backbone.'``; found from the keys when the
            checkpoint has no ResNet under it.
        map_location (str, optional): Where to load the tensors.
        step_name (str): The backbone's layer attention step, for error
            messages.

    Returns:
        LoadedCheckpoint: What was loaded and what was ignored.

    Raises:
        ValueError: If the checkpoint does not fit the backbone.
    """
    state_dict, prefix = select_backbone(
        read_state_dict(checkpoint, map_location), prefix, checkpoint)
    source = checkpoint + (f' (under {prefix!r})' if prefix else '')
    own = backbone.state_dict()
    _check_layout(state_dict, own, source)

    missing, unexpected = backbone.load_state_dict(state_dict, strict=False)
    loaded = len(state_dict) - len(unexpected)
    missing = [key for key in missing if not key.endswith(OPTIONAL_SUFFIX)]
    missing_attention = [k for k in missing if ATTENTION_KEY.match(k)]
    missing_resnet = [k for k in missing if not ATTENTION_KEY.match(k)]
    unexpected_attention = [k for k in unexpected if ATTENTION_KEY.match(k)]
    with_attention = any(ATTENTION_KEY.match(key) for key in state_dict)
    if with_attention and (missing_attention or unexpected_attention):
        kind = attention_kind(state_dict)
        raise ValueError(
            f'{source} holds layer attention that does not fit the '
            f"backbone's {step_name}: it looks like {kind} (missing: "
            f'{abbreviate_keys(missing_attention) or "none"}; not in the '
            f'backbone: {abbreviate_keys(unexpected_attention) or "none"}). '
            f"Build the backbone with layer_attention='{kind}' and the "
            "checkpoint's other arguments, or start from a plain ResNet "
            'checkpoint (e.g. torchvision://resnet50) with '
            'zero_init_attention=True.')
    if missing_resnet:
        raise ValueError(
            f'{source} lacks {len(missing_resnet)} tensors of the ResNet '
            f'part: {abbreviate_keys(missing_resnet)}; pass a checkpoint of a '
            'ResNet with the same stem and shortcuts (deep_stem, avg_down).')
    return LoadedCheckpoint(loaded, with_attention, sorted(unexpected))
