"""tools/analysis_tools: get_flops.py and benchmark.py."""
import sys
from pathlib import Path

import benchmark  # tools/analysis_tools, on sys.path by conftest.py
import get_flops
import pytest
import torch
from mmengine.config import Config

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = REPO_ROOT / 'configs'


def test_get_flops_prints_reference_sizes(monkeypatch, capsys):
    # dla-spec.md section 8: ResNet-50 + DLA-L (r = 16), 1000 classes
    monkeypatch.setattr(
        sys, 'argv', ['get_flops.py',
                      str(CONFIG_DIR / 'dla50_8xb32_in1k.py')])
    get_flops.main()
    out = capsys.readouterr().out
    assert 'Input shape: 3 x 224 x 224' in out
    assert 'Params: 28,581,812' in out
    assert 'convolutions and linear layers): 4.21 G' in out


def test_default_input_shape_follows_the_pipelines():
    cifar = get_flops.load_config(CONFIG_DIR / 'dla110_1xb128_cifar10.py')
    coco = get_flops.load_config(CONFIG_DIR / 'mask_rcnn_dla50_fpn_1x_coco.py')
    assert get_flops.default_input_shape(cifar) == (32, 32)
    assert get_flops.default_input_shape(coco) == get_flops.DETECTION_SHAPE


def test_get_flops_counts_a_detector():
    cfg = get_flops.load_config(CONFIG_DIR /
                                'faster_rcnn_dla50_fpn_1x_coco.py')
    result = get_flops.count_complexity(cfg, shape=(60, 90))
    assert result['input_shape'] == (64, 96)  # padded to a multiple of 32
    assert result['flops'] > result['backbone_flops'] > 0
    assert result['total_flops'] >= result['flops']
    # fixed proposals: the figure does not depend on the (random) weights
    assert get_flops.count_complexity(
        cfg, shape=(60, 90))['flops'] == (
            result['flops'])
    assert result['params'] > result['backbone_params'] > 0


def test_load_config_rejects_foreign_scope(tmp_path):
    config = tmp_path / 'foreign.py'
    config.write_text("default_scope = 'mmseg'\nmodel = dict(type='X')\n")
    with pytest.raises(ValueError, match="default_scope='mmseg'"):
        get_flops.load_config(str(config))


def test_plain_counterpart_of_a_classifier_is_resnet50():
    cfg = get_flops.load_config(CONFIG_DIR / 'dla50_8xb32_in1k.py')
    plain = benchmark.plain_counterpart(cfg)
    backbone = plain.model.backbone
    assert backbone.type == 'mmpretrain.ResNet' and backbone.depth == 50
    assert 'variant' not in backbone and 'dual_path' not in backbone
    assert backbone.drop_path_rate == cfg.model.backbone.drop_path_rate
    # the DLA config itself is left untouched
    assert cfg.model.backbone.type == 'mmdla.ResNetDLA'
    model = get_flops.build_model(plain)
    # torchvision's ResNet-50 size (dla-spec.md section 8)
    assert sum(p.numel() for p in model.parameters()) == 25_557_032


def test_plain_counterpart_of_a_detector_keeps_detection_settings():
    cfg = get_flops.load_config(CONFIG_DIR /
                                'faster_rcnn_dla101_fpn_1x_coco.py')
    backbone = benchmark.plain_counterpart(cfg).model.backbone
    assert backbone.type == 'mmdet.ResNet' and backbone.depth == 101
    assert backbone.frozen_stages == 1 and backbone.norm_eval is True
    assert backbone.out_indices == (0, 1, 2, 3)
    assert 'init_cfg' not in backbone  # its class default, not ImageNet
    assert 'drop_path_rate' not in backbone  # mmdet's ResNet has none


def test_plain_counterpart_of_a_cifar_model_points_to_against():
    cfg = get_flops.load_config(CONFIG_DIR / 'dla110_1xb128_cifar100.py')
    with pytest.raises(ValueError, match='--against'):
        benchmark.plain_counterpart(cfg)


def test_default_initialised_drops_the_pretrained_checkpoint():
    cfg = get_flops.load_config(CONFIG_DIR / 'mask_rcnn_dla50_fpn_1x_coco.py')
    initialised = benchmark.default_initialised(cfg)
    assert 'init_cfg' not in initialised.model.backbone
    assert cfg.model.backbone.init_cfg.type == 'Pretrained'  # untouched
    model = get_flops.build_model(initialised)
    model.init_weights()  # loads no file


def test_time_per_call_runs_warmup_then_timed_calls():
    calls = []
    seconds = benchmark.time_per_call(
        lambda: calls.append(1), iters=3, warmup=2, device=torch.device('cpu'))
    assert len(calls) == 5
    assert seconds >= 0
    with pytest.raises(ValueError, match='iters'):
        benchmark.time_per_call(lambda: None, 0, 0, torch.device('cpu'))


def test_peak_memory_on_cpu_sees_live_tensors():
    mib = 2**20

    def step():
        first = torch.ones(mib // 4)  # 1 MiB of float32
        second = torch.ones(2 * mib // 4)  # 2 MiB, while the first lives
        return first.sum() + second.sum()

    peak = benchmark.peak_memory(step, torch.device('cpu'), lambda: 5 * mib)
    assert 8 * mib <= peak < 16 * mib


def test_benchmark_prints_table(monkeypatch, capsys):
    config = str(CONFIG_DIR / 'dla50_8xb32_in1k.py')
    monkeypatch.setattr(sys, 'argv', [
        'benchmark.py', config, '--shape', '32', '32', '--batch-size', '2',
        '--iters', '1', '--warmup', '0', '--cfg-options',
        'model.backbone.depth=18', 'model.head.in_channels=512'
    ])
    benchmark.main()
    out = capsys.readouterr().out
    # MMEngine may log a warning about the default scope before the report
    lines = out[out.index('device=cpu'):].strip().splitlines()
    assert lines[0].startswith('device=cpu amp=False channels_last=False')
    assert 'train img/s' in lines[1] and 'infer peak MiB' in lines[1]
    assert lines[3].startswith('mmpretrain.ResNet (plain)')
    assert lines[4].startswith(config)
    assert lines[5].startswith('ratio (config / baseline)')
    ratios = [
        float(cell.strip().rstrip('x')) for cell in lines[5].split('|')[1:]
    ]
    assert len(ratios) == 4 and all(ratio > 0 for ratio in ratios)
    # DLA-L adds parameters and activations to the same ResNet
    assert ratios[2] > 1 and ratios[3] > 1


def test_benchmark_rejects_amp_on_cpu():
    with pytest.raises(SystemExit):
        benchmark.parse_args(['configs/dla50_8xb32_in1k.py', '--amp'])


def test_config_is_loaded_with_overrides():
    cfg = get_flops.load_config(CONFIG_DIR / 'dla50_8xb32_in1k.py',
                                {'model.backbone.depth': 101})
    assert isinstance(cfg, Config) and cfg.model.backbone.depth == 101
