# Faster R-CNN with the static layer-attention baseline (MRLA-light: DLA-L
# with its dual path switched off) on COCO 2017, 1x schedule. The backbone
# starts from the checkpoint of `mrla50_8xb32_in1k.py`.
_base_ = './faster_rcnn_dla50_fpn_1x_coco.py'

model = dict(
    backbone=dict(
        dual_path=False,
        init_cfg=dict(checkpoint='work_dirs/mrla50_8xb32_in1k/epoch_100.pth')))
