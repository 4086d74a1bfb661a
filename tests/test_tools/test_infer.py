"""tools/infer.py: top classes of a classifier, painted detections of a
detector, on the demo configs with seeded random weights; a checkpoint of
another model is refused before any image is processed."""
import importlib.util
import json
import os
import os.path as osp
import sys

import cv2
import numpy as np
import pytest
import torch
from mmengine.registry import MODELS, init_default_scope
from mmengine.runner import load_checkpoint

from mmdla.apis import build_inferencer, expand_images, load_config
from mmdla.datasets import CLS_CLASSES
from mmdla.datasets.synthetic_shapes import draw_classification_image
from mmdla.engine import CheckpointMismatchError

# MMPretrain's CustomDataset names the classes after the sorted folders
CLS_DATASET_META = dict(classes=tuple(sorted(CLS_CLASSES)))


@pytest.fixture(scope='module')
def infer_tool(repo_root):
    spec = importlib.util.spec_from_file_location(
        'mmdla_tool_infer', osp.join(repo_root, 'tools', 'infer.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _expected_top_classes(config, checkpoint, image_file, topk):
    """Top classes of one image from the classifier run by hand: RGB,
    ``(x - 127.5) / 64`` as in the demo's data preprocessor, softmax."""
    cfg = load_config(config)
    init_default_scope(cfg.default_scope)
    model = MODELS.build(cfg.model).eval()
    load_checkpoint(model, checkpoint, map_location='cpu')
    rgb = cv2.imread(image_file)[..., ::-1].astype(np.float32)
    inputs = (torch.from_numpy(rgb.copy()).permute(2, 0, 1)[None] -
              127.5) / 64.0
    with torch.no_grad():
        scores = model(inputs, mode='tensor').softmax(dim=1)[0]
    values, indices = scores.topk(topk)
    return [(CLS_DATASET_META['classes'][i], v)
            for i, v in zip(indices.tolist(), values.tolist())]


def test_classifier_prints_top_classes_and_paints(cls_demo, repo_root,
                                                  random_checkpoint, run_tool,
                                                  tmp_path):
    checkpoint = random_checkpoint(cls_demo, CLS_DATASET_META)
    images = []
    for index in range(2):
        image, _ = draw_classification_image(0, 'val', index, 32)
        images.append(str(tmp_path / f'shape{index}.png'))
        cv2.imwrite(images[-1], image)
    out_dir = tmp_path / 'painted'
    result = run_tool([
        sys.executable, 'tools/infer.py', cls_demo, checkpoint, *images,
        '--topk', '3', '--out-dir',
        str(out_dir), '--device', 'cpu'
    ], repo_root)
    assert result.returncode == 0, result.stdout
    # one line per image: "<image>: <class> <score>, ..."
    lines = dict(
        line.split(': ', 1) for line in result.stdout.splitlines()
        if line.split(': ', 1)[0] in images)
    for image in images:
        printed = [item.rsplit(' ', 1) for item in lines[image].split(', ')]
        expected = _expected_top_classes(cls_demo, checkpoint, image, 3)
        assert [name for name, _ in printed] == [n for n, _ in expected]
        np.testing.assert_allclose([float(score) for _, score in printed],
                                   [score for _, score in expected],
                                   atol=1e-3)
        painted = cv2.imread(str(out_dir / (osp.basename(image))))
        assert painted is not None and painted.shape[2] == 3


def test_detector_writes_boxes_and_masks(repo_root, random_checkpoint,
                                         run_tool, tiny_shapes_coco, tmp_path):
    config = osp.join(repo_root, 'configs', 'demo',
                      'mask_rcnn_dla18_fpn_shapes.py')
    meta = load_config(config).test_dataloader.dataset.metainfo
    checkpoint = random_checkpoint(config, dict(meta))
    val_dir = osp.join(tiny_shapes_coco, 'val')
    image = osp.join(val_dir, sorted(os.listdir(val_dir))[0])
    out_dir = tmp_path / 'predictions'
    # random weights score every class about equally: keep all detections
    result = run_tool([
        sys.executable, 'tools/infer.py', config, checkpoint, image,
        '--score-thr', '0', '--out-dir',
        str(out_dir), '--device', 'cpu'
    ], repo_root)
    assert result.returncode == 0, result.stdout
    name = osp.splitext(osp.basename(image))[0]
    with open(out_dir / 'preds' / f'{name}.json') as f:
        preds = json.load(f)
    num = len(preds['scores'])
    assert num > 0
    assert len(preds['labels']) == len(preds['bboxes']) == num
    assert len(preds['masks']) == num
    assert set(preds['labels']) <= set(range(len(meta['classes'])))
    assert f'{image}: {num} detections with score >= 0.0' in result.stdout
    # the demo configs draw on the image enlarged 3 times
    height, width = cv2.imread(image).shape[:2]
    source = cv2.resize(cv2.imread(image), (3 * width, 3 * height))
    painted = cv2.imread(str(out_dir / 'vis' / osp.basename(image)))
    assert painted.shape == source.shape
    assert not np.array_equal(painted, source)  # boxes and masks drawn


def test_missing_image_is_named(infer_tool, cls_demo, monkeypatch, capsys,
                                tmp_path):
    missing = str(tmp_path / 'absent.png')
    monkeypatch.setattr(sys, 'argv',
                        ['infer.py', cls_demo, 'model.pth', missing])
    with pytest.raises(SystemExit) as error:
        infer_tool.parse_args()
    assert error.value.code == 2
    assert f'image files or folders not found: {missing}' in \
        capsys.readouterr().err


def _write_shapes(folder, names):
    """Write a shape classification image under each of ``names``."""
    folder.mkdir(parents=True, exist_ok=True)
    for index, name in enumerate(names):
        image, _ = draw_classification_image(0, 'val', index, 32)
        cv2.imwrite(str(folder / name), image)


def test_folder_stands_for_its_sorted_images(tmp_path):
    _write_shapes(tmp_path / 'images', ['b.png', 'a.jpg', 'c.PNG'])
    _write_shapes(tmp_path / 'images' / 'sub', ['d.png'])
    (tmp_path / 'images' / 'notes.txt').write_text('not an image')
    _write_shapes(tmp_path, ['single.png'])
    folder = str(tmp_path / 'images')
    assert expand_images([str(tmp_path / 'single.png'), folder]) == [
        str(tmp_path / 'single.png'),
        osp.join(folder, 'a.jpg'),
        osp.join(folder, 'b.png'),
        osp.join(folder, 'c.PNG')
    ]
    (tmp_path / 'empty').mkdir()
    with pytest.raises(FileNotFoundError, match='No images .* in .*empty'):
        expand_images([str(tmp_path / 'empty')])


def test_unreadable_images_are_skipped_with_a_warning(cls_demo, repo_root,
                                                      random_checkpoint,
                                                      run_tool, tmp_path):
    checkpoint = random_checkpoint(cls_demo, CLS_DATASET_META)
    folder = tmp_path / 'images'
    _write_shapes(folder, ['a.png', 'c.png'])
    (folder / 'b.png').write_text('not an image')
    (folder / 'd.png').write_bytes(b'')
    result = run_tool([
        sys.executable, 'tools/infer.py', cls_demo, checkpoint,
        str(folder), '--topk', '2', '--device', 'cpu'
    ], repo_root)
    assert result.returncode == 0, result.stdout
    out = result.stdout
    assert f'skipped {folder / "b.png"}: not an image that OpenCV can ' \
        'decode' in out
    assert f'skipped {folder / "d.png"}: the file is empty' in out
    # results for the readable images, in the folder's sorted order
    results = [
        line.split(': ', 1)[0] for line in out.splitlines()
        if line.startswith(str(folder))
    ]
    assert results == [str(folder / 'a.png'), str(folder / 'c.png')]
    assert '2 of 4 images skipped: they could not be read' in out


def test_no_readable_image_is_an_error(cls_demo, repo_root, run_tool,
                                       tmp_path):
    broken = tmp_path / 'broken.png'
    broken.write_text('not an image')
    result = run_tool(
        [sys.executable, 'tools/infer.py', cls_demo, 'model.pth',
         str(broken)], repo_root)
    assert result.returncode == 1
    assert f'skipped {broken}: not an image that OpenCV can decode' in \
        result.stdout
    assert 'no image could be read (see the warnings above); nothing to ' \
        'infer on' in result.stdout


def test_detector_checkpoint_for_a_classifier_is_refused(
        infer_tool, cls_demo, faster_rcnn_demo, random_checkpoint, monkeypatch,
        tmp_path):
    """Once an IndexError at the classes of the detector's three shapes;
    now refused before any image is read or painted."""
    meta = load_config(faster_rcnn_demo).test_dataloader.dataset.metainfo
    checkpoint = random_checkpoint(faster_rcnn_demo, dict(meta))
    # the scope of a fresh process (MMPretrain's inferencer builds its
    # pipeline in the current one; writing the checkpoint set MMDet's)
    init_default_scope('mmpretrain')
    _write_shapes(tmp_path, ['shape.png'])
    out_dir = tmp_path / 'painted'
    monkeypatch.setattr(sys, 'argv', [
        'infer.py', cls_demo, checkpoint,
        str(tmp_path / 'shape.png'), '--out-dir',
        str(out_dir), '--device', 'cpu'
    ])
    with pytest.raises(CheckpointMismatchError) as error:
        infer_tool.main()
    message = str(error.value)
    assert message.startswith(f'Checkpoint {checkpoint!r} does not fit the '
                              'model of the config: ')
    # the detector's 7 x 7 stem of 32 channels, the classifier's 3 x 3 of 16
    assert 'backbone.conv1.weight: (32, 3, 7, 7) in the checkpoint vs. ' \
        '(16, 3, 3, 3) in the model' in message
    assert message.endswith('--allow-partial-checkpoint to load the '
                            'matching weights on purpose.')
    assert not out_dir.exists()


def test_checkpoint_of_another_depth_is_refused(cls_demo, random_checkpoint):
    # depth 29 has three bottlenecks a stage, the config's depth 20 two
    checkpoint = random_checkpoint(cls_demo, CLS_DATASET_META,
                                   {'model.backbone.depth': 29})
    cfg = load_config(cls_demo)
    with pytest.raises(
            CheckpointMismatchError,
            match=r'keys of the checkpoint are not in the model \('
            r'backbone\.layer1\.2\.'):
        build_inferencer(cfg, checkpoint, 'cpu')
    # on purpose: the weights that fit are loaded
    inferencer = build_inferencer(cfg, checkpoint, 'cpu', allow_partial=True)
    stem = torch.load(checkpoint)['state_dict']['backbone.conv1.weight']
    assert torch.equal(inferencer.model.backbone.conv1.weight, stem)


def test_classifier_checkpoint_for_a_detector_is_refused(
        cls_demo, faster_rcnn_demo, random_checkpoint):
    checkpoint = random_checkpoint(cls_demo, CLS_DATASET_META)
    with pytest.raises(
            CheckpointMismatchError,
            match='backbone.conv1.weight: \\(16, 3, 3, 3\\) in the '
            'checkpoint vs. \\(32, 3, 7, 7\\) in the model'):
        build_inferencer(load_config(faster_rcnn_demo), checkpoint, 'cpu')
