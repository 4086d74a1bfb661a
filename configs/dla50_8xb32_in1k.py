# ResNet-50 with Dynamic Layer Attention (DLA-L) on ImageNet-1K.
# Recipe of the paper (Wang et al., IJCAI 2024): 100 epochs, total batch
# 256 (8 GPUs x 32), SGD lr 0.1, 3 linear warm-up epochs, lr x0.1 at epochs
# 30/60/90, DropPath 0.2 on every attention branch, plain cross entropy.
_base_ = [
    'mmpretrain::_base_/models/resnet50.py',
    'mmpretrain::_base_/datasets/imagenet_bs32.py',
    'mmpretrain::_base_/schedules/imagenet_bs256.py',
    'mmpretrain::_base_/default_runtime.py',
]

model = dict(
    backbone=dict(
        type='mmdla.ResNetDLA',
        variant='light',
        dual_path=True,
        drop_path_rate=0.2))

param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=0.01,
        by_epoch=True,
        begin=0,
        end=3,
        convert_to_iter_based=True),
    dict(
        type='MultiStepLR',
        by_epoch=True,
        begin=0,
        end=100,
        milestones=[30, 60, 90],
        gamma=0.1),
]

# on SIGTERM/SIGUSR1: save the iteration, exit 75; --resume goes on mid-epoch
# (MMPretrain's base selects its loop with by_epoch=True, which excludes type)
train_cfg = dict(
    _delete_=True,
    type='mmdla.PreemptibleEpochBasedTrainLoop',
    max_epochs=100,
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

# persistent_workers set explicitly (num_workers is 5), so that MMPretrain's
# tools/train.py, which fills it in where unset, and ours build the same
train_dataloader = dict(persistent_workers=True)
val_dataloader = dict(persistent_workers=True)
test_dataloader = val_dataloader
