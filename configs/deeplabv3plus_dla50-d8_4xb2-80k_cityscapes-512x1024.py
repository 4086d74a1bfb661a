# DeepLabV3+ with a dilated ResNet-50 DLA-L backbone (output stride 8) on
# Cityscapes, 512 x 1024 crops, 80k iterations (SGD 0.01, poly decay,
# 4 GPUs x 2 images): mmseg's
# `deeplabv3plus/deeplabv3plus_r50-d8_4xb2-80k_cityscapes-512x1024.py` with
# the backbone swapped.
#
# The backbone is mmseg's ResNetV1c (deep 3x3 stem) with layer attention in
# every stage. It starts from the ImageNet ResNet-50-V1c that mmseg's R-50
# models start from (open-mmlab://resnet50_v1c; ResNetDLA renames the stem
# keys of MMSegmentation's layout while loading) with every layer attention
# at identity (zero_init_attention=True): at the first iteration the
# segmentor computes exactly mmseg's DeepLabV3+ R-50-D8, and the layer
# attention is learnt on Cityscapes. The deep stem (not torchvision's 7x7
# one) keeps mmseg's published R-50-D8 results the baseline of this config.
#
# Dilation: layer3 and layer4 keep the resolution of layer2 (1/8; strides
# (1, 2, 1, 1)) and dilate the 3x3 convolutions of their blocks by 2 and 4
# (dilations (1, 1, 2, 4); contract_dilation=True gives the first block of
# each 1 and 2), as in mmseg. The layer attention is not dilated: its
# depthwise 3x3 convolutions (DLA-L's value and update kernels) work at the
# stage's resolution, so in layer3 and layer4 they see a neighbourhood 2 and
# 4 times smaller in the image than in an undilated network, and cost 4 and
# 16 times as much; its pooled queries, keys and context do not depend on
# the resolution. Starting at identity, they learn at that scale.
#
# Inherited unchanged from the mmseg base: SyncBN (norm_cfg; the attention
# norms too), norm_eval=False, no frozen stages.
_base_ = ('mmseg::deeplabv3plus/'
          'deeplabv3plus_r50-d8_4xb2-80k_cityscapes-512x1024.py')

model = dict(
    # mmseg's EncoderDecoder passes its pretrained on to the backbone, which
    # takes the checkpoint from init_cfg instead
    pretrained=None,
    backbone=dict(
        type='mmdla.ResNetDLA',
        deep_stem=True,
        variant='light',
        dual_path=True,
        drop_path_rate=0.0,
        zero_init_attention=True,
        init_cfg=dict(type='Pretrained',
                      checkpoint='open-mmlab://resnet50_v1c')))

# MMSegmentation trains by iterations (the base's IterBasedTrainLoop, kept:
# mmdla.PreemptibleEpochBasedTrainLoop is epoch-based); --resume goes on from
# the last checkpoint, saved every 8k iterations.
default_hooks = dict(
    checkpoint=dict(type='mmdla.AtomicCheckpointHook'),
    finite_loss=dict(type='mmdla.FiniteLossHook'),
    random_state=dict(type='mmdla.RandomStateHook'))
# loads checkpoints (resume, load_from) without letting them run code, also
# under MMSegmentation's tools
runner_type = 'mmdla.SafeLoadRunner'
# a stuck rank ends the run after 15 minutes (torch's default: 30)
env_cfg = dict(dist_cfg=dict(timeout=900))
