# Bottleneck ResNet-110 for CIFAR with Dynamic Layer Attention, base variant
# (DLA-B), on CIFAR-100.
_base_ = './dla110_1xb128_cifar100.py'

model = dict(backbone=dict(variant='base'))
