# UperNet with the static layer-attention baseline (MRLA-light: DLA-L with
# its dual path switched off) on ADE20K, 512 x 512 crops, 160k iterations;
# same recipe and start (ImageNet ResNet-50-V1c, attention at identity) as
# `upernet_dla50_4xb4-160k_ade20k-512x512.py`.
_base_ = './upernet_dla50_4xb4-160k_ade20k-512x512.py'

model = dict(backbone=dict(dual_path=False))
