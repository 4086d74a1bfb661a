"""ONNX export (mmdla.deployment, tools/deployment/pytorch2onnx.py): DLA-L,
DLA-B and the static baselines export with a dynamic batch, and ONNX Runtime
matches PyTorch at batch 1 and 3 from one file; a checkpoint of another
model is refused before a file is written."""
import importlib.util
import os.path as osp
import sys

import numpy as np
import onnx
import onnxruntime
import pytest
import torch

from mmdla.apis import load_config
from mmdla.datasets import CLS_CLASSES
from mmdla.deployment import build_export_module, export_onnx
from mmdla.engine import CheckpointMismatchError

CLS_DATASET_META = dict(classes=tuple(sorted(CLS_CLASSES)))
SHAPE = (32, 32)


def _onnx_outputs(onnx_file, inputs):
    session = onnxruntime.InferenceSession(
        onnx_file, providers=['CPUExecutionProvider'])
    return session.run(None, {'input': inputs.numpy()})


def _max_relative_error(actual, expected):
    return float(np.abs(actual - expected).max() / np.abs(expected).max())


@pytest.mark.parametrize('variant', ['light', 'base'])
@pytest.mark.parametrize('dual_path', [True, False], ids=['dla', 'static'])
def test_classifier_matches_pytorch_at_batch_1_and_3(cls_demo,
                                                     random_checkpoint,
                                                     tmp_path, variant,
                                                     dual_path):
    options = {
        'model.backbone.variant': variant,
        'model.backbone.dual_path': dual_path
    }
    checkpoint = random_checkpoint(cls_demo, CLS_DATASET_META, options)
    cfg = load_config(cls_demo, options)
    module, names = build_export_module(cfg, checkpoint)
    onnx_file = str(tmp_path / 'classifier.onnx')
    export_onnx(module, onnx_file, SHAPE, names, dynamic_batch=True)

    graph = onnx.load(onnx_file).graph
    assert [o.name for o in graph.output] == ['scores']
    assert graph.input[0].type.tensor_type.shape.dim[0].dim_param
    generator = torch.Generator().manual_seed(1)
    for batch in (1, 3):
        inputs = torch.randn(batch, 3, *SHAPE, generator=generator)
        with torch.no_grad():  # the default CPU path of the model
            expected = module.classifier(
                inputs, mode='tensor').softmax(dim=1).numpy()
        (scores, ) = _onnx_outputs(onnx_file, inputs)
        assert scores.shape == (batch, len(CLS_CLASSES))
        assert _max_relative_error(scores, expected) < 1e-4


def test_detector_backbone_tool(repo_root, faster_rcnn_demo, random_checkpoint,
                                run_tool, tmp_path):
    meta = load_config(faster_rcnn_demo).test_dataloader.dataset.metainfo
    checkpoint = random_checkpoint(faster_rcnn_demo, dict(meta))
    onnx_file = str(tmp_path / 'backbone.onnx')
    result = run_tool([
        sys.executable, 'tools/deployment/pytorch2onnx.py', faster_rcnn_demo,
        checkpoint, '--output-file', onnx_file, '--shape', '64', '96',
        '--backbone-only', '--dynamic-export', '--verify'
    ], repo_root)
    assert result.returncode == 0, result.stdout
    assert 'verified' in result.stdout

    cfg = load_config(faster_rcnn_demo)
    module, _ = build_export_module(cfg, checkpoint, backbone_only=True)
    inputs = torch.randn(
        3, 3, 64, 96, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = module.backbone(inputs)
    features = _onnx_outputs(onnx_file, inputs)
    graph = onnx.load(onnx_file).graph
    assert [o.name
            for o in graph.output] == ['layer1', 'layer2', 'layer3', 'layer4']
    # the demo's half-width ResNet-18: 32 to 256 channels, strides 4 to 32
    assert [f.shape for f in features] == [(3, 32, 16, 24), (3, 64, 8, 12),
                                           (3, 128, 4, 6), (3, 256, 2, 3)]
    for actual, want in zip(features, expected):
        assert _max_relative_error(actual, want.numpy()) < 1e-4


def test_static_export_has_batch_one(cls_demo, random_checkpoint, tmp_path):
    checkpoint = random_checkpoint(cls_demo, CLS_DATASET_META)
    module, names = build_export_module(
        load_config(cls_demo), checkpoint, backbone_only=True)
    onnx_file = str(tmp_path / 'backbone.onnx')
    export_onnx(module, onnx_file, SHAPE, names)
    graph = onnx.load(onnx_file).graph
    assert [o.name for o in graph.output] == ['layer3']
    dims = graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_value for d in dims] == [1, 3, *SHAPE]
    inputs = torch.randn(1, 3, *SHAPE)
    with torch.no_grad():
        (expected, ) = module.backbone(inputs)
    (actual, ) = _onnx_outputs(onnx_file, inputs)
    assert _max_relative_error(actual, expected.numpy()) < 1e-4


