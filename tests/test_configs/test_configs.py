"""Every config in ``configs/`` loads, builds and states the paper's recipe.

One training iteration per model family (Faster R-CNN, Mask R-CNN, ImageNet
classifier, CIFAR classifier) runs on tiny random inputs on the CPU; the
other detectors and the segmentors have their own tests
(``test_more_detectors.py``, ``test_seg_configs.py``).
"""
import inspect
import math
from pathlib import Path
from typing import Any, List

import pytest
import torch
import yaml
from mmengine.config import Config
from mmengine.config.lazy import LazyObject
from mmengine.optim import build_optim_wrapper

from mmdla.analysis import build_model, synthetic_batch

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = REPO_ROOT / 'configs'
CONFIGS = sorted(CONFIG_DIR.glob('*.py'))
NEW_STYLE_CONFIGS = sorted((CONFIG_DIR / 'new_style').glob('*.py'))
DETECTION_CONFIGS = [p for p in CONFIGS if p.name.endswith('_coco.py')]
# The paper's detectors, on the recipe of mmdet's R-50 1x configs.
RCNN_CONFIGS = [
    p for p in DETECTION_CONFIGS
    if p.name.startswith(('faster_rcnn_', 'mask_rcnn_'))
]
SEGMENTATION_CONFIGS = [
    p for p in CONFIGS if p.name.startswith(('upernet_', 'deeplabv3plus_'))
]
IMAGENET_CONFIGS = [p for p in CONFIGS if p.name.endswith('_in1k.py')]
# The paper's from-scratch recipe; the others start from a pretrained ResNet.
PAPER_IMAGENET_CONFIGS = [p for p in IMAGENET_CONFIGS if '-pre_' not in p.name]
METAFILE = yaml.safe_load((CONFIG_DIR / 'metafile.yml').read_text())
PARAMETERS = {
    model['Name']: model['Metadata']['Parameters']
    for model in METAFILE['Models']
}
CIFAR_CONFIGS = [p for p in CONFIGS if '_cifar' in p.name]


def config_id(path: Path) -> str:
    return str(path.relative_to(CONFIG_DIR))


def load(path: Path) -> Config:
    return Config.fromfile(str(path))


def test_every_config_is_tested_and_listed():
    families = (
        set(DETECTION_CONFIGS) | set(IMAGENET_CONFIGS) | set(CIFAR_CONFIGS)
        | set(SEGMENTATION_CONFIGS))
    assert CONFIGS and set(CONFIGS) == families
    assert set(PARAMETERS) == {path.stem for path in CONFIGS}
    for model in METAFILE['Models']:
        assert (REPO_ROOT / model['Config']).is_file()


@pytest.mark.parametrize('path', CONFIGS + NEW_STYLE_CONFIGS, ids=config_id)
def test_config_builds_dla_model(path):
    from mmdla.models import ResNetDLA

    cfg = load(path)
    expected_base = {
        'mmdet': 'mmdet.models.detectors',
        'mmpretrain': 'mmpretrain.models.classifiers',
        'mmseg': 'mmseg.models.segmentors',
    }[cfg.default_scope]
    model = build_model(cfg)
    backbone = model.backbone
    assert isinstance(backbone, ResNetDLA)
    assert backbone.depth == cfg.model.backbone.depth
    assert type(model).__module__.startswith(expected_base)
    # the size listed in metafile.yml (and configs/README.md)
    assert sum(p.numel() for p in model.parameters()) == PARAMETERS[path.stem]


@pytest.mark.parametrize(
    'path',
    CONFIGS + NEW_STYLE_CONFIGS + sorted((CONFIG_DIR / 'demo').glob('*.py')),
    ids=config_id)
def test_config_survives_a_cluster(path):
    from mmdla.engine import PreemptibleEpochBasedTrainLoop, SafeLoadRunner
    from mmdla.registry import LOOPS, RUNNERS

    cfg = load(path)

    def resolved(value, registry):
        if isinstance(value, LazyObject):
            return value.build()
        return value if inspect.isclass(value) else registry.get(value)

    # a stop signal saves the iteration (epoch-based schedules; mmseg's
    # iteration-based ones keep their loop and resume from their last
    # checkpoint); checkpoints load without code
    if cfg.train_cfg.type != 'IterBasedTrainLoop':
        assert resolved(cfg.train_cfg.type,
                        LOOPS) is PreemptibleEpochBasedTrainLoop
        assert 'by_epoch' not in cfg.train_cfg
    assert resolved(cfg.runner_type, RUNNERS) is SafeLoadRunner
    # a stuck rank ends the run in minutes, not torch's default 30
    timeout = cfg.env_cfg.dist_cfg.timeout
    assert 0 < timeout < 30 * 60


