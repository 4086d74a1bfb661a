"""Convert a checkpoint of the authors' DLA code to an mmdla checkpoint.

Usage:
    python tools/model_converters/dla_official_to_mmdla.py SRC DST

SRC is a checkpoint saved by the reference training script (a dict with a
``state_dict`` entry, with or without the ``module.`` prefix of
DataParallel, or a bare state dict) of the ImageNet ResNet-50/101 DLA-L or
the CIFAR DLA-L/DLA-B models. DST is an MMPretrain ``ImageClassifier``
checkpoint (``backbone.*``, ``head.fc.*``) for the matching mmdla config.
A SRC that is not a checkpoint, holds no weights or is already in mmdla's
layout is refused with a message saying so.
"""
import argparse
from pathlib import Path
from typing import Dict

import torch

from mmdla.converters import convert_official_state_dict
from mmdla.engine import check_checkpoint_file

# the top-level modules of an mmdla ImageClassifier state dict
_MMDLA_PREFIXES = ('backbone.', 'neck.', 'head.', 'data_preprocessor.')


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Convert a reference DLA checkpoint to mmdla.')
    parser.add_argument('src', help='checkpoint of the reference code')
    parser.add_argument('dst', help='where to write the mmdla checkpoint')
    return parser.parse_args()


def check_source_state_dict(state_dict: Dict[str, torch.Tensor],
                            src: str) -> None:
    """Refuse a state dict without weights or already in mmdla's layout."""
    if not isinstance(state_dict, dict) or not state_dict:
        raise ValueError(f'{src!r} holds no weights (no or an empty state '
                         'dict); it is not a trained reference checkpoint.')
    keys = [key for key in state_dict if isinstance(key, str)]
    if keys and all(key.startswith(_MMDLA_PREFIXES) for key in keys):
        raise ValueError(
            f'{src!r} is already in mmdla\'s layout (its keys start with '
            f'{keys[0].split(".")[0]}.); use it as is, e.g. with '
            'tools/test.py or load_from, without converting.')


def main() -> None:
    args = parse_args()
    check_checkpoint_file(args.src)
    checkpoint = torch.load(args.src, map_location='cpu', weights_only=True)
    state_dict = checkpoint.get('state_dict', checkpoint) if isinstance(
        checkpoint, dict) else checkpoint
    check_source_state_dict(state_dict, args.src)
    converted = convert_official_state_dict(state_dict)
    Path(args.dst).parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            'state_dict': converted,
            'meta': {
                'converted_from': Path(args.src).name
            }
        }, args.dst)
    print(f'Converted {len(converted)} tensors: {args.src} -> {args.dst}')


if __name__ == '__main__':
    main()
