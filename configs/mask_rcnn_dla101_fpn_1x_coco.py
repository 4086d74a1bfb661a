# Mask R-CNN with a ResNet-101 DLA-L backbone and FPN on COCO 2017, 1x
# schedule. The backbone starts from the checkpoint of
# `dla101_8xb32_in1k.py`; override it with
# `--cfg-options model.backbone.init_cfg.checkpoint=<path or URL>`.
_base_ = './mask_rcnn_dla50_fpn_1x_coco.py'

model = dict(
    backbone=dict(
        depth=101,
        init_cfg=dict(checkpoint='work_dirs/dla101_8xb32_in1k/epoch_100.pth')))
