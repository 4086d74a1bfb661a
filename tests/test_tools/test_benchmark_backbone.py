"""tools/analysis_tools/benchmark_backbone.py runs both models and prints
its table (a smoke run on tiny inputs; no timing is asserted)."""
import os.path as osp
import sys


def test_benchmark_prints_a_row_per_model(repo_root, run_tool):
    result = run_tool([
        sys.executable,
        osp.join(repo_root, 'tools', 'analysis_tools',
                 'benchmark_backbone.py'), '--device', 'cpu', '--depth', '18',
        '--batch-size', '2', '--shape', '32', '--iters', '1', '--rounds', '2',
        '--warmup', '0', '--threads', '1'
    ],
                      cwd=repo_root,
                      timeout=600)
    assert result.returncode == 0, result.stdout
    rows = [
        line for line in result.stdout.splitlines()
        if line.startswith('| ') and 'img/s' not in line
    ]
    assert [row.split('|')[1].strip() for row in rows
            ] == ['mmpretrain ResNet-18', 'mmdla ResNet-18 DLA-L']
    baseline_ratio = rows[0].split('|')[3].split()[0]
    assert baseline_ratio == '1.00'
