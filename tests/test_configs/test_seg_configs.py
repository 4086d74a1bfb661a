"""The MMSegmentation configs, and OpenMMLab bases that pass ``pretrained``.

Every segmentation config builds its segmentor in the ``mmseg`` scope,
starts from an ImageNet ResNet-V1c with the layer attention at identity
(here a random ResNetV1c-50 of mmseg, saved in its own layout, stands in for
``open-mmlab://resnet50_v1c``: nothing is downloaded) and trains one
iteration on a tiny random batch on the CPU (BN for SyncBN, small crops).
One config also runs in MMEngine's runner for two iterations and resumes,
with mmdla's hooks and runner under mmseg's iteration-based loop. Configs
that inherit an ``mmseg::`` or ``mmdet::`` base and swap only the backbone
type, their ``pretrained`` included, build and train.
"""
import math
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, List, Optional

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import RUNNERS, init_default_scope

from mmdla.analysis import build_model, synthetic_batch
from mmdla.models import ResNetDLA

CONFIG_DIR = Path(__file__).resolve().parents[2] / 'configs'
SEG_CONFIGS = sorted(
    p for p in CONFIG_DIR.glob('*.py')
    if p.name.startswith(('upernet_', 'deeplabv3plus_')))
#: The mmseg config each one swaps the backbone of.
MMSEG_BASES = {
    'upernet': 'mmseg::upernet/upernet_r50_4xb4-160k_ade20k-512x512.py',
    'deeplabv3plus': ('mmseg::deeplabv3plus/'
                      'deeplabv3plus_r50-d8_4xb2-80k_cityscapes-512x1024.py'),
}
CROP = (64, 64)


def config_id(path: Path) -> str:
    return path.name


