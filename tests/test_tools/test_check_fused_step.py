"""tools/analysis_tools/check_fused_step.py on the CPU (kernels in Triton's
interpreter): a whole DLA-L backbone's fused training step is as accurate
against float64 as the PyTorch path, and two fused steps agree bit for
bit."""
import os.path as osp
import re
import sys

import pytest


def test_fused_step_is_as_accurate_as_the_pytorch_path(repo_root, run_tool):
    pytest.importorskip('triton', reason='triton is not installed')
    result = run_tool([
        sys.executable,
        osp.join(repo_root, 'tools', 'analysis_tools', 'check_fused_step.py'),
        '--device', 'cpu', '--depth', '18', '--batch-size', '2', '--shape',
        '64'
    ],
                      cwd=repo_root,
                      timeout=1200)
    assert result.returncode == 0, result.stdout
    compared = int(re.search(r'tensors compared: (\d+)', result.stdout)[1])
    assert compared > 200  # outputs, gradients, running statistics
    fused, pytorch = map(
        float,
        re.search(r'fused step (\S+) .*PyTorch path (\S+) ',
                  result.stdout).groups())
    assert fused < 1e-3 and fused < 10 * pytorch, result.stdout
    assert 'two identical fused steps bitwise equal: yes' in result.stdout
