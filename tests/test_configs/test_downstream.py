"""A user's project outside the repository inherits mmdla's configs.

(a) By path: ``_base_ = '<path to mmdla>/configs/<name>.py'``.
(b) By module: ``with read_base(): from mmdla.configs.<...> import *`` from
    an mmdla installed with pip (built from this checkout into a temporary
    folder), so the configs must really ship inside the package.
"""
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope

REPO_ROOT = Path(__file__).resolve().parents[2]
# What a source distribution of mmdla holds: enough to build and install it.
PACKAGE_SOURCES = ('setup.py', 'README.md', 'requirements', 'mmdla', 'configs')


def test_inherit_by_path(tmp_path, monkeypatch):
    project = tmp_path / 'my_project'
    project.mkdir()
    config = project / 'faster_rcnn_dla50_fpn_1x_voc3.py'
    base = REPO_ROOT / 'configs' / 'faster_rcnn_dla50_fpn_1x_coco.py'
    config.write_text(
        textwrap.dedent(f"""\
            _base_ = {str(base)!r}

            model = dict(roi_head=dict(bbox_head=dict(num_classes=3)))
            train_dataloader = dict(batch_size=4)
            """))
    monkeypatch.chdir(project)

    cfg = Config.fromfile(str(config))

    assert cfg.model.roi_head.bbox_head.num_classes == 3
    assert cfg.train_dataloader.batch_size == 4
    # inherited from mmdla's config and, through it, from mmdet's bases
    assert cfg.model.backbone.type == 'mmdla.ResNetDLA'
    assert cfg.model.backbone.init_cfg.checkpoint == 'torchvision://resnet50'
    assert cfg.train_cfg.max_epochs == 12
    init_default_scope(cfg.default_scope)
    model = MODELS.build(cfg.model)
    assert type(model.backbone).__name__ == 'ResNetDLA'
    assert model.roi_head.bbox_head.num_classes == 3


@pytest.fixture(scope='module')
def installed_mmdla(tmp_path_factory) -> Path:
    """A folder holding mmdla as ``pip install`` lays it out."""
    root = tmp_path_factory.mktemp('mmdla_install')
    source = root / 'source'
    source.mkdir()
    for name in PACKAGE_SOURCES:
        path = REPO_ROOT / name
        if path.is_dir():
            shutil.copytree(
                path,
                source / name,
                ignore=shutil.ignore_patterns('__pycache__'))
        else:
            shutil.copy2(path, source / name)
    target = root / 'site'
    command = [
        sys.executable, '-m', 'pip', 'install', '--quiet', '--no-deps',
        '--no-index', '--no-build-isolation', '--target',
        str(target),
        str(source)
    ]
    subprocess.run(command, check=True, cwd=root)
    return target


USER_SCRIPT = """\
import json, sys
from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope
import mmdla

cfg = Config.fromfile(sys.argv[1])
init_default_scope(cfg.default_scope)
model = MODELS.build(cfg.model)
print(json.dumps(dict(
    mmdla_file=mmdla.__file__,
    backbone=type(model.backbone).__name__,
    depth=model.backbone.depth,
    batch_size=cfg.train_dataloader.batch_size,
    max_epochs=cfg.train_cfg.max_epochs,
    lr=cfg.optim_wrapper.optimizer.lr,
)))
"""


@pytest.mark.parametrize(
    'module, checks',
    [('dla50_8xb32_in1k', dict(max_epochs=100, lr=0.1)),
     ('faster_rcnn_dla50_fpn_1x_coco', dict(max_epochs=12, lr=0.02))])
def test_inherit_with_read_base(installed_mmdla, tmp_path, module, checks):
    project = tmp_path / 'my_project'
    project.mkdir()
    config = project / f'my_{module}.py'
    config.write_text(
        textwrap.dedent(f"""\
            from mmengine.config import read_base

            with read_base():
                from mmdla.configs.new_style.{module} import *

            model.backbone.depth = 101
            train_dataloader.batch_size = 4
            """))
    script = project / 'inspect_config.py'
    script.write_text(USER_SCRIPT)
    env = dict(os.environ, PYTHONPATH=str(installed_mmdla))

    result = subprocess.run(
        [sys.executable, str(script), str(config)],
        cwd=project,
        env=env,
        capture_output=True,
        text=True)

    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    # the package imported is the installed copy, not this checkout
    assert Path(summary['mmdla_file']).parent.parent == installed_mmdla
    assert summary['backbone'] == 'ResNetDLA'
    assert summary['depth'] == 101
    assert summary['batch_size'] == 4
    for key, value in checks.items():
        assert summary[key] == value, key
