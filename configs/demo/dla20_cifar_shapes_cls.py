# Image classifier with a CIFAR-style DLA-L backbone (bottleneck depth 20,
# 64/128/256 channels) on the bundled synthetic shape classification set
# (1200 + 300 images of 32 x 32, six classes); a few minutes on two CPU cores.
# Data: `python tools/misc/generate_demo_data.py` (run by tools/demo.py).
_base_ = [
    'mmpretrain::_base_/models/resnet18_cifar.py',
    'mmpretrain::_base_/datasets/cifar10_bs16.py',
    'mmpretrain::_base_/schedules/cifar10_bs128.py',
    'mmpretrain::_base_/default_runtime.py'
]

data_root = 'data/shapes_cls/'
metainfo = dict(
    classes=('circle', 'square', 'triangle', 'star', 'cross', 'ring'))

model = dict(
    backbone=dict(_delete_=True, type='mmdla.ResNetDLACifar', depth=20),
    head=dict(num_classes=6, in_channels=256))

data_preprocessor = dict(
    num_classes=6,
    mean=[127.5, 127.5, 127.5],
    std=[64.0, 64.0, 64.0],
    # images are read as BGR
    to_rgb=True)

train_dataloader = dict(
    batch_size=64,
    num_workers=0,
    dataset=dict(
        _delete_=True,
        type='CustomDataset',
        data_root=data_root,
        data_prefix='train',
        metainfo=metainfo,
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='RandomCrop', crop_size=32, padding=4),
            dict(type='RandomFlip', prob=0.5, direction='horizontal'),
            dict(type='PackInputs')
        ]))
val_dataloader = dict(
    batch_size=100,
    num_workers=0,
    dataset=dict(
        _delete_=True,
        type='CustomDataset',
        data_root=data_root,
        data_prefix='val',
        metainfo=metainfo,
        pipeline=[dict(type='LoadImageFromFile'),
                  dict(type='PackInputs')]))
test_dataloader = val_dataloader

optim_wrapper = dict(optimizer=dict(lr=0.05))
param_scheduler = dict(milestones=[10, 13])
train_cfg = dict(max_epochs=15, val_interval=1)
auto_scale_lr = dict(base_batch_size=64)

default_hooks = dict(
    logger=dict(interval=5), checkpoint=dict(interval=5, max_keep_ckpts=2))
randomness = dict(seed=0)