def for_cpu(value: Any) -> Any:
    """A config value with every SyncBN norm config turned into BN."""
    if isinstance(value, dict):
        if value.get('type') == 'SyncBN':
            return {**value, 'type': 'BN'}
        return type(value)({k: for_cpu(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return type(value)(for_cpu(v) for v in value)
    return value


def load_for_cpu(path: Path, checkpoint: Optional[str] = None) -> Config:
    """A segmentation config with BN, :data:`CROP`-sized inputs and, if
    given, the backbone's checkpoint replaced by ``checkpoint``."""
    cfg = Config.fromfile(str(path))
    cfg.model = for_cpu(cfg.model)
    cfg.model.data_preprocessor.size = CROP
    if checkpoint is not None:
        cfg.model.backbone.init_cfg.checkpoint = checkpoint
    return cfg


def train_one_iteration(model: nn.Module, cfg: Config) -> None:
    """One optimiser step of ``model`` on a batch of 2, with finite decode
    and auxiliary losses."""
    model.train()
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    log_vars = model.train_step(synthetic_batch(cfg, 2, CROP), optim_wrapper)
    assert math.isfinite(log_vars['loss'].item())
    assert 'decode.loss_ce' in log_vars and 'aux.loss_ce' in log_vars


def attention_state(model: nn.Module) -> List[torch.Tensor]:
    """Copies of the backbone's layer-attention parameters."""
    return [
        param.detach().clone()
        for name, param in model.backbone.named_parameters()
        if '.layer_attention.' in name
    ]


def write_config(folder: Path, text: str) -> Path:
    """Write the config ``text`` to a new file in ``folder``."""
    path = folder / f'config_{len(list(folder.glob("*.py")))}.py'
    path.write_text(textwrap.dedent(text))
    return path


def resnet_v1c(checkpoint: str, **kwargs) -> nn.Module:
    """mmseg's ResNetV1c-50 built with ``kwargs``, loaded from
    ``checkpoint``, in eval mode."""
    from mmseg.models.backbones import ResNetV1c

    model = ResNetV1c(depth=50, **kwargs)
    model.load_state_dict(torch.load(checkpoint))
    model.eval()  # mmseg's ResNet.train returns None
    return model


def assert_computes_resnet_v1c(backbone: ResNetDLA, checkpoint: str,
                               **kwargs) -> None:
    """The outputs of ``backbone`` (in eval mode) are those of mmseg's
    ResNetV1c-50 of ``checkpoint`` built with ``kwargs``."""
    reference = resnet_v1c(checkpoint, **kwargs)
    backbone.eval()
    x = torch.randn(1, 3, *CROP)
    with torch.no_grad():
        outs, expected = backbone(x), reference(x)
    assert len(outs) == len(expected) == 4
    for out, value in zip(outs, expected):
        torch.testing.assert_close(out, value, rtol=0, atol=1e-5)


@pytest.fixture(scope='module')
def resnet50_v1c(tmp_path_factory) -> str:
    """The file of a ResNetV1c-50 of mmseg with random weights, norm
    statistics and affine parameters (so that a tensor left out by a load
    would show), in mmseg's layout (``stem.0.weight``, ``stem.1.*``, ...)."""
    from mmseg.models.backbones import ResNetV1c

    torch.manual_seed(50)
    model = ResNetV1c(depth=50)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.normal_(0, 0.1)
                module.running_var.uniform_(0.5, 2)
                module.weight.uniform_(0.5, 1.5)
                module.bias.normal_(0, 0.1)
    path = tmp_path_factory.mktemp('v1c') / 'resnet50_v1c.pth'
    torch.save(model.state_dict(), path)
    return str(path)


def test_import_mmdla_does_not_import_mmseg():
    """MMSegmentation is an optional stack: only the configs' mmseg scope
    imports it."""
    code = ('import sys, mmdla, mmdla.models, mmdla.engine, mmdla.analysis; '
            "print(sorted(m for m in sys.modules if m.startswith('mmseg')))")
    result = subprocess.run([sys.executable, '-c', code],
                            capture_output=True,
                            text=True,
                            check=True)
    assert result.stdout.strip() == '[]'


def test_every_segmentation_config_is_tested():
    assert len(SEG_CONFIGS) == 4
    for path in SEG_CONFIGS:
        assert path.name.split('_')[0] in MMSEG_BASES


@pytest.mark.parametrize('path', SEG_CONFIGS, ids=config_id)
def test_segmentation_recipe(path, tmp_path):
    """mmseg's R-50 config with the backbone swapped: DLA-L or MRLA-light
    ResNetV1c-50 from ``open-mmlab://resnet50_v1c``, attention at identity,
    and mmdla's hooks, runner and timeout."""
    cfg = Config.fromfile(str(path))
    backbone = cfg.model.backbone
    assert cfg.default_scope == 'mmseg'
    assert backbone.type == 'mmdla.ResNetDLA'
    assert (backbone.variant, backbone.drop_path_rate) == ('light', 0)
    assert backbone.dual_path is ('_dla50' in path.name)
    assert backbone.deep_stem is True and backbone.contract_dilation is True
    assert backbone.zero_init_attention is True
    assert backbone.init_cfg == dict(
        type='Pretrained', checkpoint='open-mmlab://resnet50_v1c')
    assert cfg.model.pretrained is None
    # iteration-based, as mmseg's: the preemptible loop is epoch-based
    assert cfg.train_cfg.type == 'IterBasedTrainLoop'
    assert cfg.runner_type == 'mmdla.SafeLoadRunner'
    hooks = cfg.default_hooks
    assert hooks.checkpoint.type == 'mmdla.AtomicCheckpointHook'
    assert hooks.checkpoint.by_epoch is False
    assert hooks.finite_loss.type == 'mmdla.FiniteLossHook'
    assert hooks.random_state.type == 'mmdla.RandomStateHook'
    assert 0 < cfg.env_cfg.dist_cfg.timeout < 30 * 60

    # everything else is mmseg's config
    head = path.name.split('_')[0]
    mmseg = Config.fromfile(
        str(write_config(tmp_path, f'_base_ = {MMSEG_BASES[head]!r}')))
    assert mmseg.model.pretrained == 'open-mmlab://resnet50_v1c'
    their_backbone = mmseg.model.backbone
    assert their_backbone.type == 'ResNetV1c'
    for key, value in their_backbone.items():
        if key != 'type':
            assert backbone[key] == value, key
    for config in (cfg, mmseg):
        config.model.pop('backbone')
        config.model.pop('pretrained')
    assert cfg.model == mmseg.model
    for key in ('train_dataloader', 'val_dataloader', 'val_evaluator',
                'optim_wrapper', 'param_scheduler', 'train_cfg'):
        assert cfg[key] == mmseg[key], key


@pytest.mark.parametrize('path', SEG_CONFIGS, ids=config_id)
def test_segmentation_config_trains(path, resnet50_v1c):
    """The segmentor starts with mmseg's ResNetV1c-50 (dilated as the
    config says), then a training step changes its layer attention."""
    cfg = load_for_cpu(path, resnet50_v1c)
    torch.manual_seed(0)
    model = build_model(cfg)
    assert type(model).__module__.startswith('mmseg.models.segmentors')
    assert isinstance(model.backbone, ResNetDLA)
    model.init_weights()
    backbone = cfg.model.backbone
    assert_computes_resnet_v1c(
        model.backbone,
        resnet50_v1c,
        strides=backbone.strides,
        dilations=backbone.dilations,
        contract_dilation=backbone.contract_dilation)

    before = attention_state(model)
    train_one_iteration(model, cfg)
    after = attention_state(model)
    assert any(not torch.equal(b, a) for b, a in zip(before, after))


def test_mmseg_base_with_only_the_backbone_type_swapped(tmp_path):
    """mmseg's EncoderDecoder passes its ``pretrained`` on to ResNetDLA,
    which takes it as its init_cfg."""
    path = write_config(
        tmp_path, f"""\
        _base_ = {MMSEG_BASES['upernet']!r}
        model = dict(backbone=dict(type='mmdla.ResNetDLA'))
        """)
    cfg = load_for_cpu(path)
    with pytest.warns(DeprecationWarning, match='pretrained'):
        model = build_model(cfg)
    assert model.backbone.init_cfg == dict(
        type='Pretrained', checkpoint='open-mmlab://resnet50_v1c')
    train_one_iteration(model, cfg)


def test_mmseg_pretrained_loads_into_deep_stem(tmp_path, resnet50_v1c):
    path = write_config(
        tmp_path, f"""\
        _base_ = {MMSEG_BASES['upernet']!r}
        model = dict(
            pretrained={resnet50_v1c!r},
            backbone=dict(
                type='mmdla.ResNetDLA',
                deep_stem=True,
                zero_init_attention=True))
        """)
    with pytest.warns(DeprecationWarning, match='pretrained'):
        model = build_model(load_for_cpu(path))
    model.init_weights()
    assert_computes_resnet_v1c(model.backbone, resnet50_v1c)


def test_mmseg_pretrained_with_init_cfg_is_refused(tmp_path):
    path = write_config(
        tmp_path, f"""\
        _base_ = {MMSEG_BASES['upernet']!r}
        model = dict(
            backbone=dict(
                type='mmdla.ResNetDLA',
                init_cfg=dict(type='Pretrained', checkpoint='other.pth')))
        """)
    with pytest.raises(ValueError, match='model.pretrained=None'):
        build_model(Config.fromfile(str(path)))


def test_mmdet_base_with_pretrained(tmp_path, torchvision_resnet,
                                    torchvision_stages):
    """A detector config inheriting an mmdet base whose backbone passes
    ``pretrained`` (as MMDetection 2.x bases did) swaps only the type."""
    resnet, checkpoint = torchvision_resnet(50, seed=5)
    base = tmp_path / 'faster_rcnn_r50_pretrained_base.py'
    base.write_text(
        textwrap.dedent(f"""\
        _base_ = 'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'
        model = dict(backbone=dict(init_cfg=None, pretrained={checkpoint!r}))
        """))
    path = write_config(
        tmp_path, f"""\
        _base_ = './{base.name}'
        model = dict(
            backbone=dict(type='mmdla.ResNetDLA', zero_init_attention=True))
        """)
    cfg = Config.fromfile(str(path))
    with pytest.warns(DeprecationWarning, match='pretrained'):
        model = build_model(cfg)
    model.init_weights()
    backbone = model.backbone
    backbone.eval()
    x = torch.randn(1, 3, *CROP)
    with torch.no_grad():
        for out, expected in zip(backbone(x), torchvision_stages(resnet, x)):
            torch.testing.assert_close(out, expected, rtol=0, atol=1e-5)

    model.train()
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    log_vars = model.train_step(synthetic_batch(cfg, 1, CROP), optim_wrapper)
    assert math.isfinite(log_vars['loss'].item())


def tiny_ade20k(root: Path, num_images: int = 2) -> None:
    """ADE20K's folder layout with random 48 x 64 images and label maps."""
    import mmcv

    rng = np.random.default_rng(0)
    for folder in ('images', 'annotations'):
        (root / folder / 'training').mkdir(parents=True)
    for index in range(num_images):
        name = f'ADE_train_{index:08d}'
        image = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
        labels = rng.integers(0, 151, (48, 64), dtype=np.uint8)
        mmcv.imwrite(image, str(root / 'images' / 'training' / f'{name}.jpg'))
        mmcv.imwrite(labels,
                     str(root / 'annotations' / 'training' / f'{name}.png'))


def runner_config(path: Path, data_root: Path, work_dir: Path,
                  max_iters: int) -> Config:
    """The UperNet config ``path`` shrunk to train a ResNet-18 DLA-L (from
    random weights) for ``max_iters`` iterations of batch 2 on the tiny set
    on the CPU, saving a checkpoint every iteration, without validation."""
    cfg = load_for_cpu(path)
    cfg.model.backbone.update(depth=18, init_cfg=None)
    cfg.model.decode_head.update(in_channels=[64, 128, 256, 512], channels=32)
    cfg.model.auxiliary_head.update(in_channels=256, channels=32)
    cfg.work_dir = str(work_dir)
    dataloader = cfg.train_dataloader
    dataloader.update(batch_size=2, num_workers=0, persistent_workers=False)
    dataloader.dataset.data_root = str(data_root)
    for transform in dataloader.dataset.pipeline:
        if transform.type == 'RandomResize':
            transform.scale = (128, 64)
        elif transform.type == 'RandomCrop':
            transform.crop_size = CROP
    cfg.train_cfg.update(max_iters=max_iters, val_interval=max_iters + 1)
    for key in ('val', 'test'):
        cfg[f'{key}_dataloader'] = cfg[f'{key}_cfg'] = None
        cfg[f'{key}_evaluator'] = None
    cfg.param_scheduler = [
        dict(cfg.param_scheduler[0], end=max_iters)
    ]
    cfg.default_hooks.checkpoint.interval = 1
    cfg.default_hooks.logger.interval = 1
    return cfg


def test_runner_trains_and_resumes(tmp_path):
    """mmseg's iteration-based loop with mmdla's runner and hooks: two
    iterations saved atomically with their random states, then a third
    after resuming."""
    from mmdla.engine import SafeLoadRunner

    path = CONFIG_DIR / 'upernet_dla50_4xb4-160k_ade20k-512x512.py'
    tiny_ade20k(tmp_path / 'ade')
    work_dir = tmp_path / 'work_dir'
    cfg = runner_config(path, tmp_path / 'ade', work_dir, 2)
    init_default_scope(cfg.default_scope)
    runner = RUNNERS.build(cfg)
    assert isinstance(runner, SafeLoadRunner)
    runner.train()
    assert runner.iter == 2
    saved = torch.load(work_dir / 'iter_2.pth', weights_only=False)
    assert 'random_states' in saved
    assert (work_dir / 'last_checkpoint').read_text().strip().endswith(
        'iter_2.pth')

    cfg = runner_config(path, tmp_path / 'ade', work_dir, 3)
    cfg.resume = True
    runner = RUNNERS.build(cfg)
    runner.train()
    assert runner.iter == 3
    assert (work_dir / 'iter_3.pth').is_file()
