"""Convert a checkpoint of the authors' DLA code to an mmdla checkpoint.

Usage:
    python tools/model_converters/dla_official_to_mmdla.py SRC DST

SRC is a checkpoint saved by the reference training script (a dict with a
``state_dict`` entry, with or without the ``module.`` prefix of
DataParallel, or a bare state dict) of the ImageNet ResNet-50/101 DLA-L or
the CIFAR DLA-L/DLA-B models. DST is an MMPretrain ``ImageClassifier``
checkpoint (``backbone.*``, ``head.fc.*``) for the matching mmdla config.
"""
import argparse
from pathlib import Path

import torch

from mmdla.converters import convert_official_state_dict


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Convert a reference DLA checkpoint to mmdla.')
    parser.add_argument('src', help='checkpoint of the reference code')
    parser.add_argument('dst', help='where to write the mmdla checkpoint')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    checkpoint = torch.load(args.src, map_location='cpu', weights_only=True)
    state_dict = checkpoint.get('state_dict', checkpoint)
    converted = convert_official_state_dict(state_dict)
    Path(args.dst).parent.mkdir(parents=True, exist_ok=True)
    torch.save({'state_dict': converted, 'meta': {'converted_from':
                                                  Path(args.src).name}},
               args.dst)
    print(f'Converted {len(converted)} tensors: {args.src} -> {args.dst}')


if __name__ == '__main__':
    main()
