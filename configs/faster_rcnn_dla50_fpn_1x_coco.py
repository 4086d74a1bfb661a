# Faster R-CNN with a ResNet-50 DLA-L backbone and FPN on COCO 2017, 1x
# schedule (12 epochs, SGD 0.02 for a total batch of 16, steps at 8 and 11).
#
# The backbone starts from the ImageNet checkpoint that
# `dla50_8xb32_in1k.py` writes to `work_dirs/dla50_8xb32_in1k/epoch_100.pth`
# (relative to the directory training is launched from). Point it elsewhere
# with `--cfg-options model.backbone.init_cfg.checkpoint=<path or URL>`.
#
# Inherited unchanged from the mmdet base: frozen_stages=1, norm_eval=True
# and auto_scale_lr=dict(enable=False, base_batch_size=16).
_base_ = 'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'

model = dict(
    backbone=dict(
        type='mmdla.ResNetDLA',
        variant='light',
        dual_path=True,
        drop_path_rate=0.0,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='work_dirs/dla50_8xb32_in1k/epoch_100.pth',
            prefix='backbone.')))

default_hooks = dict(
    checkpoint=dict(type='mmdla.AtomicCheckpointHook'),
    finite_loss=dict(type='mmdla.FiniteLossHook'),
    random_state=dict(type='mmdla.RandomStateHook'))
