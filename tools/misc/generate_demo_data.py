"""Generate the bundled synthetic demo datasets (idempotent, deterministic).

Examples::

    python tools/misc/generate_demo_data.py             # all, into data/
    python tools/misc/generate_demo_data.py --only det  # detection set only
    python tools/misc/generate_demo_data.py --only seg  # segmentation set
    python tools/misc/generate_demo_data.py --out-dir /tmp/data --num-train 16

A dataset already present with the same parameters is left untouched; one of
other parameters is replaced. A folder that holds anything the generator did
not write (your own data) is never deleted: the script stops and says what to
do instead.
"""
import argparse
import os.path as osp
import sys
import time

from mmdla.datasets import (generate_shapes_cls, generate_shapes_coco,
                            generate_shapes_seg)
from mmdla.engine.cli import positive_int


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Generate the synthetic shapes datasets of the demos')
    parser.add_argument(
        '--out-dir',
        default='data',
        help='parent folder of shapes_coco/, shapes_cls/ and shapes_seg/ '
        '(default: data)')
    parser.add_argument(
        '--only',
        choices=['det', 'cls', 'seg'],
        help='generate only the detection (COCO), classification or '
        'semantic segmentation set')
    parser.add_argument(
        '--num-train',
        type=positive_int,
        help='training images (default: 400 det and seg, 1200 cls)')
    parser.add_argument(
        '--num-val',
        type=positive_int,
        help='validation images (default: 100 det and seg, 300 cls)')
    parser.add_argument('--seed', type=int, default=0, help='random seed')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    sizes = {
        k: v
        for k, v in dict(num_train=args.num_train,
                         num_val=args.num_val).items() if v is not None
    }
    jobs = dict(
        det=(generate_shapes_coco, 'shapes_coco'),
        cls=(generate_shapes_cls, 'shapes_cls'),
        seg=(generate_shapes_seg, 'shapes_seg'))
    for key, (generate, name) in jobs.items():
        if args.only not in (None, key):
            continue
        root = osp.join(args.out_dir, name)
        start = time.time()
        try:
            created = generate(root, seed=args.seed, **sizes)
        except FileExistsError as error:
            sys.exit(f'error: {error}')
        state = (f'generated in {time.time() - start:.1f} s'
                 if created else 'already present')
        print(f'{root}: {state}')


if __name__ == '__main__':
    main()
