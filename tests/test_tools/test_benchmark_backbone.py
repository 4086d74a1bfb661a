"""tools/analysis_tools/benchmark_backbone.py runs both models and prints
its table (a smoke run on tiny inputs; no timing is asserted)."""
import os.path as osp
import subprocess
import sys

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def test_benchmark_prints_a_row_per_model():
    result = subprocess.run([
        sys.executable,
        osp.join(REPO_ROOT, 'tools', 'analysis_tools',
                 'benchmark_backbone.py'), '--device', 'cpu', '--depth', '18',
        '--batch-size', '2', '--shape', '32', '--iters', '1', '--rounds',
        '2', '--warmup', '0', '--threads', '1'
    ],
                            capture_output=True,
                            text=True,
                            cwd=REPO_ROOT,
                            timeout=600)
    assert result.returncode == 0, result.stderr
    rows = [
        line for line in result.stdout.splitlines()
        if line.startswith('| ') and 'img/s' not in line
    ]
    assert [row.split('|')[1].strip() for row in rows] == [
        'mmpretrain ResNet-18', 'mmdla ResNet-18 DLA-L'
    ]
    baseline_ratio = rows[0].split('|')[3].split()[0]
    assert baseline_ratio == '1.00'
