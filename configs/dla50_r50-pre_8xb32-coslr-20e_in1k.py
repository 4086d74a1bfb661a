# ResNet-50 DLA-L on ImageNet-1K, started from torchvision's ImageNet
# ResNet-50 instead of from scratch: 20 epochs instead of the paper's 100.
#
# Recipe (not the paper's; a reasoned starting point that no full run has
# validated yet):
# - The backbone loads torchvision://resnet50 and every layer attention
#   starts at identity (zero_init_attention=True): at the first iteration the
#   backbone computes exactly the pretrained ResNet-50. The classifier head
#   is new (torchvision's `fc` is not loaded into `head.fc`).
# - The pretrained ResNet part trains at a tenth of the paper's learning
#   rate (0.01 for a total batch of 256), enough to adapt its features to
#   the attention without forgetting what 90 epochs taught it; the new parts,
#   the layer attention and the head, train at the paper's from-scratch rate
#   0.1 (lr_mult=10).
# - One linear warm-up epoch shields the pretrained weights from the first,
#   large gradients of the random head; then cosine annealing to 0 over the
#   remaining epochs.
# - 20 epochs: a fifth of the paper's compute; the ResNet part is already
#   converged and only the layer attention (about 3 M parameters) starts from
#   zero.
# - Everything else is the paper's: SGD momentum 0.9, weight decay 1e-4,
#   DropPath 0.2 on every attention branch, RandomResizedCrop 224 + flip,
#   8 GPUs x 32 images.
_base_ = './dla50_8xb32_in1k.py'

model = dict(
    backbone=dict(
        zero_init_attention=True,
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50')))

optim_wrapper = dict(
    optimizer=dict(lr=0.01),
    paramwise_cfg=dict(custom_keys={
        'layer_attention': dict(lr_mult=10),
        'head.fc': dict(lr_mult=10)
    }))

param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=0.01,
        by_epoch=True,
        begin=0,
        end=1,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        by_epoch=True,
        begin=1,
        end=20,
        eta_min=0,
        convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=20)
