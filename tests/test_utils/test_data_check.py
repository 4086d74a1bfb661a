"""A missing dataset fails early with a message saying how to fix it."""
import pytest
from mmengine.config import Config

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
    (tmp_path / 'coco' / 'annotations').mkdir(parents=True)
    (tmp_path / 'coco' / 'annotations' / 'instances_val2017.json').touch()
    check_data_roots(_coco_like_cfg(str(tmp_path / 'coco') + '/'))
    check_data_roots(_coco_like_cfg('s3://bucket/coco/'))


def test_demo_dataset_hint(tmp_path):
    cfg = _coco_like_cfg(str(tmp_path / 'data' / 'shapes_coco') + '/')
    with pytest.raises(
            FileNotFoundError, match='tools/misc/generate_demo_data.py'):
        check_data_roots(cfg)
