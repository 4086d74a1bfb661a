# Static layer-attention baseline (MRLA-light): DLA-L with its dual path
# (context and update paths) switched off, same recipe as DLA-L.
_base_ = './dla50_8xb32_in1k.py'

model = dict(backbone=dict(dual_path=False))
