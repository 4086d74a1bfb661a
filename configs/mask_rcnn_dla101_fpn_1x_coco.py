# Mask R-CNN with a ResNet-101 DLA-L backbone and FPN on COCO 2017, 1x
# schedule. The backbone starts from torchvision's ImageNet ResNet-101 with
# every layer attention at identity, as in
# `mask_rcnn_dla50_fpn_1x_coco.py`; from an ImageNet DLA checkpoint:
# `mask_rcnn_dla101-in1k-pre_fpn_1x_coco.py`.
_base_ = './mask_rcnn_dla50_fpn_1x_coco.py'

model = dict(
    backbone=dict(
        depth=101,
        init_cfg=dict(checkpoint='torchvision://resnet101')))
