"""tools/analysis_tools/benchmark_kernels.py on the CPU: every custom op of
the fused step runs (its kernels in Triton's interpreter) and gets a row
(no timing is asserted)."""
import os.path as osp
import sys

import pytest

OPS = [
    'spatial_means', 'output_sums', 'norm_coefficients', 'epilogue',
    'grad_reduce', 'grad_reduce (frozen norm)', 'norm_grad_coefficients',
    'kernel_grads', 'kernel_grads (frozen norm)', 'input_grads',
    'input_grads (frozen norm)', 'dsu_combine', 'dsu_combine_backward',
    'gate_kernels', 'gate_kernels_backward'
]


def tool(repo_root):
    return osp.join(repo_root, 'tools', 'analysis_tools',
                    'benchmark_kernels.py')


def test_every_op_gets_a_row(repo_root, run_tool):
    pytest.importorskip('triton', reason='triton is not installed')
    result = run_tool([
        sys.executable,
        tool(repo_root), '--device', 'cpu', '--batch-size', '2', '--stages',
        '8', '6', '5', '--stages', '4', '3', '3', '--iters', '1',
        '--dtype', 'float32'
    ],
                      cwd=repo_root,
                      timeout=600)
    assert result.returncode == 0, result.stdout
    rows = [
        line.split('|')[1:-1] for line in result.stdout.splitlines()
        if line.startswith('| ') and not line.startswith('| op ')
    ]
    assert [cells[0].strip() for cells in rows] == OPS * 2
    assert {cells[1].strip() for cells in rows} == {'2x8x6x5', '2x4x3x3'}
    for cells in rows:
        ms, gbps = float(cells[2]), float(cells[3])
        assert ms > 0 and gbps > 0
        assert cells[4].strip().endswith('%')


@pytest.mark.parametrize('option', [['--batch-size', '0'], ['--iters', '0'],
                                    ['--stages', '8', '0', '5']])
def test_non_positive_sizes_are_refused(repo_root, run_tool, option):
    result = run_tool([sys.executable, tool(repo_root), '--device', 'cpu',
                       *option],
                      cwd=repo_root,
                      timeout=120)
    assert result.returncode == 2
    assert option[0] in result.stdout
