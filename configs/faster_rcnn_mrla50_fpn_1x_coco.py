# Faster R-CNN with the static layer-attention baseline (MRLA-light: DLA-L
# with its dual path switched off) on COCO 2017, 1x schedule. The backbone
# starts from torchvision's ImageNet ResNet-50 with every layer attention at
# identity, as in `faster_rcnn_dla50_fpn_1x_coco.py`; from an ImageNet MRLA
# checkpoint: `faster_rcnn_mrla50-in1k-pre_fpn_1x_coco.py`.
_base_ = './faster_rcnn_dla50_fpn_1x_coco.py'

model = dict(backbone=dict(dual_path=False))
