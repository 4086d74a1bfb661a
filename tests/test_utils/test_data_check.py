"""A missing or broken dataset fails early with a message saying how to fix
it."""
import json
import os
import os.path as osp
import shutil
import warnings

import pytest
from mmengine.config import Config

from mmdla.datasets import CLS_CLASSES, DET_CLASSES
from mmdla.utils.data_check import check_data_roots


def _coco_like_cfg(data_root: str) -> Config:
    dataset = dict(
        type='CocoDataset',
        data_root=data_root,
        ann_file='annotations/instances_val2017.json')
    return Config(
        dict(
            train_dataloader=dict(
                dataset=dict(type='RepeatDataset', times=2, dataset=dataset)),
            val_dataloader=dict(dataset=dataset),
            val_evaluator=dict(
                type='CocoMetric',
                ann_file=data_root + 'annotations/instances_val2017.json'),
            test_dataloader=None))


def test_missing_data_root_names_location_and_override(tmp_path):
    cfg = _coco_like_cfg(str(tmp_path / 'coco') + '/')
    with pytest.raises(FileNotFoundError) as error:
        check_data_roots(cfg)
    message = str(error.value)
    assert 'train_dataloader.dataset.dataset.data_root' in message
    assert 'val_dataloader.dataset.data_root' in message
    assert 'val_evaluator.ann_file' in message
    assert str(tmp_path / 'coco') in message
    assert '--cfg-options train_dataloader.dataset.dataset.data_root=' \
        in message


def test_missing_annotation_file(tmp_path):
    (tmp_path / 'coco').mkdir()
    cfg = _coco_like_cfg(str(tmp_path / 'coco') + '/')
    with pytest.raises(FileNotFoundError, match='dataset.ann_file'):
        check_data_roots(cfg, ['val_dataloader'])


def test_present_data_and_remote_roots_pass(tmp_path):
    root = tmp_path / 'coco'
    (root / 'annotations').mkdir(parents=True)
    coco = _coco()
    for image in coco['images']:
        (root / image['file_name']).write_bytes(b'image')
    with open(root / 'annotations' / 'instances_val2017.json', 'w') as f:
        json.dump(coco, f)
    check_data_roots(_coco_like_cfg(str(root) + '/'))
    check_data_roots(_coco_like_cfg('s3://bucket/coco/'))


def test_demo_dataset_hint(tmp_path):
    cfg = _coco_like_cfg(str(tmp_path / 'data' / 'shapes_coco') + '/')
    with pytest.raises(
            FileNotFoundError, match='tools/misc/generate_demo_data.py'):
        check_data_roots(cfg)


def _cls_cfg(cls_demo: str, data_root: str, pinned: bool = True) -> Config:
    """The classification demo config on the class folders of
    ``data_root``, with or without its pinned classes."""
    cfg = Config.fromfile(cls_demo)
    for loader in (cfg.train_dataloader, cfg.val_dataloader):
        loader.dataset.data_root = data_root
        if not pinned:
            loader.dataset.pop('metainfo')
    return cfg


@pytest.fixture
def shapes_cls(tmp_path, tiny_shapes_cls) -> str:
    """A copy of the tiny classification set, to change."""
    root = str(tmp_path / 'shapes_cls') + '/'
    shutil.copytree(tiny_shapes_cls, root)
    return root


def test_cls_demo_pins_classes_in_folder_order(cls_demo):
    # CustomDataset numbers the class folders in sorted order
    cfg = Config.fromfile(cls_demo)
    for loader in (cfg.train_dataloader, cfg.val_dataloader,
                   cfg.test_dataloader):
        assert tuple(loader.dataset.metainfo.classes) == \
            tuple(sorted(CLS_CLASSES))


def test_matching_class_folders_pass(cls_demo, shapes_cls):
    check_data_roots(
        _cls_cfg(cls_demo, shapes_cls), ['train_dataloader', 'val_dataloader'])


def test_extra_empty_class_folder_in_val_is_named(cls_demo, shapes_cls):
    os.mkdir(osp.join(shapes_cls, 'val', 'aaa'))
    with pytest.raises(ValueError) as error:
        check_data_roots(
            _cls_cfg(cls_demo, shapes_cls),
            ['train_dataloader', 'val_dataloader'])
    message = str(error.value)
    assert osp.join(shapes_cls, 'val') in message
    assert 'val_dataloader.dataset' in message and 'extra: aaa' in message
    assert 'train_dataloader' not in message


def test_class_folders_of_splits_must_agree_without_metainfo(
        cls_demo, shapes_cls):
    shutil.rmtree(osp.join(shapes_cls, 'val', 'cross'))
    with pytest.raises(
            ValueError,
            match='not the class folders of train_dataloader.dataset '
            r'\(missing: cross\)'):
        check_data_roots(
            _cls_cfg(cls_demo, shapes_cls, pinned=False),
            ['train_dataloader', 'val_dataloader'])


def test_empty_image_in_class_folder_is_named(cls_demo, shapes_cls):
    image = osp.join(shapes_cls, 'train', 'ring', '99999.png')
    open(image, 'wb').close()
    with pytest.raises(ValueError, match='are empty') as error:
        check_data_roots(_cls_cfg(cls_demo, shapes_cls), ['train_dataloader'])
    assert image in str(error.value)


