# Image classifier with a CIFAR-style DLA-L backbone (bottleneck depth 20,
# 64/128/256 channels) on the bundled synthetic shape classification set
# (1200 + 300 images of 32 x 32, six classes); minutes on two CPU cores.
# Data: `python tools/misc/generate_demo_data.py` (run by tools/demo.py).
_base_ = [
    'mmpretrain::_base_/models/resnet18_cifar.py',
    'mmpretrain::_base_/datasets/cifar10_bs16.py',
    'mmpretrain::_base_/schedules/cifar10_bs128.py',
    'mmpretrain::_base_/default_runtime.py'
]

data_root = 'data/shapes_cls/'
# MMPretrain's CustomDataset labels the class sub-folders in sorted order;
# pinned here, a missing or extra folder in a split is an error instead of
# silently shifted labels (tools/train.py and tools/test.py name it)
metainfo = dict(
    classes=('circle', 'cross', 'ring', 'square', 'star', 'triangle'))

model = dict(
    backbone=dict(_delete_=True, type='mmdla.ResNetDLACifar', depth=20),
    head=dict(num_classes=6, in_channels=256))

data_preprocessor = dict(
    num_classes=6,
    mean=[127.5, 127.5, 127.5],
    std=[64.0, 64.0, 64.0],
    # images are read as BGR
    to_rgb=True)

# small images load in microseconds: no worker processes on two cores (set
# explicitly: MMPretrain's tools/train.py would default it to True)
train_dataloader = dict(
    batch_size=32,
    num_workers=0,
    persistent_workers=False,
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
    persistent_workers=False,
    dataset=dict(
        _delete_=True,
        type='CustomDataset',
        data_root=data_root,
        data_prefix='val',
        metainfo=metainfo,
        pipeline=[dict(type='LoadImageFromFile'),
                  dict(type='PackInputs')]))
test_dataloader = val_dataloader

# AdamW learns this small set from scratch in far fewer steps than SGD
optim_wrapper = dict(
    optimizer=dict(_delete_=True, type='AdamW', lr=0.002, weight_decay=0.01))
param_scheduler = dict(milestones=[15, 18])
# on SIGTERM/SIGUSR1: save the iteration, exit 75; --resume goes on mid-epoch
# (MMPretrain's base selects its loop with by_epoch=True, which excludes type)
train_cfg = dict(
    _delete_=True,
    type='mmdla.PreemptibleEpochBasedTrainLoop',
    max_epochs=20,
    val_interval=2)
auto_scale_lr = dict(base_batch_size=32)

default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(
        type='mmdla.AtomicCheckpointHook', interval=5, max_keep_ckpts=2),
    finite_loss=dict(type='mmdla.FiniteLossHook'),
    random_state=dict(type='mmdla.RandomStateHook'),
    # paint predictions on 4x enlarged images, so that the labels are legible
    visualization=dict(resize=128))
randomness = dict(seed=0)
# loads checkpoints (resume, load_from) without letting them run code, also
# under MMDetection's and MMPretrain's tools
runner_type = 'mmdla.SafeLoadRunner'
# a stuck rank ends the run after 15 minutes (torch's default: 30)
env_cfg = dict(dist_cfg=dict(timeout=900))
