"""Argument helpers shared by the scripts of ``tools/``."""
import argparse

import pytest

from mmdla.engine.cli import add_cfg_options_arg, check_positive


def counts_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog='tool')
    parser.add_argument('--batch-size', type=int, default=1)
    parser.add_argument('--max-images', type=int)
    return parser


def test_check_positive_accepts_unset_and_positive_counts():
    parser = counts_parser()
    for argv in ([], ['--max-images', '1', '--batch-size', '4']):
        args = parser.parse_args(argv)
        check_positive(parser, args, ('batch_size', 'max_images'))


@pytest.mark.parametrize('argv, message', [
    (['--batch-size', '0'], '--batch-size must be >= 1, got 0'),
    (['--max-images', '-2'], '--max-images must be >= 1, got -2'),
])
def test_check_positive_names_the_argument(argv, message, capsys):
    parser = counts_parser()
    args = parser.parse_args(argv)
    with pytest.raises(SystemExit) as error:
        check_positive(parser, args, ('batch_size', 'max_images'))
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
