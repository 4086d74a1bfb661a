# UperNet with a ResNet-50 DLA-L backbone on ADE20K, 512 x 512 crops, 160k
# iterations (SGD 0.01, poly decay, 4 GPUs x 4 images): mmseg's
# `upernet/upernet_r50_4xb4-160k_ade20k-512x512.py` with the backbone
# swapped.
#
# The backbone is mmseg's ResNetV1c (deep 3x3 stem, contract_dilation=True)
# with layer attention in every stage. It starts from the ImageNet
# ResNet-50-V1c that mmseg's R-50 models start from
# (open-mmlab://resnet50_v1c; ResNetDLA renames the stem keys of
# MMSegmentation's layout while loading) with every layer attention at
# identity (zero_init_attention=True): at the first iteration the segmentor
# computes exactly mmseg's UperNet R-50, and the layer attention is learnt on
# ADE20K. The deep stem (not torchvision's 7x7 one) keeps mmseg's published
# R-50 results the baseline of this config.
#
# Inherited unchanged from the mmseg base: SyncBN (norm_cfg; the attention
# norms too), norm_eval=False, no frozen stages, strides (1, 2, 2, 2) without
# dilation.
_base_ = 'mmseg::upernet/upernet_r50_4xb4-160k_ade20k-512x512.py'

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
# the last checkpoint, saved every 16k iterations.
default_hooks = dict(
    checkpoint=dict(type='mmdla.AtomicCheckpointHook'),
    finite_loss=dict(type='mmdla.FiniteLossHook'),
    random_state=dict(type='mmdla.RandomStateHook'))
# loads checkpoints (resume, load_from) without letting them run code, also
# under MMSegmentation's tools
runner_type = 'mmdla.SafeLoadRunner'
# a stuck rank ends the run after 15 minutes (torch's default: 30)
env_cfg = dict(dist_cfg=dict(timeout=900))
