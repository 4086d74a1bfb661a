from .pretrained import LoadedCheckpoint, load_backbone_checkpoint
from .resnet_dla import ResNetDLA, ResNetDLACifar

__all__ = [
    'LoadedCheckpoint', 'ResNetDLA', 'ResNetDLACifar',
    'load_backbone_checkpoint'
]
