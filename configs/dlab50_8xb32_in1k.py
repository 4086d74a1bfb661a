# ResNet-50 with Dynamic Layer Attention, base variant (DLA-B: softmax
# attention over every earlier block of a stage), on ImageNet-1K.
_base_ = './dla50_8xb32_in1k.py'

model = dict(backbone=dict(variant='base'))
