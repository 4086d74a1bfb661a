"""tools/analysis_tools/benchmark_backbone.py runs its models and prints
its tables (smoke runs on tiny inputs; no timing is asserted)."""
import os.path as osp
import re
import sys
from typing import List

import pytest

TOOL = osp.join('tools', 'analysis_tools', 'benchmark_backbone.py')
# a tiny, quick run: one thread, one timed step per round
TINY = [
    '--device', 'cpu', '--depth', '18', '--iters', '1', '--warmup', '0',
    '--threads', '1'
]


def table_rows(stdout: str) -> List[List[str]]:
    """Cells of the speed table's rows (its header and rule left out)."""
    return [[cell.strip() for cell in line.split('|')[1:-1]]
            for line in stdout.splitlines()
            if line.startswith('| ') and 'img/s' not in line
            and not line.startswith('| `') and 'calls per step' not in line]


def check_ratios(cells: List[str]) -> None:
    """Each ``img/s | median (low-high)`` pair: a positive rate and the
    median of the per-round ratios within their range."""
    for img_s, ratio in zip(cells[0::2], cells[1::2]):
        assert float(img_s) > 0
        median, spread = ratio.split()
        low, high = map(float, spread.strip('()').split('-'))
        assert low <= float(median) <= high


def test_benchmark_prints_a_row_per_fused_path_and_a_profile(
        repo_root, run_tool):
    result = run_tool([
        sys.executable, TOOL, *TINY, '--batch-size', '2', '--shape', '32',
        '24', '--rounds', '3', '--fused', 'auto,false', '--profile', '1'
    ],
                      cwd=repo_root,
                      timeout=600)
    assert result.returncode == 0, result.stdout
    rows = table_rows(result.stdout)
    assert [row[0] for row in rows] == [
        'mmpretrain ResNet-18', 'mmdla ResNet-18 DLA-L fused=auto',
        'mmdla ResNet-18 DLA-L fused=false'
    ]
    assert '32x24' in result.stdout  # --shape H W
    for row in rows:
        assert len(row) == 5  # train and inference; no memory on the CPU
        check_ratios(row[1:])
    # a profile per model: the ops of a step, their time and the top ones
    for name in (row[0] for row in rows):
        assert f'Profile of a training step of {name} (1 steps)' in (
            result.stdout)
    counts = re.findall(r'^(\d+) CPU ops per step, ([\d.]+) ms of op time',
                        result.stdout, re.M)
    assert len(counts) == 3 and all(int(n) > 0 for n, _ in counts)
    assert result.stdout.count('| op | calls per step | ms per step | share '
                               '|') == 3
    top = [
        line for line in result.stdout.splitlines() if line.startswith('| `')
    ]
    assert top and all(line.endswith('% |') for line in top)


def test_detection_preset_without_mmdet_and_mmpretrain(repo_root, run_tool):
    """The detection preset runs its four-output, frozen backbones with
    torchvision's ResNet as on a GPU machine, where only torch,
    torchvision, MMEngine and mmcv-lite are installed."""
    blocked = ('import runpy, sys; '
               'sys.modules.update(mmdet=None, mmpretrain=None); '
               f'sys.argv[0] = {TOOL!r}; '
               f"runpy.run_path({TOOL!r}, run_name='__main__')")
    result = run_tool([
        sys.executable, '-c', blocked, *TINY, '--preset', 'detection',
        '--shape', '64', '96', '--batch-size', '1', '--rounds', '2',
        '--baseline', 'torchvision', '--fused', 'false'
    ],
                      cwd=repo_root,
                      timeout=600)
    assert result.returncode == 0, result.stdout
    assert ('preset detection (out_indices=(0, 1, 2, 3), frozen_stages=1, '
            'norm_eval=True), batch 1 (train), 64x96') in result.stdout
    rows = table_rows(result.stdout)
    assert [row[0] for row in rows] == [
        'torchvision ResNet-18', 'mmdla ResNet-18 DLA-L fused=false'
    ]
    for row in rows:
        assert len(row) == 3  # training only
        check_ratios(row[1:])


@pytest.mark.parametrize('option,value,message', [
    ('--batch-size', '0', 'argument --batch-size: must be >= 1, got 0'),
    ('--iters', '-1', 'argument --iters: must be >= 1, got -1'),
    ('--warmup', '-1', 'argument --warmup: must be >= 0, got -1'),
    ('--fused', 'auto,fast', 'argument --fused: expected a comma list'),
])
def test_bad_arguments_are_usage_errors(repo_root, run_tool, option, value,
                                        message):
    result = run_tool([sys.executable, TOOL, '--device', 'cpu', option, value],
                      cwd=repo_root,
                      timeout=600)
    assert result.returncode == 2, result.stdout
    assert message in result.stdout


def test_fused_kernels_on_the_cpu_need_the_interpreter(
        repo_root, tool_env, run_tool):
    env = {k: v for k, v in tool_env.items() if k != 'TRITON_INTERPRET'}
    result = run_tool(
        [sys.executable, TOOL, '--device', 'cpu', '--fused', 'auto,true'],
        cwd=repo_root,
        env=env,
        timeout=600)
    assert result.returncode == 2, result.stdout
    assert 'set TRITON_INTERPRET=1' in result.stdout


def test_gpu_table_runs_every_part(repo_root, tool_env, run_tool):
    """tools/analysis_tools/gpu_table.sh, with a PYTHON that only echoes
    its command lines: the three accuracy checks, the four backbone runs
    and the kernel benchmark, all on CUDA, extra arguments passed to the
    backbone runs."""
    env = dict(tool_env, PYTHON='echo')
    result = run_tool([
        'bash',
        osp.join('tools', 'analysis_tools', 'gpu_table.sh'), '--warmup', '3'
    ],
                      cwd=repo_root,
                      env=env,
                      timeout=60)
    assert result.returncode == 0, result.stdout
    commands = [
        line.split() for line in result.stdout.splitlines()
        if line.endswith('.py') or '.py ' in line
    ]
    assert [osp.basename(c[0]) for c in commands] == [
        'check_fused_step.py'
    ] * 3 + ['benchmark_backbone.py'] * 4 + ['benchmark_kernels.py']
    assert all(c[1:3] == ['--device', 'cuda'] for c in commands)
    backbone = [' '.join(c) for c in commands[3:7]]
    assert all(c.endswith('--warmup 3') for c in backbone)
    assert '--fused auto,true,false --profile' in backbone[0]
    assert '--compile' in backbone[1]
    assert '--preset detection' in backbone[2] and '--amp' not in backbone[2]
    assert '--preset detection' in backbone[3] and '--amp' in backbone[3]
