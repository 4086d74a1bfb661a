"""tools/analysis_tools: get_flops.py and benchmark.py print their reports
(run in this process, as ``python tools/analysis_tools/X.py ...``)."""
import os.path as osp
import runpy
import sys

import pytest


@pytest.fixture
def run_script(repo_root, monkeypatch):
    """Run a script of tools/analysis_tools with arguments as
    ``__main__``."""

    def run(name, *args):
        path = osp.join(repo_root, 'tools', 'analysis_tools', name)
        monkeypatch.setattr(sys, 'argv', [path, *args])
        runpy.run_path(path, run_name='__main__')

    return run


def test_get_flops_prints_reference_sizes(run_script, repo_root, capsys):
    # ResNet-50 with DLA-L (r = 16), 1000 classes: the parameters of the
    # authors' model (the shapes in
    # tests/data/reference/imagenet_resnet50_dla_l.tsv, norm statistics
    # excluded, add up to 28,581,812)
    run_script('get_flops.py',
               osp.join(repo_root, 'configs', 'dla50_8xb32_in1k.py'))
    out = capsys.readouterr().out
    assert 'Input shape: 3 x 224 x 224' in out
    assert 'Params: 28,581,812' in out
    assert 'convolutions and linear layers): 4.21 G' in out


def test_get_flops_takes_one_shape_number(run_script, repo_root, capsys):
    run_script('get_flops.py',
               osp.join(repo_root, 'configs', 'dla110_1xb128_cifar10.py'),
               '--shape', '40')
    assert 'Input shape: 3 x 40 x 40' in capsys.readouterr().out


def test_get_flops_refuses_a_zero_shape(run_script, repo_root, capsys):
    with pytest.raises(SystemExit) as error:
        run_script('get_flops.py',
                   osp.join(repo_root, 'configs', 'dla110_1xb128_cifar10.py'),
                   '--shape', '0')
    assert error.value.code == 2
    assert 'get_flops.py: error: --shape must be >= 1, got 0' in \
        capsys.readouterr().err


@pytest.mark.parametrize('amp', [False, True])
def test_benchmark_prints_table(run_script, repo_root, capsys, amp):
    config = osp.join(repo_root, 'configs', 'dla50_8xb32_in1k.py')
    run_script('benchmark.py', config, '--shape', '32',
               '--batch-size', '2', '--iters', '1', '--warmup', '0',
               *(['--amp'] if amp else []), '--cfg-options',
               'model.backbone.depth=18', 'model.head.in_channels=512')
    out = capsys.readouterr().out
    # MMEngine may log a warning about the default scope before the report
    lines = out[out.index('device=cpu'):].strip().splitlines()
    assert lines[0].startswith(f'device=cpu amp={amp} channels_last=False')
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
