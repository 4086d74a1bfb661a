# Faster R-CNN R-50 DLA-L FPN 1x with automatic mixed precision (fp16
# autocast with dynamic loss scaling); needs a GPU.
_base_ = './faster_rcnn_dla50_fpn_1x_coco.py'

optim_wrapper = dict(type='AmpOptimWrapper', loss_scale='dynamic')
