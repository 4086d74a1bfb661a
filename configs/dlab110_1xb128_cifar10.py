# Bottleneck ResNet-110 for CIFAR with Dynamic Layer Attention, base variant
# (DLA-B), on CIFAR-10.
_base_ = './dla110_1xb128_cifar10.py'

model = dict(backbone=dict(variant='base'))
