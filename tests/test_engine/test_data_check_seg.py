"""The data check of segmentation datasets: images without their label map,
label values that are no class, and label maps of several channels fail
before training, naming the file and the fix."""
import os
import os.path as osp
import shutil

import numpy as np
import pytest
from mmengine.config import Config
from PIL import Image

from mmdla.engine.data_check import check_data_roots

LOADERS = ['train_dataloader', 'val_dataloader']


@pytest.fixture
def shapes_seg(tmp_path, tiny_shapes_seg) -> str:
    """A copy of the tiny shapes segmentation set, free to damage."""
    root = str(tmp_path / 'shapes_seg') + '/'
    shutil.copytree(tiny_shapes_seg, root)
    return root


def _seg_cfg(seg_demo: str, data_root: str, **dataset) -> Config:
    """The segmentation demo config on ``data_root``, its datasets updated
    with ``dataset``."""
    cfg = Config.fromfile(seg_demo)
    for loader in LOADERS:
        cfg[loader].dataset.update(data_root=data_root, **dataset)
    return cfg


def _write_label_map(path: str, values: np.ndarray) -> None:
    Image.fromarray(values.astype(np.uint8)).save(path)


def test_demo_set_passes(seg_demo, shapes_seg):
    check_data_roots(_seg_cfg(seg_demo, shapes_seg), LOADERS, True)


def test_ignore_index_passes(seg_demo, shapes_seg):
    label_map = osp.join(shapes_seg, 'ann_dir', 'train', '00001.png')
    values = np.asarray(Image.open(label_map)).copy()
    values[:10] = 255
    _write_label_map(label_map, values)
    check_data_roots(_seg_cfg(seg_demo, shapes_seg), LOADERS)


def test_label_value_beyond_the_classes_is_named(seg_demo, shapes_seg):
    label_map = osp.join(shapes_seg, 'ann_dir', 'val', '00002.png')
    values = np.asarray(Image.open(label_map)).copy()
    values[5, 5] = 4  # four classes: 0 to 3
    values[6, 6] = 200
    _write_label_map(label_map, values)
    with pytest.raises(ValueError) as error:
        check_data_roots(_seg_cfg(seg_demo, shapes_seg), LOADERS)
    message = str(error.value)
    assert f'{label_map} (values 4, 200)' in message
    assert 'val_dataloader.dataset' in message
    assert 'The dataset has 4 classes (background, circle, square, ' \
        'triangle): a label map holds 0 to 3' in message
    assert '255 (ignore_index)' in message
    assert 'Relabel these files' in message
    assert 'train_dataloader' not in message


def test_reduce_zero_label_shifts_the_allowed_values(seg_demo, shapes_seg):
    label_map = osp.join(shapes_seg, 'ann_dir', 'train', '00000.png')
    values = np.asarray(Image.open(label_map)).copy()
    values[0, 0] = 4  # class 3 after the shift
    _write_label_map(label_map, values)
    check_data_roots(
        _seg_cfg(seg_demo, shapes_seg, reduce_zero_label=True),
        ['train_dataloader'])
    values[0, 0] = 5
    _write_label_map(label_map, values)
    with pytest.raises(ValueError, match='1 to 4 for the classes and 0'):
        check_data_roots(
            _seg_cfg(seg_demo, shapes_seg, reduce_zero_label=True),
            ['train_dataloader'])


def test_image_without_label_map_is_named(seg_demo, shapes_seg):
    image = osp.join(shapes_seg, 'img_dir', 'train', '00003.png')
    label_map = osp.join(shapes_seg, 'ann_dir', 'train', '00003.png')
    os.remove(label_map)
    with pytest.raises(ValueError) as error:
        check_data_roots(_seg_cfg(seg_demo, shapes_seg), LOADERS)
    message = str(error.value)
    assert f'1 images of {osp.join(shapes_seg, "img_dir/train")} ' \
        '(train_dataloader.dataset) have no label map' in message
    assert f'{image} (no {label_map})' in message
    assert 'Add the missing label maps, remove these images, or set ' \
        '`seg_map_suffix`' in message


def test_other_label_suffix_names_the_setting(seg_demo, shapes_seg):
    with pytest.raises(ValueError) as error:
        check_data_roots(
            _seg_cfg(seg_demo, shapes_seg, seg_map_suffix='_labelIds.png'),
            ['val_dataloader'])
    message = str(error.value)
    assert '4 images of' in message
    assert "'.png' (img_suffix) replaced by '_labelIds.png' " \
        '(seg_map_suffix)' in message


def test_no_image_of_the_suffix_is_an_error(seg_demo, shapes_seg):
    with pytest.raises(
            ValueError, match=r"no file ending in '\.jpg' "
            r'\(img_suffix\)'):
        check_data_roots(
            _seg_cfg(seg_demo, shapes_seg, img_suffix='.jpg'),
            ['train_dataloader'])


def test_colour_label_map_is_named(seg_demo, shapes_seg):
    label_map = osp.join(shapes_seg, 'ann_dir', 'train', '00004.png')
    Image.new('RGB', (128, 128)).save(label_map)
    with pytest.raises(ValueError, match='have several channels') as error:
        check_data_roots(_seg_cfg(seg_demo, shapes_seg), ['train_dataloader'])
    assert f'{label_map} (RGB)' in str(error.value)


def test_empty_label_map_and_missing_folder(seg_demo, shapes_seg):
    label_map = osp.join(shapes_seg, 'ann_dir', 'val', '00000.png')
    open(label_map, 'wb').close()
    with pytest.raises(ValueError, match='are empty') as error:
        check_data_roots(_seg_cfg(seg_demo, shapes_seg), ['val_dataloader'])
    assert label_map in str(error.value)

    shutil.rmtree(osp.join(shapes_seg, 'ann_dir', 'val'))
    with pytest.raises(FileNotFoundError) as error:
        check_data_roots(_seg_cfg(seg_demo, shapes_seg), ['val_dataloader'])
    assert 'val_dataloader.dataset.data_prefix.seg_map_path' in str(
        error.value)


def test_missing_demo_set_says_how_to_create_it(seg_demo, tmp_path):
    with pytest.raises(FileNotFoundError) as error:
        check_data_roots(
            _seg_cfg(seg_demo,
                     str(tmp_path / 'shapes_seg') + '/'), ['train_dataloader'])
    assert 'python tools/misc/generate_demo_data.py' in str(error.value)
