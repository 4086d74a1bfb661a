# RetinaNet with a ResNet-50 DLA-L backbone and FPN on COCO 2017, mmdet's
# RetinaNet 1x schedule (12 epochs, SGD 0.01 for a total batch of 16, steps
# at 8 and 11).
#
# The backbone starts from torchvision's ImageNet ResNet-50 with every layer
# attention at identity (zero_init_attention=True), as in
# `faster_rcnn_dla50_fpn_1x_coco.py`: at the first iteration the detector
# computes exactly mmdet's RetinaNet R-50, and the layer attention is learnt
# on COCO.
#
# Inherited unchanged from the mmdet base: frozen_stages=1, norm_eval=True
# and auto_scale_lr=dict(enable=False, base_batch_size=16).
_base_ = 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'

model = dict(
    backbone=dict(
        type='mmdla.ResNetDLA',
        variant='light',
        dual_path=True,
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
