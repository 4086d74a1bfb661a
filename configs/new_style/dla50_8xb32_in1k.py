# ResNet-50 DLA-L on ImageNet-1K as a pure-Python (``read_base``) config.
#
# The same settings as ``configs/dla50_8xb32_in1k.py``, written out in full:
# mmpretrain's wheel ships no pure-Python bases to inherit from. A project
# inherits it from the installed package with
#
#     from mmengine.config import read_base
#     with read_base():
#         from mmdla.configs.new_style.dla50_8xb32_in1k import *
from mmcv.transforms import CenterCrop, LoadImageFromFile, RandomFlip
from mmengine.dataset import DefaultSampler
from mmengine.hooks import (DistSamplerSeedHook, IterTimerHook, LoggerHook,
                            ParamSchedulerHook)
from mmengine.optim import LinearLR, MultiStepLR
from mmengine.visualization import LocalVisBackend
from mmpretrain.datasets import (ImageNet, PackInputs, RandomResizedCrop,
                                 ResizeEdge)
from mmpretrain.engine.hooks import VisualizationHook
from mmpretrain.evaluation import Accuracy
from mmpretrain.models import (CrossEntropyLoss, GlobalAveragePooling,
                               ImageClassifier, LinearClsHead)
from mmpretrain.visualization import UniversalVisualizer
from torch.optim import SGD

from mmdla.engine import (AtomicCheckpointHook, FiniteLossHook,
                          PreemptibleEpochBasedTrainLoop, RandomStateHook,
                          SafeLoadRunner)
from mmdla.models import ResNetDLA

default_scope = 'mmpretrain'

# model: ResNet-50 with DLA-L, DropPath 0.2 on every attention branch
model = dict(
    type=ImageClassifier,
    backbone=dict(
        type=ResNetDLA,
        depth=50,
        num_stages=4,
        out_indices=(3, ),
        style='pytorch',
        variant='light',
        dual_path=True,
        drop_path_rate=0.2),
    neck=dict(type=GlobalAveragePooling),
    head=dict(
        type=LinearClsHead,
        num_classes=1000,
        in_channels=2048,
        loss=dict(type=CrossEntropyLoss, loss_weight=1.0),
        topk=(1, 5)))

# data: RandomResizedCrop 224 + flip; test ResizeEdge 256 + CenterCrop 224
data_preprocessor = dict(
    num_classes=1000,
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)

train_pipeline = [
    dict(type=LoadImageFromFile),
    dict(type=RandomResizedCrop, scale=224),
    dict(type=RandomFlip, prob=0.5, direction='horizontal'),
    dict(type=PackInputs),
]
test_pipeline = [
    dict(type=LoadImageFromFile),
    dict(type=ResizeEdge, scale=256, edge='short'),
    dict(type=CenterCrop, crop_size=224),
    dict(type=PackInputs),
]

train_dataloader = dict(
    batch_size=32,
    num_workers=5,
    persistent_workers=True,
    dataset=dict(
        type=ImageNet,
        data_root='data/imagenet',
        split='train',
        pipeline=train_pipeline),
    sampler=dict(type=DefaultSampler, shuffle=True))
val_dataloader = dict(
    batch_size=32,
    num_workers=5,
    persistent_workers=True,
    dataset=dict(
        type=ImageNet,
        data_root='data/imagenet',
        split='val',
        pipeline=test_pipeline),
    sampler=dict(type=DefaultSampler, shuffle=False))
val_evaluator = dict(type=Accuracy, topk=(1, 5))
test_dataloader = val_dataloader
test_evaluator = val_evaluator

# schedule: 100 epochs, SGD 0.1 for a total batch of 256 (8 x 32), 3 linear
# warm-up epochs, lr x0.1 at epochs 30, 60 and 90
optim_wrapper = dict(
    optimizer=dict(type=SGD, lr=0.1, momentum=0.9, weight_decay=1e-4))
param_scheduler = [
    dict(
        type=LinearLR,
        start_factor=0.01,
        by_epoch=True,
        begin=0,
        end=3,
        convert_to_iter_based=True),
    dict(
        type=MultiStepLR,
        by_epoch=True,
        begin=0,
        end=100,
        milestones=[30, 60, 90],
        gamma=0.1),
]
train_cfg = dict(
    type=PreemptibleEpochBasedTrainLoop, max_epochs=100, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=256)

# runtime
default_hooks = dict(
    timer=dict(type=IterTimerHook),
    logger=dict(type=LoggerHook, interval=100),
    param_scheduler=dict(type=ParamSchedulerHook),
    checkpoint=dict(type=AtomicCheckpointHook, interval=1),
    finite_loss=dict(type=FiniteLossHook),
    random_state=dict(type=RandomStateHook),
    sampler_seed=dict(type=DistSamplerSeedHook),
    visualization=dict(type=VisualizationHook, enable=False))
# loads checkpoints (resume, load_from) without letting them run code, also
# under MMDetection's and MMPretrain's tools
runner_type = SafeLoadRunner
env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl', timeout=900))
vis_backends = [dict(type=LocalVisBackend)]
visualizer = dict(type=UniversalVisualizer, vis_backends=vis_backends)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=None, deterministic=False)
