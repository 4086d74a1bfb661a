# DeepLabV3+ with the static layer-attention baseline (MRLA-light: DLA-L
# with its dual path switched off) on Cityscapes, 512 x 1024 crops, 80k
# iterations; same recipe, dilation and start (ImageNet ResNet-50-V1c,
# attention at identity) as
# `deeplabv3plus_dla50-d8_4xb2-80k_cityscapes-512x1024.py`.
_base_ = './deeplabv3plus_dla50-d8_4xb2-80k_cityscapes-512x1024.py'

model = dict(backbone=dict(dual_path=False))
