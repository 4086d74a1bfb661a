# `faster_rcnn_dla101_fpn_1x_coco.py` with the backbone, layer attention
# included, from the last checkpoint of `dla101_8xb32_in1k.py`; override
# it with `--cfg-options model.backbone.init_cfg.checkpoint=<path or URL>`.
_base_ = './faster_rcnn_dla50-in1k-pre_fpn_1x_coco.py'

model = dict(
    backbone=dict(
        depth=101,
        init_cfg=dict(checkpoint='work_dirs/dla101_8xb32_in1k/epoch_100.pth')))
