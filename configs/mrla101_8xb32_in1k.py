# Static layer-attention baseline (MRLA-light) with a ResNet-101.
_base_ = './dla101_8xb32_in1k.py'

model = dict(backbone=dict(dual_path=False))