def test_detector_needs_backbone_only(faster_rcnn_demo, tmp_path):
    with pytest.raises(ValueError, match='--backbone-only'):
        build_export_module(
            load_config(faster_rcnn_demo), osp.join(tmp_path, 'any.pth'))


@pytest.mark.parametrize('output, message', [
    ('missing_dir/x.onnx', '--output-file {tmp}/missing_dir/x.onnx: the '
     'folder {tmp}/missing_dir does not exist; create it first (mkdir -p '
     '{tmp}/missing_dir) or name a file in an existing folder'),
    ('', '--output-file {tmp}/ is a folder; give the path of the file to '
     'write, e.g. {tmp}/NAME'),
])
def test_output_folder_is_checked_before_export(cls_demo, random_checkpoint,
                                                repo_root, run_tool,
                                                tmp_path, output, message):
    checkpoint = random_checkpoint(cls_demo, CLS_DATASET_META)
    result = run_tool([
        sys.executable, 'tools/deployment/pytorch2onnx.py', cls_demo,
        checkpoint, '--output-file',
        f'{tmp_path}/{output}', '--shape', '32', '32'
    ], repo_root)
    assert result.returncode == 2
    assert message.format(tmp=tmp_path) in result.stdout
    assert 'ONNX file written' not in result.stdout
    assert not list(tmp_path.rglob('*.onnx'))


@pytest.fixture(scope='module')
def export_tool(repo_root):
    spec = importlib.util.spec_from_file_location(
        'mmdla_tool_pytorch2onnx',
        osp.join(repo_root, 'tools', 'deployment', 'pytorch2onnx.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_checkpoint_of_another_depth_writes_no_file(cls_demo,
                                                    random_checkpoint,
                                                    export_tool, monkeypatch,
                                                    tmp_path):
    # depth 29 has three bottlenecks a stage, the config's depth 20 two
    checkpoint = random_checkpoint(cls_demo, CLS_DATASET_META,
                                   {'model.backbone.depth': 29})
    onnx_file = tmp_path / 'classifier.onnx'
    monkeypatch.setattr(sys, 'argv', [
        'pytorch2onnx.py', cls_demo, checkpoint, '--output-file',
        str(onnx_file), '--shape', '32', '32'
    ])
    with pytest.raises(
            CheckpointMismatchError,
            match=r'keys of the checkpoint are not in the model \('
            r'backbone\.layer1\.2\.'):
        export_tool.main()
    assert not onnx_file.exists()
    # on purpose: the weights that fit are loaded
    module, _ = build_export_module(
        load_config(cls_demo), checkpoint, allow_partial=True)
    stem = torch.load(checkpoint)['state_dict']['backbone.conv1.weight']
    assert torch.equal(module.classifier.backbone.conv1.weight, stem)


def test_classifier_checkpoint_for_a_detector_backbone_is_refused(
        cls_demo, faster_rcnn_demo, random_checkpoint):
    checkpoint = random_checkpoint(cls_demo, CLS_DATASET_META)
    with pytest.raises(
            CheckpointMismatchError,
            match='backbone.conv1.weight: \\(16, 3, 3, 3\\) in the '
            'checkpoint vs. \\(32, 3, 7, 7\\) in the model'):
        build_export_module(
            load_config(faster_rcnn_demo), checkpoint, backbone_only=True)
