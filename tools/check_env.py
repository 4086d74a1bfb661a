"""Print the mmdla software stack and the known incompatibilities it has.

Usage::

    python tools/check_env.py

Shows PyTorch (and CUDA), MMCV (and whether its ops are compiled),
MMEngine, MMDetection, MMPretrain, MMSegmentation and mmdla versions, then
names each known incompatibility with its fix. Exits with status 1 when one
is found.
"""
import sys

from mmdla.utils.collect_env import main

if __name__ == '__main__':
    sys.exit(main())
