"""A missing or broken dataset fails early with a message saying how to fix
it."""
import json
import os
import os.path as osp
import shutil
import struct
import warnings
import zlib
from typing import Optional, Sequence, Tuple

import cv2
import mmcv
import pytest
from mmengine.config import Config
from PIL import Image

from mmdla.datasets import CLS_CLASSES, DET_CLASSES
from mmdla.engine.data_check import check_data_roots

#: The EXIF tag of an image's orientation.
_ORIENTATION = 0x0112


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


def _evaluated_cfg(data_root: str, evaluator_ann_file: str) -> Config:
    """A test dataloader on the COCO file written by :func:`_write_coco`
    under ``data_root``, with a COCO metric reading
    ``evaluator_ann_file``."""
    cfg = _coco_cfg(data_root, 'test_dataloader')
    cfg.test_evaluator = dict(type='CocoMetric', ann_file=evaluator_ann_file)
    return cfg


def test_evaluator_ann_file_of_other_data_is_an_error(tmp_path):
    # only test_dataloader.dataset.data_root was pointed at the new data
    old = _write_coco(tmp_path / 'old', _coco())
    new = _write_coco(tmp_path / 'new',
                      _coco(annotations=_coco()['annotations'][:1]))
    old_ann = old + 'annotations/instances_train.json'
    new_ann = new + 'annotations/instances_train.json'
    with pytest.raises(ValueError) as error:
        check_data_roots(_evaluated_cfg(new, old_ann))
    message = str(error.value)
    assert f"test_evaluator.ann_file = '{old_ann}' is not the annotation " \
        f'file of the dataset it evaluates, {new_ann} ' \
        '(test_dataloader.dataset.data_root + ann_file)' in message
    assert f'--cfg-options test_evaluator.ann_file={new_ann}' in message


def test_evaluator_ann_file_matching_its_dataset_passes(tmp_path):
    root = _write_coco(tmp_path / 'coco', _coco())
    check_data_roots(
        _evaluated_cfg(root, root + 'annotations/instances_train.json'))
    # a copy of the same annotations elsewhere is the same file
    shutil.copy(root + 'annotations/instances_train.json',
                tmp_path / 'copy.json')
    check_data_roots(_evaluated_cfg(root, str(tmp_path / 'copy.json')))


def test_evaluator_list_names_the_mismatched_metric(tmp_path):
    old = _write_coco(tmp_path / 'old', _coco())
    new = _write_coco(tmp_path / 'new',
                      _coco(annotations=_coco()['annotations'][:1]))
    cfg = _coco_cfg(new, 'val_dataloader')
    cfg.val_evaluator = [
        dict(
            type='mmdet.CocoMetric',
            ann_file=new + 'annotations/instances_train.json'),
        dict(
            type='CocoMetric',
            ann_file=old + 'annotations/instances_train.json'),
    ]
    with pytest.raises(ValueError) as error:
        check_data_roots(cfg)
    assert 'val_evaluator.1.ann_file' in str(error.value)
    assert 'val_evaluator.0' not in str(error.value)


def test_duplicate_image_ids_are_named(tmp_path):
    images = [
        dict(id=1, file_name='1.png', width=64, height=64),
        dict(id=1, file_name='2.png', width=64, height=64),
    ]
    root = _write_coco(tmp_path / 'coco', _coco(images=images))
    with pytest.raises(ValueError) as error:
        check_data_roots(_coco_cfg(root))
    message = str(error.value)
    assert 'gives the same id to several images: id 1 to 1.png, 2.png. ' \
        'COCO tools keep the last image of each id' in message
    assert 'Give every image its own `id`' in message


def _mask_cfg(data_root: str, **load_annotations) -> Config:
    """:func:`_coco_cfg` with a pipeline that loads masks."""
    cfg = _coco_cfg(data_root)
    cfg.train_dataloader.dataset.pipeline = [
        dict(type='LoadImageFromFile'),
        dict(
            type='LoadAnnotations',
            with_bbox=True,
            with_mask=True,
            **load_annotations),
    ]
    return cfg


#: Masks of the annotations of :func:`_masked_coco`, by id: MMDetection
#: keeps 1 and 2, ignores 3 to 5 and gives 6 an empty mask.
_MASKS = {
    1: [[4, 4, 24, 4, 24, 24, 4, 24]],
    2: [[4, 4, 24, 4], [4, 4, 24, 4, 24, 24]],  # its second polygon is kept
    3: [[4, 4, 24, 24]],  # 2 points
    4: [[4, 4, 24, 4, 24, 24, 4]],  # an odd number of coordinates
    5: [[4, 4, 24]],
    6: [[4, 4, 14, 14, 24, 24]],  # 3 points on a line
}


