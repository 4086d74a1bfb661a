# Bottleneck ResNet-110 for CIFAR with Dynamic Layer Attention (DLA-L) on
# CIFAR-100, same recipe as on CIFAR-10 (see dla110_1xb128_cifar10.py).
_base_ = [
    'mmpretrain::_base_/models/resnet50_cifar.py',
    'mmpretrain::_base_/datasets/cifar100_bs16.py',
    'mmpretrain::_base_/schedules/cifar10_bs128.py',
    'mmpretrain::_base_/default_runtime.py',
]

model = dict(
    backbone=dict(
        _delete_=True,
        type='mmdla.ResNetDLACifar',
        depth=110,
        variant='light',
        dual_path=True,
        drop_path_rate=0.2),
    head=dict(num_classes=100, in_channels=256))

# persistent_workers set explicitly (num_workers is 2), so that MMPretrain's
# tools/train.py, which fills it in where unset, and ours build the same
train_dataloader = dict(batch_size=128, persistent_workers=True)
val_dataloader = dict(batch_size=128, persistent_workers=True)
test_dataloader = val_dataloader

# on SIGTERM/SIGUSR1: save the iteration, exit 75; --resume goes on mid-epoch
# (MMPretrain's base selects its loop with by_epoch=True, which excludes type)
train_cfg = dict(
    _delete_=True,
    type='mmdla.PreemptibleEpochBasedTrainLoop',
    max_epochs=180,
    val_interval=1)

default_hooks = dict(
    checkpoint=dict(type='mmdla.AtomicCheckpointHook'),
    finite_loss=dict(type='mmdla.FiniteLossHook'),
    random_state=dict(type='mmdla.RandomStateHook'))
# loads checkpoints (resume, load_from) without letting them run code, also
# under MMDetection's and MMPretrain's tools
runner_type = 'mmdla.SafeLoadRunner'
# a stuck rank ends the run after 15 minutes (torch's default: 30)
env_cfg = dict(dist_cfg=dict(timeout=900))
