# ResNet-101 with Dynamic Layer Attention, base variant (DLA-B), on
# ImageNet-1K.
_base_ = './dla101_8xb32_in1k.py'

model = dict(backbone=dict(variant='base'))