def _masked_coco(masks: dict) -> dict:
    """:func:`_coco` with an annotation of each of ``masks``, on image 1."""
    annotations = [
        dict(
            id=i,
            image_id=1,
            category_id=1,
            bbox=[4, 4, 20, 20],
            area=400,
            iscrowd=0,
            segmentation=segmentation) for i, segmentation in masks.items()
    ]
    return _coco(annotations=annotations)


def test_masks_mmdetection_ignores_are_counted(tmp_path):
    root = _write_coco(tmp_path / 'coco', _masked_coco(_MASKS))
    with pytest.warns(UserWarning) as record:
        check_data_roots(_mask_cfg(root))
    assert len(record) == 1
    message = str(record[0].message)
    assert 'annotations/instances_train.json' in message
    assert '3 of 6 annotations are ignored by the dataset or its pipeline: ' \
        '3 with a mask without a polygon of 3 or more points and an even ' \
        'number of coordinates (ids 3, 4, 5).' in message
    assert '1 annotations have polygons of zero area (ids 6): MMDetection ' \
        'keeps them, with an empty mask' in message
    # a pipeline that loads boxes only uses every one of them
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        check_data_roots(_coco_cfg(root))


def test_counted_masks_are_what_mmdetection_ignores(tmp_path):
    pytest.importorskip('mmdet')
    from mmdet.datasets import CocoDataset
    from mmdet.utils import register_all_modules
    register_all_modules()
    root = _write_coco(tmp_path / 'coco', _masked_coco(_MASKS))
    dataset = CocoDataset(
        data_root=root,
        ann_file='annotations/instances_train.json',
        data_prefix=dict(img='train/'),
        metainfo=dict(classes=DET_CLASSES),
        pipeline=[dict(type='LoadAnnotations', with_mask=True)])
    info = dataset.get_data_info(0)
    info['ori_shape'] = (info['height'], info['width'])
    results = dataset.pipeline(info)
    ignored = [
        i for i, flag in zip(_MASKS, results['gt_ignore_flags']) if flag
    ]
    assert ignored == [3, 4, 5]
    mask_areas = dict(zip(_MASKS, results['gt_masks'].areas))
    assert mask_areas[6] == 0 and mask_areas[1] > 0 and mask_areas[2] > 0


def test_split_without_a_usable_mask_is_an_error(tmp_path):
    masks = {i: _MASKS[i] for i in (3, 4, 6)}
    root = _write_coco(tmp_path / 'coco', _masked_coco(masks))
    with pytest.raises(ValueError) as error:
        check_data_roots(_mask_cfg(root))
    message = str(error.value)
    assert 'annotations/instances_train.json' in message
    assert 'has no usable instance: 2 with a mask without a polygon of 3 ' \
        'or more points and an even number of coordinates (ids 3, 4); 1 ' \
        'with polygons of zero area (an empty mask) (ids 6).' in message
    assert 'every loss and metric 0' in message


def test_masks_of_rle_need_poly2mask(tmp_path):
    rle = dict(size=[64, 64], counts='PPYo0')
    root = _write_coco(tmp_path / 'coco', _masked_coco({1: rle, 2: rle}))
    check_data_roots(_mask_cfg(root))
    with pytest.raises(ValueError, match='2 with a mask that is not polygons'):
        check_data_roots(_mask_cfg(root, poly2mask=False))


def test_missing_segmentation_with_masks_is_an_error(tmp_path):
    masks = dict(_MASKS)
    masks[2] = []
    root = _write_coco(tmp_path / 'coco', _masked_coco(masks))
    with pytest.raises(ValueError) as error:
        check_data_roots(_mask_cfg(root))
    assert "have no `segmentation` (ids 2): the pipeline loads masks " \
        "(LoadAnnotations(with_mask=True)), which stops on them with " \
        "KeyError: 'mask'" in str(error.value)


def test_class_folder_of_unread_files_is_named(cls_demo, shapes_cls):
    folder = osp.join(shapes_cls, 'train', 'ring')
    names = os.listdir(folder)
    for name in names:
        os.rename(
            osp.join(folder, name),
            osp.join(folder, name.replace('.png', '.webp')))
    with pytest.raises(ValueError) as error:
        check_data_roots(_cls_cfg(cls_demo, shapes_cls), ['train_dataloader'])
    message = str(error.value)
    assert f'The class folder {folder} (train_dataloader.dataset) holds ' \
        f'{len(names)} files ({len(names)} .webp) but no image MMPretrain ' \
        "reads, so class 'ring' would have no image" in message
    assert '(.jpg, .jpeg, .png, .ppm, .bmp, .pgm, .tif)' in message


