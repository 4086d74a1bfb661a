# Mask R-CNN R-50 DLA-L FPN 1x from an ImageNet DLA-L checkpoint
# (`mask_rcnn_dla50-in1k-pre_fpn_1x_coco.py`) with automatic mixed precision
# (fp16 autocast with dynamic loss scaling); needs a GPU.
_base_ = './mask_rcnn_dla50-in1k-pre_fpn_1x_coco.py'

optim_wrapper = dict(type='AmpOptimWrapper', loss_scale='dynamic')
