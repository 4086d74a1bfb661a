# Faster R-CNN with a ResNet-18 DLA-L backbone, trained from scratch on the
# bundled synthetic shapes (400 + 100 images of 128 x 128, three classes),
# sized to train in minutes on two CPU cores: a half-width backbone (32 to
# 256 channels), a 64-channel FPN, a 256-wide box head, 300 proposals and
# 128 sampled RoIs per image.
# Data: `python tools/misc/generate_demo_data.py` (run by tools/demo.py).
_base_ = 'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'

data_root = 'data/shapes_coco/'
metainfo = dict(
    classes=('circle', 'square', 'triangle'),
    palette=[(220, 20, 60), (0, 90, 230), (250, 150, 0)])
image_scale = (128, 128)

model = dict(
    backbone=dict(
        _delete_=True,
        type='mmdla.ResNetDLA',
        depth=18,
        stem_channels=32,
        base_channels=32,
        out_indices=(0, 1, 2, 3),
        frozen_stages=-1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=False),
    neck=dict(in_channels=[32, 64, 128, 256], out_channels=64),
    rpn_head=dict(
        in_channels=64,
        feat_channels=64,
        # shapes are 14 to 48 pixels wide: anchors of 16 to 256 pixels
        anchor_generator=dict(scales=[4])),
    roi_head=dict(
        bbox_roi_extractor=dict(
            roi_layer=dict(sampling_ratio=2), out_channels=64),
        bbox_head=dict(in_channels=64, fc_out_channels=256, num_classes=3)),
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=600, max_per_img=300),
        rcnn=dict(sampler=dict(num=128))),
    test_cfg=dict(rpn=dict(nms_pre=300, max_per_img=300)))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=image_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=image_scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor'))
]
# small images load in microseconds: no worker processes on two cores
train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_train.json',
        data_prefix=dict(img='train/'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_val.json',
        data_prefix=dict(img='val/'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json')
test_evaluator = val_evaluator

# on SIGTERM/SIGUSR1: save the iteration, exit 75; --resume goes on mid-epoch
train_cfg = dict(
    type='mmdla.PreemptibleEpochBasedTrainLoop', max_epochs=12, val_interval=2)
param_scheduler = [
    dict(
        type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=100),
    dict(
        type='MultiStepLR',
        begin=0,
        end=12,
        by_epoch=True,
        milestones=[9, 11],
        gamma=0.1)
]
# lr 0.02 is set for one process with batch 4
auto_scale_lr = dict(base_batch_size=4)

default_hooks = dict(
    logger=dict(interval=25),
    checkpoint=dict(
        type='mmdla.AtomicCheckpointHook', interval=1, max_keep_ckpts=3),
    finite_loss=dict(type='mmdla.FiniteLossHook'),
    random_state=dict(type='mmdla.RandomStateHook'))
log_processor = dict(window_size=25)
randomness = dict(seed=0)
# loads checkpoints (resume, load_from) without letting them run code, also
# under MMDetection's and MMPretrain's tools
runner_type = 'mmdla.SafeLoadRunner'
# a stuck rank ends the run after 15 minutes (torch's default: 30)
env_cfg = dict(dist_cfg=dict(timeout=900))
# pictures of the predictions (tools/test.py --show-dir, tools/infer.py
# --out-dir) drawn on the images enlarged 3 times, 384 x 384: drawn at 128 x
# 128, the labels of neighbouring shapes cover each other
visualizer = dict(type='mmdla.ScaledDetLocalVisualizer', scale=3)
