"""mmdla.analysis.cli: the options every analysis tool shares."""
import argparse
import os

import pytest
import torch

from mmdla.analysis import add_amp_argument, add_shape_argument, amp_autocast


def parser(**kwargs) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    add_shape_argument(parser, **kwargs)
    add_amp_argument(parser)
    return parser


def test_shape_takes_one_or_two_integers():
    assert parser().parse_args(['--shape', '64']).shape == (64, 64)
    assert parser().parse_args(['--shape', '60', '90']).shape == (60, 90)
    assert parser().parse_args([]).shape is None
    assert parser(default=(160, )).parse_args([]).shape == (160, 160)
    with pytest.raises(SystemExit):
        parser().parse_args(['--shape', '1', '2', '3'])


@pytest.mark.parametrize('values', [['0'], ['64', '-1']])
def test_shape_must_be_positive(values, capsys):
    with pytest.raises(SystemExit) as error:
        parser().parse_args(['--shape', *values])
    assert error.value.code == 2
    assert f'--shape must be >= 1, got {" ".join(values)}' in \
        capsys.readouterr().err


def test_amp_is_bf16_autocast():
    args = parser().parse_args(['--amp'])
    with amp_autocast(torch.device('cpu'), args.amp):
        out = torch.nn.functional.linear(torch.rand(2, 4), torch.rand(3, 4))
    assert out.dtype == torch.bfloat16
    with amp_autocast(torch.device('cpu'), parser().parse_args([]).amp):
        out = torch.nn.functional.linear(torch.rand(2, 4), torch.rand(3, 4))
    assert out.dtype == torch.float32


def test_kernel_device_runs_cpu_kernels_in_the_interpreter(monkeypatch):
    from mmdla.analysis.cli import kernel_device
    monkeypatch.delenv('TRITON_INTERPRET', raising=False)
    assert kernel_device('meta') == torch.device('meta')
    assert 'TRITON_INTERPRET' not in os.environ
    assert kernel_device('cpu') == torch.device('cpu')
    assert os.environ['TRITON_INTERPRET'] == '1'
    monkeypatch.setenv('TRITON_INTERPRET', '0')  # the environment's wins
    kernel_device('cpu')
    assert os.environ['TRITON_INTERPRET'] == '0'
