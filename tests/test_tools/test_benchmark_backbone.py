"""tools/analysis_tools/benchmark_backbone.py runs both models and prints
its table (a smoke run on tiny inputs; no timing is asserted)."""
import os.path as osp
import sys


def test_benchmark_prints_a_row_per_model(repo_root, run_tool):
    result = run_tool([
        sys.executable,
        osp.join(repo_root, 'tools', 'analysis_tools',
                 'benchmark_backbone.py'), '--device', 'cpu', '--depth', '18',
        '--batch-size', '2', '--shape', '32', '24', '--iters', '1',
        '--rounds', '3',
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
    assert '32x24' in result.stdout  # --shape H W
    for row in rows:
        cells = row.split('|')
        for img_s, ratio in ((cells[2], cells[3]), (cells[4], cells[5])):
            assert float(img_s) > 0
            # the median of the per-round ratios lies in their range
            median, spread = ratio.split()
            low, high = map(float, spread.strip('()').split('-'))
            assert low <= float(median) <= high