@pytest.mark.parametrize('path', RCNN_CONFIGS, ids=config_id)
def test_detection_recipe(path):
    cfg = load(path)
    backbone = cfg.model.backbone
    assert backbone.type == 'mmdla.ResNetDLA'
    assert backbone.frozen_stages == 1
    assert backbone.norm_eval is True
    assert backbone.drop_path_rate == 0
    assert backbone.out_indices == (0, 1, 2, 3)
    assert cfg.auto_scale_lr == dict(enable=False, base_batch_size=16)
    assert cfg.train_cfg.max_epochs == 12
    assert cfg.optim_wrapper.optimizer.lr == 0.02
    expected_wrapper = ('AmpOptimWrapper'
                        if '_amp_' in path.name else 'OptimWrapper')
    assert cfg.optim_wrapper.type == expected_wrapper

    init_cfg = backbone.init_cfg
    assert init_cfg.type == 'Pretrained'
    if '-in1k-pre_' not in path.name:
        # torchvision's ResNet of the same depth, attention at identity (see
        # test_coco_transfer.py)
        assert init_cfg.checkpoint == f'torchvision://resnet{backbone.depth}'
        assert backbone.zero_init_attention is True
        return
    # The backbone starts from the last checkpoint of one of our ImageNet
    # configs with the same depth and attention, which it keeps.
    assert init_cfg.prefix == 'backbone.'
    assert backbone.zero_init_attention is False
    work_dir, checkpoint = Path(init_cfg.checkpoint).parts[-2:]
    assert checkpoint == 'epoch_100.pth'
    imagenet = load(CONFIG_DIR / f'{work_dir}.py')
    assert checkpoint == f'epoch_{imagenet.train_cfg.max_epochs}.pth'
    for key in ('depth', 'variant', 'dual_path'):
        assert imagenet.model.backbone[key] == backbone[key], key
    # and is otherwise the config that starts from torchvision's ResNet
    sibling = load(CONFIG_DIR / path.name.replace('-in1k-pre_', '_'))
    for config in (cfg, sibling):
        config.model.backbone.pop('init_cfg')
        config.model.backbone.pop('zero_init_attention')
    assert cfg.to_dict() == sibling.to_dict()


@pytest.mark.parametrize('path', PAPER_IMAGENET_CONFIGS, ids=config_id)
def test_imagenet_recipe(path):
    cfg = load(path)
    assert cfg.model.backbone.drop_path_rate == 0.2
    assert cfg.train_dataloader.batch_size == 32  # x 8 GPUs = 256
    assert cfg.auto_scale_lr.base_batch_size == 256
    optimizer = cfg.optim_wrapper.optimizer
    assert (optimizer.type, optimizer.lr, optimizer.momentum,
            optimizer.weight_decay) == ('SGD', 0.1, 0.9, 1e-4)
    assert cfg.train_cfg.max_epochs == 100
    warmup, steps = cfg.param_scheduler
    assert (warmup.type, warmup.begin, warmup.end) == ('LinearLR', 0, 3)
    assert warmup.convert_to_iter_based
    assert steps.type == 'MultiStepLR' and steps.milestones == [30, 60, 90]
    train_types = [t['type'] for t in cfg.train_pipeline]
    assert train_types[1:3] == ['RandomResizedCrop', 'RandomFlip']
    test_types = [t['type'] for t in cfg.test_pipeline]
    assert test_types[1:3] == ['ResizeEdge', 'CenterCrop']


def test_imagenet_transfer_recipe():
    """DLA-L from torchvision's ResNet-50: the paper's model, data and
    optimiser with a tenth of the learning rate for the pretrained ResNet
    part, 1 warm-up epoch, then cosine annealing to epoch 20."""
    cfg = load(CONFIG_DIR / 'dla50_r50-pre_8xb32-coslr-20e_in1k.py')
    paper = load(CONFIG_DIR / 'dla50_8xb32_in1k.py')
    backbone = cfg.model.backbone
    assert backbone.init_cfg == dict(
        type='Pretrained', checkpoint='torchvision://resnet50')
    assert backbone.zero_init_attention is True
    for config in (cfg, paper):
        config.model.backbone.pop('init_cfg', None)
        config.model.backbone.pop('zero_init_attention', None)
    assert cfg.model == paper.model
    for key in ('train_dataloader', 'val_dataloader', 'auto_scale_lr'):
        assert cfg[key] == paper[key], key
    optimizer = cfg.optim_wrapper.optimizer
    assert (optimizer.type, optimizer.lr, optimizer.momentum,
            optimizer.weight_decay) == ('SGD', 0.01, 0.9, 1e-4)
    custom_keys = cfg.optim_wrapper.paramwise_cfg.custom_keys
    assert custom_keys == {
        'layer_attention': dict(lr_mult=10),
        'head.fc': dict(lr_mult=10)
    }
    warmup, cosine = cfg.param_scheduler
    assert (warmup.type, warmup.begin, warmup.end) == ('LinearLR', 0, 1)
    assert (cosine.type, cosine.begin, cosine.end,
            cosine.eta_min) == ('CosineAnnealingLR', 1, 20, 0)
    assert cfg.train_cfg.max_epochs == 20


