from .resnet_dla import ResNetDLA, ResNetDLACifar

__all__ = ['ResNetDLA', 'ResNetDLACifar']
