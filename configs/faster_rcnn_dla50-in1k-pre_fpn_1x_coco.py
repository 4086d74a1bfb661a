# `faster_rcnn_dla50_fpn_1x_coco.py` with the backbone, layer attention
# included, from an ImageNet DLA-L checkpoint: the last one of
# `dla50_8xb32_in1k.py`, `work_dirs/dla50_8xb32_in1k/epoch_100.pth`
# (relative to the directory training is launched from). Point it elsewhere
# (a converted checkpoint of the authors' code, the last checkpoint of
# `dla50_r50-pre_8xb32-coslr-20e_in1k.py`) with
# `--cfg-options model.backbone.init_cfg.checkpoint=<path or URL>`.
_base_ = './faster_rcnn_dla50_fpn_1x_coco.py'

model = dict(
    backbone=dict(
        zero_init_attention=False,
        init_cfg=dict(
            checkpoint='work_dirs/dla50_8xb32_in1k/epoch_100.pth',
            prefix='backbone.')))
