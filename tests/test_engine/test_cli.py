"""Argument helpers shared by the scripts of ``tools/``."""
import argparse
import os

import pytest
import torch
from mmengine.config import Config

from mmdla.analysis import amp_autocast
from mmdla.engine.cli import (add_amp_argument, add_cfg_options_arg,
                              add_shape_argument, check_substituted_variables,
                              kernel_device, non_negative_int, positive_int)


def counts_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog='tool')
    parser.add_argument('--batch-size', type=positive_int, default=1)
    parser.add_argument('--warmup', type=non_negative_int, default=0)
    return parser


def test_counts_accept_unset_and_allowed_values():
    parser = counts_parser()
    assert vars(parser.parse_args([])) == dict(batch_size=1, warmup=0)
    args = parser.parse_args(['--batch-size', '4', '--warmup', '0'])
    assert (args.batch_size, args.warmup) == (4, 0)


@pytest.mark.parametrize('argv, message', [
    (['--batch-size', '0'], 'argument --batch-size: must be >= 1, got 0'),
    (['--warmup', '-2'], 'argument --warmup: must be >= 0, got -2'),
    (['--batch-size', 'two'],
     "argument --batch-size: expected an integer, got 'two'"),
])
def test_counts_name_the_argument(argv, message, capsys):
    with pytest.raises(SystemExit) as error:
        counts_parser().parse_args(argv)
    assert error.value.code == 2
    assert f'tool: error: {message}' in capsys.readouterr().err


def test_cfg_options_are_parsed_into_a_dict():
    parser = argparse.ArgumentParser()
    add_cfg_options_arg(parser, help='override the config')
    assert parser.parse_args([]).cfg_options is None
    args = parser.parse_args(
        ['--cfg-options', 'model.backbone.depth=18', 'work_dir=out'])
    assert args.cfg_options == {'model.backbone.depth': 18, 'work_dir': 'out'}
    assert '--cfg-options' in parser.format_help()
    assert 'override the config' in parser.format_help()


def parse_shape_and_amp(argv, **kwargs) -> argparse.Namespace:
    """``argv`` parsed by a parser of ``--shape`` (``kwargs`` for
    :func:`add_shape_argument`) and ``--amp``."""
    parser = argparse.ArgumentParser()
    add_shape_argument(parser, **kwargs)
    add_amp_argument(parser)
    return parser.parse_args(argv)


def test_shape_takes_one_or_two_integers():
    assert parse_shape_and_amp(['--shape', '64']).shape == (64, 64)
    assert parse_shape_and_amp(['--shape', '60', '90']).shape == (60, 90)
    assert parse_shape_and_amp([]).shape is None
    assert parse_shape_and_amp([], default=(160, )).shape == (160, 160)
    with pytest.raises(SystemExit):
        parse_shape_and_amp(['--shape', '1', '2', '3'])


@pytest.mark.parametrize('values', [['0'], ['64', '-1']])
def test_shape_must_be_positive(values, capsys):
    with pytest.raises(SystemExit) as error:
        parse_shape_and_amp(['--shape', *values])
    assert error.value.code == 2
    assert f'--shape must be >= 1, got {" ".join(values)}' in \
        capsys.readouterr().err


def test_amp_is_bf16_autocast():
    with amp_autocast(torch.device('cpu'), parse_shape_and_amp(['--amp']).amp):
        out = torch.nn.functional.linear(torch.rand(2, 4), torch.rand(3, 4))
    assert out.dtype == torch.bfloat16
    with amp_autocast(torch.device('cpu'), parse_shape_and_amp([]).amp):
        out = torch.nn.functional.linear(torch.rand(2, 4), torch.rand(3, 4))
    assert out.dtype == torch.float32


def test_kernel_device_runs_cpu_kernels_in_the_interpreter(monkeypatch):
    monkeypatch.delenv('TRITON_INTERPRET', raising=False)
    assert kernel_device('meta') == torch.device('meta')
    assert 'TRITON_INTERPRET' not in os.environ
    assert kernel_device('cpu') == torch.device('cpu')
    assert os.environ['TRITON_INTERPRET'] == '1'
    monkeypatch.setenv('TRITON_INTERPRET', '0')  # the environment's wins
    kernel_device('cpu')
    assert os.environ['TRITON_INTERPRET'] == '0'


def _variable_config(tmp_path) -> Config:
    config = tmp_path / 'variables.py'
    config.write_text(
        "data_root = 'data/coco/'\n"
        "metainfo = dict(classes=('a', 'b'))\n"
        'train_dataloader = dict(dataset=dict(data_root=data_root, '
        "ann_file='annotations/train.json', metainfo=metainfo))\n"
        'test_dataloader = dict(dataset=dict(data_root=data_root, '
        'metainfo=metainfo))\n'
        "test_evaluator = dict(ann_file=data_root + 'annotations/val.json')\n")
    return Config.fromfile(str(config))


def test_setting_a_variable_of_the_config_names_its_uses(tmp_path):
    cfg = _variable_config(tmp_path)
    with pytest.raises(ValueError) as error:
        check_substituted_variables(cfg, {'data_root': '/other/'})
    assert str(error.value) == (
        "--cfg-options data_root=/other/: 'data_root' is a variable of the "
        "config file; its value 'data/coco/' was copied into the settings "
        'that use it when the file was read, so setting it changes nothing. '
        'Set those settings instead: --cfg-options '
        'test_dataloader.dataset.data_root=/other/ '
        'test_evaluator.ann_file=/other/annotations/val.json '
        'train_dataloader.dataset.data_root=/other/')
    with pytest.raises(ValueError) as error:
        check_substituted_variables(cfg, {'metainfo.classes': ['c', 'd']})
    assert 'Set those settings instead: --cfg-options ' \
        'test_dataloader.dataset.metainfo.classes=[c,d] ' \
        'train_dataloader.dataset.metainfo.classes=[c,d]' in str(error.value)


def test_settings_read_by_name_pass(tmp_path):
    cfg = _variable_config(tmp_path)
    check_substituted_variables(
        cfg, {
            'train_dataloader.dataset.data_root': '/other/',
            'data_root': 'data/coco/',
            'work_dir': 'data/coco/x'
        })
