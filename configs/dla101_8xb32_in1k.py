# ResNet-101 with Dynamic Layer Attention (DLA-L) on ImageNet-1K.
_base_ = './dla50_8xb32_in1k.py'

model = dict(backbone=dict(depth=101))
