# Semantic FPN with a ResNet-18 DLA-L backbone, trained from scratch on the
# bundled synthetic shapes segmentation set (the 400 + 100 images of 128 x
# 128 of the detection demo, with a label map each: background, circle,
# square, triangle), sized to train in minutes on two CPU cores: the
# half-width backbone of the detection demo (32 to 256 channels), a
# 64-channel FPN and a 64-channel head, batch 8, AdamW, 8 epochs.
# Data: `python tools/misc/generate_demo_data.py` (run by tools/demo.py).
_base_ = [
    'mmseg::_base_/models/fpn_r50.py', 'mmseg::_base_/default_runtime.py'
]

data_root = 'data/shapes_seg/'
# label map values are the indices of these classes (0: background), so
# reduce_zero_label stays False; palette in RGB
metainfo = dict(
    classes=('background', 'circle', 'square', 'triangle'),
    palette=[(0, 0, 0), (220, 20, 60), (0, 90, 230), (250, 150, 0)])
image_size = (128, 128)
norm_cfg = dict(type='BN', requires_grad=True)

data_preprocessor = dict(size=image_size)
model = dict(
    data_preprocessor=data_preprocessor,
    # no ImageNet weights: the demo runs without a download
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='mmdla.ResNetDLA',
        depth=18,
        stem_channels=32,
        base_channels=32,
        out_indices=(0, 1, 2, 3),
        frozen_stages=-1,
        norm_cfg=norm_cfg,
        norm_eval=False),
    neck=dict(in_channels=[32, 64, 128, 256], out_channels=64),
    decode_head=dict(
        in_channels=[64, 64, 64, 64],
        channels=64,
        num_classes=4,
        norm_cfg=norm_cfg,
        # the mean over the pixels that are not ignored, as PyTorch's
        loss_decode=dict(avg_non_ignore=True)))

dataset_type = 'BaseSegDataset'
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')
]
# small images load in microseconds: no worker processes on two cores
train_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        metainfo=metainfo,
        data_prefix=dict(
            img_path='img_dir/train', seg_map_path='ann_dir/train'),
        img_suffix='.png',
        seg_map_suffix='.png',
        reduce_zero_label=False,
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        metainfo=metainfo,
        data_prefix=dict(img_path='img_dir/val', seg_map_path='ann_dir/val'),
        img_suffix='.png',
        seg_map_suffix='.png',
        reduce_zero_label=False,
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator

# AdamW learns this small set from scratch in far fewer steps than SGD
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=0.004, weight_decay=0.01))
# on SIGTERM/SIGUSR1: save the iteration, exit 75; --resume goes on mid-epoch
# (an epoch-based schedule, as in the other demos, instead of MMSeg's
# iteration-based one)
train_cfg = dict(
    type='mmdla.PreemptibleEpochBasedTrainLoop', max_epochs=8, val_interval=2)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=50),
    dict(
        type='PolyLR',
        power=0.9,
        eta_min=1e-5,
        begin=0,
        end=8,
        by_epoch=True,
        convert_to_iter_based=True)
]
# lr 0.004 is set for one process with batch 8
auto_scale_lr = dict(enable=False, base_batch_size=8)

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(
        type='mmdla.AtomicCheckpointHook', interval=1, max_keep_ckpts=2),
    finite_loss=dict(type='mmdla.FiniteLossHook'),
    random_state=dict(type='mmdla.RandomStateHook'),
    # draws nothing unless tools/test.py --show/--show-dir turns it on
    visualization=dict(type='SegVisualizationHook'))
log_processor = dict(by_epoch=True, window_size=10)
randomness = dict(seed=0)
# loads checkpoints (resume, load_from) without letting them run code, also
# under MMSegmentation's tools
runner_type = 'mmdla.SafeLoadRunner'
# a stuck rank ends the run after 15 minutes (torch's default: 30)
env_cfg = dict(dist_cfg=dict(timeout=900))
# pictures of the predictions (tools/test.py --show-dir, tools/infer.py
# --out-dir): classes painted at half opacity, so that the shapes show
visualizer = dict(alpha=0.5)
