"""Packaging of mmdla.

The configs live in the top-level ``configs/`` folder, which is what users
pass to ``tools/train.py``. The package exposes the same files as
``mmdla.configs`` (``package_dir`` maps the folder into the package), so a
wheel carries them inside ``mmdla/`` and new-style configs can import them with
``with read_base(): from mmdla.configs.<name> import *``. No copy and no
symbolic link is kept in the repository.

``install_requires`` states the supported ranges; ``requirements/*.txt`` pin
the verified stack that ``make setup`` installs.
"""
import os
import os.path as osp
from typing import Dict, List

from setuptools import find_packages, setup

ROOT = osp.dirname(osp.abspath(__file__))
CONFIG_DIR = 'configs'
CONFIG_PACKAGE = 'mmdla.configs'


def read_version() -> str:
    """Read ``__version__`` from ``mmdla/version.py`` without importing it."""
    namespace: Dict[str, str] = {}
    with open(osp.join(ROOT, 'mmdla', 'version.py'), encoding='utf-8') as f:
        exec(compile(f.read(), 'mmdla/version.py', 'exec'), namespace)
    return namespace['__version__']


def read_readme() -> str:
    """Return the README, the long description of the package."""
    with open(osp.join(ROOT, 'README.md'), encoding='utf-8') as f:
        return f.read()


def config_packages() -> Dict[str, str]:
    """Map each folder under ``configs/`` to a package of ``mmdla.configs``.

    Returns:
        dict: Package name to its folder relative to the repository root,
        e.g. ``{'mmdla.configs': 'configs'}``.
    """
    packages = {}
    for dirpath, dirnames, _ in os.walk(osp.join(ROOT, CONFIG_DIR)):
        dirnames[:] = sorted(d for d in dirnames if d != '__pycache__')
        rel_dir = osp.relpath(dirpath, ROOT)
        parts = osp.relpath(dirpath, osp.join(ROOT, CONFIG_DIR)).split(os.sep)
        name = '.'.join([CONFIG_PACKAGE] + [p for p in parts if p != '.'])
        packages[name] = rel_dir.replace(os.sep, '/')
    return packages


CONFIG_PACKAGES = config_packages()
CONFIG_DATA = ['*.py', '*.yml', '*.yaml', '*.md']

INSTALL_REQUIRES: List[str] = [
    'mmcv>=2.0.0,<2.2.0',  # mmdet 3.x asserts mmcv < 2.2.0
    'mmengine>=0.10.0,<0.11.0',
    'numpy',
    'torch>=2.0',
    'torchvision',
]

# ONNX export; torch.onnx.export(dynamo=True) needs onnxscript
DEPLOY_REQUIRES: List[str] = [
    'onnx>=1.16', 'onnxscript>=0.3', 'onnxruntime>=1.17'
]

EXTRAS_REQUIRE: Dict[str, List[str]] = {
    'det': ['mmdet>=3.1.0,<3.4.0', 'pycocotools'],
    # grad-cam for MMPretrain's vis_cam.py, which passes the use_cuda that
    # grad-cam 1.5 removed
    'cls': ['mmpretrain>=1.0.0,<1.3.0', 'grad-cam>=1.3.7,<1.5.0'],
    # mmseg.utils imports ftfy and regex, which MMSegmentation does not
    # require
    'seg': ['mmsegmentation>=1.0.0,<1.3.0', 'ftfy', 'regex'],
    'deploy': DEPLOY_REQUIRES,
    'tests': ['pytest'] + DEPLOY_REQUIRES,
}
EXTRAS_REQUIRE['all'] = sorted(
    {req
     for reqs in EXTRAS_REQUIRE.values()
     for req in reqs})

setup(
    name='mmdla',
    version=read_version(),
    description='Dynamic Layer Attention backbones for MMPretrain, '
    'MMDetection and MMSegmentation',
    long_description=read_readme(),
    long_description_content_type='text/markdown',
    author='mmdla contributors',
    license='Apache License 2.0',
    keywords='computer vision, layer attention, backbone, OpenMMLab',
    packages=find_packages(include=['mmdla', 'mmdla.*']) +
    list(CONFIG_PACKAGES),
    package_dir=CONFIG_PACKAGES,
    package_data={name: CONFIG_DATA
                  for name in CONFIG_PACKAGES},
    python_requires='>=3.8',
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS_REQUIRE,
    classifiers=[
        'Development Status :: 3 - Alpha',
        'License :: OSI Approved :: Apache Software License',
        'Operating System :: OS Independent',
        'Programming Language :: Python :: 3',
        'Topic :: Scientific/Engineering :: Artificial Intelligence',
    ],
    zip_safe=False,
)