def test_imagenet_transfer_learning_rates():
    """The layer attention and the head train at the paper's rate 0.1, the
    pretrained ResNet part at 0.01."""
    cfg = load(CONFIG_DIR / 'dla50_r50-pre_8xb32-coslr-20e_in1k.py')
    cfg.model.backbone.depth = 18
    cfg.model.head.in_channels = 512
    model = build_model(cfg)
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    rates = {}
    for group in optim_wrapper.optimizer.param_groups:
        for param in group['params']:
            rates[param] = group['lr']
    for name, param in model.named_parameters():
        new = '.layer_attention.' in name or name.startswith('head.')
        assert rates[param] == pytest.approx(0.1 if new else 0.01), name


@pytest.mark.parametrize('path', CIFAR_CONFIGS, ids=config_id)
def test_cifar_recipe(path):
    cfg = load(path)
    backbone = cfg.model.backbone
    assert (backbone.type, backbone.depth) == ('mmdla.ResNetDLACifar', 110)
    assert backbone.drop_path_rate == 0.2
    assert cfg.model.head.in_channels == 256
    num_classes = 100 if path.name.endswith('cifar100.py') else 10
    assert cfg.model.head.num_classes == num_classes
    assert cfg.data_preprocessor.num_classes == num_classes
    assert cfg.train_dataloader.dataset.type == f'CIFAR{num_classes}'
    assert cfg.train_dataloader.batch_size == 128
    optimizer = cfg.optim_wrapper.optimizer
    assert (optimizer.lr, optimizer.weight_decay) == (0.1, 1e-4)
    assert cfg.train_cfg.max_epochs == 180
    assert cfg.param_scheduler.milestones == [100, 150]
    crop = cfg.train_pipeline[0]
    assert (crop.type, crop.crop_size, crop.padding) == ('RandomCrop', 32, 4)


def normalise(value: Any) -> Any:
    """Config values with types written as classes or as scoped strings
    turned into bare names, tuples into lists, and the ``_scope_`` marks of
    package-scoped bases dropped."""
    if isinstance(value, LazyObject):
        value = value.build()
    if inspect.isclass(value) or inspect.isfunction(value):
        return value.__name__
    if isinstance(value, str) and value.startswith('mmdla.'):
        return value[len('mmdla.'):]
    if isinstance(value, dict):
        return {
            key: normalise(item)
            for key, item in value.items() if key != '_scope_'
        }
    if isinstance(value, (list, tuple)):
        return [normalise(item) for item in value]
    return value


@pytest.mark.parametrize('path', NEW_STYLE_CONFIGS, ids=config_id)
def test_new_style_config_matches_classic_one(path):
    keys = ('default_scope', 'model', 'data_preprocessor', 'train_dataloader',
            'val_dataloader', 'test_dataloader', 'val_evaluator',
            'optim_wrapper', 'param_scheduler', 'train_cfg', 'auto_scale_lr',
            'default_hooks', 'visualizer')
    new = load(path)
    classic = load(CONFIG_DIR / path.name)
    for key in keys:
        assert normalise(new.get(key)) == normalise(classic.get(key)), key


def attention_parameters(model: torch.nn.Module) -> List[torch.Tensor]:
    """Copies of the trainable layer-attention parameters of a model."""
    return [
        param.detach().clone()
        for name, param in model.backbone.named_parameters()
        if param.requires_grad and '.attentions.' in name
    ]


@pytest.mark.parametrize('name, batch_size, size',
                         [('faster_rcnn_dla50_fpn_1x_coco.py', 1, 64),
                          ('mask_rcnn_dla50_fpn_1x_coco.py', 1, 64),
                          ('dla50_8xb32_in1k.py', 2, 64),
                          ('dla110_1xb128_cifar100.py', 2, 32)])
def test_one_training_iteration(name, batch_size, size):
    torch.manual_seed(0)
    cfg = load(CONFIG_DIR / name)
    model = build_model(cfg)
    model.train()
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    before = attention_parameters(model)
    assert before, 'the backbone has no trainable attention parameters'

    log_vars = model.train_step(
        synthetic_batch(cfg, batch_size, (size, size)), optim_wrapper)

    assert math.isfinite(log_vars['loss'].item())
    if cfg.default_scope == 'mmdet':
        assert 'loss_rpn_cls' in log_vars and 'loss_cls' in log_vars
        assert ('loss_mask' in log_vars) == ('mask_head' in cfg.model.roi_head)
    after = attention_parameters(model)
    assert any(not torch.equal(b, a) for b, a in zip(before, after))
