# Static layer-attention baseline (MRLA-light) on CIFAR-100: DLA-L with its
# dual path switched off, same recipe.
_base_ = './dla110_1xb128_cifar100.py'

model = dict(backbone=dict(dual_path=False))
