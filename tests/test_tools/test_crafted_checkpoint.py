"""A crafted checkpoint runs no code through any tool that loads one.

The checkpoint holds the classification demo's real weights and, in its
dataset meta and message hub, a ``HistoryBuffer`` that creates a marker file
when MMEngine deep-copies it, if it was loaded by an allowlist that holds
``HistoryBuffer`` and ``builtins.getattr`` themselves
(``tests/test_utils/test_checkpoint_allowlist.py`` shows that it then does).
Every tool must refuse the file, and the marker must never appear.
"""
import os.path as osp
import sys
from pathlib import Path
from typing import List

import pytest
from mmengine.registry import MODELS, init_default_scope

from mmdla.apis import load_config
from mmdla.datasets import CLS_CLASSES


def write_crafted_checkpoint(config: str, path: Path, marker: Path,
                             crafted) -> str:
    """A runner checkpoint of ``config``'s model whose dataset meta and
    message hub hold a ``HistoryBuffer`` that creates ``marker`` when
    deep-copied (as MMEngine copies them)."""
    cfg = load_config(config)
    init_default_scope(cfg.default_scope)
    model = MODELS.build(cfg.model)
    payload = crafted.exec_buffer(f'open({str(marker)!r}, "w").close()')
    crafted.save(
        dict(
            state_dict=model.state_dict(),
            meta=dict(
                epoch=1,
                iter=1,
                dataset_meta=dict(
                    classes=tuple(sorted(CLS_CLASSES)), note=payload)),
            message_hub=dict(
                log_scalars={},
                runtime_info=dict(note=payload),
                resumed_keys=dict(note=True))), path)
    return str(path)


@pytest.fixture(scope='module')
def crafted_file(cls_demo, crafted, tmp_path_factory):
    folder = tmp_path_factory.mktemp('crafted')
    marker = folder / 'code_ran'
    return write_crafted_checkpoint(cls_demo, folder / 'crafted.pth', marker,
                                    crafted), marker


def tool_commands(repo_root: str, config: str, checkpoint: str, data_root: str,
                  image: str, tmp: Path) -> dict:
    data = [
        f'train_dataloader.dataset.data_root={data_root}',
        f'val_dataloader.dataset.data_root={data_root}',
        f'test_dataloader.dataset.data_root={data_root}',
    ]
    train = [sys.executable, osp.join(repo_root, 'tools', 'train.py'), config]
    return {
        'train --resume': [
            *train, '--resume', checkpoint, '--work-dir',
            str(tmp / 'resume'), '--cfg-options', *data
        ],
        'train load_from': [
            *train, '--work-dir',
            str(tmp / 'load_from'), '--cfg-options', *data,
            f'load_from={checkpoint}'
        ],
        'train init_cfg': [
            *train, '--work-dir',
            str(tmp / 'init_cfg'), '--cfg-options', *data,
            'model.backbone.init_cfg.type=Pretrained',
            f'model.backbone.init_cfg.checkpoint={checkpoint}'
        ],
        'test': [
            sys.executable,
            osp.join(repo_root, 'tools', 'test.py'), config, checkpoint,
            '--work-dir',
            str(tmp / 'test'), '--cfg-options', *data
        ],
        'infer': [
            sys.executable,
            osp.join(repo_root, 'tools', 'infer.py'), config, checkpoint,
            image, '--device', 'cpu'
        ],
        'pytorch2onnx': [
            sys.executable,
            osp.join(repo_root, 'tools', 'deployment', 'pytorch2onnx.py'),
            config, checkpoint, '--output-file',
            str(tmp / 'model.onnx'), '--shape', '32', '32'
        ],
        'vis_layer_attention': [
            sys.executable,
            osp.join(repo_root, 'tools', 'visualization',
                     'vis_layer_attention.py'), config, checkpoint,
            osp.dirname(image), '--out',
            str(tmp / 'figure.png')
        ],
    }


TOOLS: List[str] = [
    'train --resume', 'train load_from', 'train init_cfg', 'test', 'infer',
    'pytorch2onnx', 'vis_layer_attention'
]


@pytest.mark.parametrize('tool', TOOLS)
def test_crafted_checkpoint_runs_no_code(tool, crafted_file, cls_demo,
                                         repo_root, tiny_shapes_cls, run_tool,
                                         tmp_path) -> None:
    checkpoint, marker = crafted_file
    image = sorted(Path(tiny_shapes_cls, 'val').rglob('*.png'))[0]
    command = tool_commands(repo_root, cls_demo, checkpoint, tiny_shapes_cls,
                            str(image), tmp_path)[tool]
    result = run_tool(command, cwd=str(tmp_path), timeout=300)
    assert not marker.exists(), result.stdout[-3000:]
    assert result.returncode != 0, result.stdout[-3000:]
    # refused by mmdla's stand-in for getattr, or by PyTorch's own list
    assert "Refusing to load this checkpoint: it reads the attribute " \
        "'__self__'" in result.stdout or 'GLOBAL mmengine.logging.' \
        'history_buffer.HistoryBuffer was not an allowed global' in \
        result.stdout, result.stdout[-3000:]