def test_class_folder_with_an_image_it_reads_passes(cls_demo, shapes_cls):
    folder = osp.join(shapes_cls, 'train', 'ring')
    open(osp.join(folder, 'notes.txt'), 'w').close()
    open(osp.join(folder, '.DS_Store'), 'wb').close()
    # a class folder without images, but for a hidden file, stays allowed
    folder = osp.join(shapes_cls, 'val', 'ring')
    shutil.rmtree(folder)
    os.mkdir(folder)
    open(osp.join(folder, '.DS_Store'), 'wb').close()
    check_data_roots(
        _cls_cfg(cls_demo, shapes_cls), ['train_dataloader', 'val_dataloader'])


def _truncate(path: str) -> None:
    """Cut the image file ``path`` to half its size."""
    with open(path, 'rb') as f:
        data = f.read()
    with open(path, 'wb') as f:
        f.write(data[:len(data) // 2])


def test_check_images_names_truncated_class_images(cls_demo, shapes_cls):
    folder = osp.join(shapes_cls, 'train', 'ring')
    image = osp.join(folder, sorted(os.listdir(folder))[0])
    _truncate(image)
    cfg = _cls_cfg(cls_demo, shapes_cls)
    check_data_roots(cfg, ['train_dataloader'])  # images are not read
    with pytest.raises(ValueError) as error:
        check_data_roots(cfg, ['train_dataloader'], check_images=True)
    message = str(error.value)
    assert '1 image files of ' + osp.join(shapes_cls, 'train') + \
        ' (train_dataloader.dataset) cannot be decoded:\n    ' + image + \
        ': ' in message
    assert 'Copy them again from their source, or remove them' in message


#: More bad images than a message lists of other problems.
_SHOWN_AND_MORE = 6


def test_check_images_names_every_bad_coco_image(tmp_path, tiny_shapes_coco):
    root = str(tmp_path / 'shapes_coco') + '/'
    shutil.copytree(tiny_shapes_coco, root)
    images = sorted(os.listdir(root + 'train'))
    for name in images[:_SHOWN_AND_MORE]:
        _truncate(root + 'train/' + name)
    check_data_roots(_coco_cfg(root), check_images=False)
    with pytest.raises(ValueError, match='cannot be decoded') as error:
        check_data_roots(_coco_cfg(root), check_images=True)
    message = str(error.value)
    assert f'{_SHOWN_AND_MORE} image files of {root}annotations/' \
        'instances_train.json (train_dataloader.dataset.ann_file)' in message
    for name in images[:_SHOWN_AND_MORE]:
        assert root + 'train/' + name + ': ' in message
    assert root + 'train/' + images[_SHOWN_AND_MORE] not in message
    # the valid set passes
    check_data_roots(_coco_cfg(tiny_shapes_coco), check_images=True)


def _save_image(path: str,
                width: int,
                height: int,
                orientation: Optional[int] = None) -> None:
    """Save a black image of ``width`` x ``height`` stored pixels to
    ``path`` (its format by its extension), with an EXIF orientation tag
    if ``orientation`` is given."""
    exif = Image.Exif()
    if orientation is not None:
        exif[_ORIENTATION] = orientation
    Image.new('RGB', (width, height)).save(path, exif=exif)


def _write_jpeg_coco(root, sizes: Sequence[Tuple[int, int]]) -> str:
    """:func:`_write_coco` with a JPEG of each of the annotated ``sizes``
    (``width, height``), ``1.jpg``, ``2.jpg``, ..., to be saved by the
    test."""
    images = [
        dict(id=i, file_name=f'{i}.jpg', width=width, height=height)
        for i, (width, height) in enumerate(sizes, 1)
    ]
    annotations = [
        dict(
            id=image['id'],
            image_id=image['id'],
            category_id=1,
            bbox=[2, 2, 10, 10],
            area=100,
            iscrowd=0) for image in images
    ]
    return _write_coco(root, _coco(images=images, annotations=annotations))


def _with_load_step(cfg: Config, **load_image: str) -> Config:
    """``cfg`` whose training pipeline loads images with
    ``LoadImageFromFile(**load_image)``."""
    cfg.train_dataloader.dataset.pipeline = [
        dict(type='LoadImageFromFile', **load_image)
    ]
    return cfg


def test_coco_image_turned_by_its_exif_orientation_is_an_error(tmp_path):
    root = _write_jpeg_coco(tmp_path / 'coco', [(32, 24), (32, 24)])
    turned = root + 'train/1.jpg'
    _save_image(turned, 32, 24, orientation=6)
    _save_image(root + 'train/2.jpg', 32, 24, orientation=1)
    # the training pipeline's decoding turns the first image on its side
    assert mmcv.imread(turned).shape == (32, 24, 3)
    assert mmcv.imread(root + 'train/2.jpg').shape == (24, 32, 3)
    with pytest.raises(ValueError) as error:
        check_data_roots(_coco_cfg(root), check_images=True)
    message = str(error.value)
    assert f'- 1 images of {root}annotations/instances_train.json ' \
        '(train_dataloader.dataset.ann_file) have an EXIF orientation (5 ' \
        'to 8) that swaps their width and height when LoadImageFromFile ' \
        'turns them by it, but their `width` and `height` in the file are ' \
        f'those of the stored pixels: {turned} (32x24 stored and in the ' \
        'file, 24x32 loaded).' in message
    assert "LoadImageFromFile(color_type='color_ignore_orientation') in " \
        'every pipeline of this data' in message
    assert '2.jpg' not in message
    # loaded as stored, the image is the size of its entry
    assert mmcv.imread(
        turned, flag='color_ignore_orientation').shape == (24, 32, 3)
    check_data_roots(
        _with_load_step(
            _coco_cfg(root), color_type='color_ignore_orientation'))


def test_coco_entry_of_the_turned_size_needs_a_turning_pipeline(tmp_path):
    root = _write_jpeg_coco(tmp_path / 'coco', [(24, 32)])
    turned = root + 'train/1.jpg'
    _save_image(turned, 32, 24, orientation=8)
    assert mmcv.imread(turned).shape == (32, 24, 3)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        check_data_roots(_coco_cfg(root))
    # the flag 'unchanged' ignores the orientation
    assert mmcv.imread(turned, flag='unchanged').shape == (24, 32, 3)
    with pytest.raises(ValueError) as error:
        check_data_roots(
            _with_load_step(_coco_cfg(root), color_type='unchanged'))
    message = str(error.value)
    assert 'their `width` and `height` in the file are those of the turned ' \
        "image, but LoadImageFromFile (color_type='unchanged', " \
        "imdecode_backend='cv2') loads them as stored: " \
        f'{turned} (32x24 stored and loaded, 24x32 in the file).' in message
    assert "Load them turned, with LoadImageFromFile(color_type='color')" \
        in message


def test_coco_image_of_another_size_is_an_error(tmp_path):
    root = _write_jpeg_coco(tmp_path / 'coco', [(32, 24), (32, 24)])
    _save_image(root + 'train/1.jpg', 24, 16)
    _save_image(root + 'train/2.jpg', 24, 16, orientation=6)
    assert mmcv.imread(root + 'train/2.jpg').shape == (24, 16, 3)
    with pytest.raises(ValueError) as error:
        check_data_roots(_coco_cfg(root))
    message = str(error.value)
    assert f'- 2 images of {root}annotations/instances_train.json ' \
        '(train_dataloader.dataset.ann_file) are not the size (`width` x ' \
        '`height`) of their entry in the file: ' \
        f'{root}train/1.jpg (32x24 in the file, 24x16 loaded), ' \
        f'{root}train/2.jpg (32x24 in the file, 16x24 loaded).' in message
    assert 'set their `width` and `height` to the loaded size' in message


def test_check_images_accepts_images_over_pils_limit(monkeypatch,
                                                     tiny_shapes_coco):
    # as if the images were larger than PIL's decompression-bomb limit,
    # but not OpenCV's
    monkeypatch.setattr(Image, 'MAX_IMAGE_PIXELS', 100)
    image = tiny_shapes_coco + 'train/' + sorted(
        os.listdir(tiny_shapes_coco + 'train'))[0]
    with pytest.raises(Image.DecompressionBombError):
        Image.open(image)
    assert mmcv.imread(image) is not None
    check_data_roots(_coco_cfg(tiny_shapes_coco), check_images=True)
    assert Image.MAX_IMAGE_PIXELS == 100


def _write_blank_png(path: str, width: int, height: int) -> None:
    """Write a black 1-bit PNG of ``width`` x ``height``, compressed row by
    row, without holding its pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack('>I', len(data)) + kind + data +
                struct.pack('>I', zlib.crc32(kind + data)))

    row = bytes(1 + (width + 7) // 8)  # filter type 0, then the pixels
    compressor = zlib.compressobj()
    pixels = b''.join(compressor.compress(row)
                      for _ in range(height)) + compressor.flush()
    header = struct.pack('>IIBBBBB', width, height, 1, 0, 0, 0, 0)
    with open(path, 'wb') as f:
        f.write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', header) +
                chunk(b'IDAT', pixels) + chunk(b'IEND', b''))


def test_coco_image_over_opencvs_limit_is_an_error(monkeypatch, tmp_path):
    # OpenCV decodes at most 2**30 pixels, unless told otherwise
    sizes = [(2**15, 2**15 + 1), (16, 16)]
    root = _write_coco(
        tmp_path / 'coco',
        _coco(images=[
            dict(id=i, file_name=f'{i}.png', width=width, height=height)
            for i, (width, height) in enumerate(sizes, 1)
        ]))
    for i, (width, height) in enumerate(sizes, 1):
        _write_blank_png(f'{root}train/{i}.png', width, height)
    with pytest.raises(cv2.error, match='CV_IO_MAX_IMAGE_PIXELS'):
        mmcv.imread(root + 'train/1.png')
    assert mmcv.imread(root + 'train/2.png').shape == (16, 16, 3)
    with pytest.raises(ValueError) as error:
        check_data_roots(_coco_cfg(root), check_images=True)
    message = str(error.value)
    assert f'- 1 images of {root}annotations/instances_train.json ' \
        '(train_dataloader.dataset.ann_file) have more pixels than OpenCV ' \
        'decodes (OPENCV_IO_MAX_IMAGE_PIXELS = 1073741824): ' \
        f'{root}train/1.png (32768x32769 = 1073774592 pixels). ' \
        'LoadImageFromFile would stop on them.' in message
    assert '`export OPENCV_IO_MAX_IMAGE_PIXELS=1073774592`' in message
    assert '2.png' not in message
    monkeypatch.setenv('OPENCV_IO_MAX_IMAGE_PIXELS', str(2**31))
    check_data_roots(_coco_cfg(root))


def test_check_images_names_class_images_over_opencvs_limit(
        monkeypatch, cls_demo, shapes_cls):
    folder = osp.join(shapes_cls, 'train', 'ring')
    image = osp.join(folder, sorted(os.listdir(folder))[0])
    _save_image(image, 64, 64)
    monkeypatch.setenv('OPENCV_IO_MAX_IMAGE_PIXELS', str(64 * 64 - 1))
    cfg = _cls_cfg(cls_demo, shapes_cls)
    check_data_roots(cfg, ['train_dataloader'])  # images are not read
    with pytest.raises(ValueError) as error:
        check_data_roots(cfg, ['train_dataloader'], check_images=True)
    message = str(error.value)
    assert '- 1 images of ' + osp.join(shapes_cls, 'train') + \
        ' (train_dataloader.dataset) have more pixels than OpenCV decodes ' \
        f'(OPENCV_IO_MAX_IMAGE_PIXELS = 4095): {image} (64x64 = 4096 ' \
        'pixels).' in message


@pytest.mark.parametrize('links', [dict(loop='.'), dict(a='b', b='a')])
def test_symlink_loop_in_class_folder_is_named(cls_demo, shapes_cls, links):
    folder = osp.join(shapes_cls, 'train', 'ring')
    for name, target in links.items():
        os.symlink(target, osp.join(folder, name))
    # MMPretrain stops on it with a bare error
    datasets = pytest.importorskip('mmpretrain.datasets')
    with pytest.raises(OSError, match='Too many levels of symbolic links'):
        datasets.CustomDataset(data_root=osp.join(shapes_cls, 'train'))
    with pytest.raises(ValueError) as error:
        check_data_roots(_cls_cfg(cls_demo, shapes_cls), ['train_dataloader'])
    message = str(error.value)
    paths = ', '.join(osp.join(folder, name) for name in sorted(links))
    assert f'- {len(links)} symbolic links under ' + \
        osp.join(shapes_cls, 'train') + ' (train_dataloader.dataset) lead ' \
        f'back to a folder they are in, or to each other: {paths}. ' in message
    assert 'Remove these links (`rm LINK`, without a trailing slash, ' \
        'removes the link only).' in message