def test_missing_image_folder_is_named(tmp_path):
    (tmp_path / 'cls').mkdir()
    cfg = Config(
        dict(
            train_dataloader=dict(
                dataset=dict(
                    type='CustomDataset',
                    data_root=str(tmp_path / 'cls'),
                    data_prefix='train'))))
    with pytest.raises(
            FileNotFoundError, match='train_dataloader.dataset.data_prefix'):
        check_data_roots(cfg)


def _coco_cfg(data_root: str, loader: str = 'train_dataloader') -> Config:
    return Config({
        loader:
        dict(
            dataset=dict(
                type='CocoDataset',
                data_root=data_root,
                ann_file='annotations/instances_train.json',
                data_prefix=dict(img='train/'),
                metainfo=dict(classes=DET_CLASSES)))
    })


def _write_coco(root, coco: dict) -> str:
    """Write ``coco`` as the training annotations of ``root``, with a
    non-empty file for each of its images; returns the root with a
    trailing slash."""
    (root / 'annotations').mkdir(parents=True)
    (root / 'train').mkdir()
    for image in coco.get('images', []):
        (root / 'train' / image['file_name']).write_bytes(b'image')
    with open(root / 'annotations' / 'instances_train.json', 'w') as f:
        json.dump(coco, f)
    return str(root) + '/'


def _coco(**changes) -> dict:
    """A valid COCO set of two images, one box each, with ``changes``."""
    coco = dict(
        images=[
            dict(id=i, file_name=f'{i}.png', width=64, height=64)
            for i in (1, 2)
        ],
        annotations=[
            dict(
                id=i,
                image_id=i,
                category_id=1,
                bbox=[4, 4, 20, 20],
                area=400,
                iscrowd=0) for i in (1, 2)
        ],
        categories=[
            dict(id=i + 1, name=name) for i, name in enumerate(DET_CLASSES)
        ])
    coco.update(changes)
    return coco


def test_valid_coco_passes_without_warning(tmp_path, tiny_shapes_coco):
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        check_data_roots(_coco_cfg(_write_coco(tmp_path / 'coco', _coco())))
        check_data_roots(_coco_cfg(tiny_shapes_coco))


def test_malformed_coco_json_names_file_and_position(tmp_path):
    root = _write_coco(tmp_path / 'coco', _coco())
    ann_file = root + 'annotations/instances_train.json'
    with open(ann_file, 'w') as f:
        f.write('{"images": [\n  {"id": 1,')
    with pytest.raises(ValueError, match='is not valid JSON') as error:
        check_data_roots(_coco_cfg(root))
    assert ann_file in str(error.value) and 'line 2' in str(error.value)


@pytest.mark.parametrize('changes, expected', [
    (dict(images=[]), 'lists no images'),
    (dict(categories=[dict(id=1, name='cat')]), 'None of the classes'),
])
def test_unusable_coco_files_are_errors(tmp_path, changes, expected):
    root = _write_coco(tmp_path / 'coco', _coco(**changes))
    with pytest.raises(ValueError, match=expected) as error:
        check_data_roots(_coco_cfg(root))
    assert 'annotations/instances_train.json' in str(error.value)


def test_coco_without_annotations_key_is_an_error_to_train(tmp_path):
    coco = _coco()
    del coco['annotations']
    root = _write_coco(tmp_path / 'coco', coco)
    with pytest.raises(ValueError, match='has no `annotations` key'):
        check_data_roots(_coco_cfg(root))
    # an image list without labels is what a test server takes
    check_data_roots(_coco_cfg(root, 'test_dataloader'))


def test_missing_and_empty_coco_images_are_named(tmp_path):
    root = _write_coco(tmp_path / 'coco', _coco())
    os.remove(root + 'train/1.png')
    open(root + 'train/2.png', 'wb').close()
    with pytest.raises(ValueError) as error:
        check_data_roots(_coco_cfg(root))
    message = str(error.value)
    assert f'1 image files listed in {root}' in message
    assert root + 'train/1.png' in message
    assert '1 image files of' in message and root + 'train/2.png' in message


def test_dropped_annotations_are_counted(tmp_path):
    coco = _coco()
    coco['annotations'] += [
        dict(id=3, image_id=1, category_id=1, bbox=[1, 1,
                                                    float('nan'), 5]),
        dict(id=4, image_id=1, category_id=2, bbox=[1, 1, -5, 5], area=25),
        dict(id=5, image_id=2, category_id=2, bbox=[1, 1, 0.5, 5], area=2),
        dict(id=6, image_id=2, category_id=9, bbox=[1, 1, 5, 5], area=25),
    ]
    root = _write_coco(tmp_path / 'coco', coco)
    with pytest.warns(UserWarning) as record:
        check_data_roots(_coco_cfg(root))
    message = str(record[0].message)
    assert 'annotations/instances_train.json' in message
    assert '4 of 6 annotations are ignored' in message
    assert '1 with a box that is not 4 finite numbers (ids 3)' in message
    assert 'lower than 1 pixel, or an area <= 0 (ids 4, 5)' in message
    assert 'category id that is not in `categories` (ids 6)' in message
