# DINO with 4 feature scales on a ResNet-50 DLA-L backbone, COCO 2017,
# mmdet's 12-epoch recipe: AdamW lr 1e-4 (the backbone, its layer attention
# included, at 1e-5: lr_mult=0.1), weight decay 1e-4, gradient clipping at
# 0.1, lr x0.1 at epoch 11, a total batch of 16. The neck takes stages 2-4
# (out_indices=(1, 2, 3)) and adds a fourth, downsampled level.
#
# The backbone starts from torchvision's ImageNet ResNet-50 with every layer
# attention at identity (zero_init_attention=True), as in
# `faster_rcnn_dla50_fpn_1x_coco.py`: at the first iteration the detector
# computes exactly mmdet's DINO-4scale R-50.
#
# mmdet's DINO freezes the backbone's norms (norm_cfg requires_grad=False),
# and the backbone's norm_cfg also reaches the attention norms, which
# zero_init_attention starts at zero: frozen, they would keep every layer
# attention at identity for good. The attention norms therefore get a
# trainable norm_cfg of their own through `layer_attention` (DLA-L's step,
# what variant='light', dual_path=True choose); the ResNet's norms stay
# frozen as in the base.
#
# Inherited unchanged from the mmdet base: frozen_stages=1, norm_eval=True
# and auto_scale_lr=dict(base_batch_size=16) (disabled).
_base_ = 'mmdet::dino/dino-4scale_r50_8xb2-12e_coco.py'

model = dict(
    backbone=dict(
        type='mmdla.ResNetDLA',
        layer_attention=dict(
            type='DLALightStep',
            norm_cfg=dict(type='BN', requires_grad=True)),
        drop_path_rate=0.0,
        zero_init_attention=True,
        init_cfg=dict(type='Pretrained',
                      checkpoint='torchvision://resnet50')))

# on SIGTERM/SIGUSR1: save the iteration, exit 75; --resume goes on mid-epoch
train_cfg = dict(type='mmdla.PreemptibleEpochBasedTrainLoop')
default_hooks = dict(
    checkpoint=dict(type='mmdla.AtomicCheckpointHook'),
    finite_loss=dict(type='mmdla.FiniteLossHook'),
    random_state=dict(type='mmdla.RandomStateHook'))
# loads checkpoints (resume, load_from) without letting them run code, also
# under MMDetection's and MMPretrain's tools
runner_type = 'mmdla.SafeLoadRunner'
# a stuck rank ends the run after 15 minutes (torch's default: 30)
env_cfg = dict(dist_cfg=dict(timeout=900))
