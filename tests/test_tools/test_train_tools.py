"""tools/train.py, tools/test.py and the converter tool: argument handling,
configs they build, and the errors they give for missing data, broken or
unfitting checkpoints and misspelt options."""
import importlib.util
import os.path as osp
import sys
from types import ModuleType
from typing import List

import pytest
import torch
from mmengine.config import Config


def _load_tool(repo_root: str, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        f'mmdla_tool_{name}', osp.join(repo_root, 'tools', f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def train_tool(repo_root) -> ModuleType:
    return _load_tool(repo_root, 'train')


@pytest.fixture(scope='module')
def test_tool(repo_root) -> ModuleType:
    return _load_tool(repo_root, 'test')


def _merged(tool: ModuleType, monkeypatch, argv: List[str]) -> Config:
    monkeypatch.setattr(sys, 'argv', ['train.py', *argv])
    args = tool.parse_args()
    return tool.merge_args(Config.fromfile(args.config), args)


def _save_runner_checkpoint(path, iteration: int) -> str:
    torch.save(dict(meta=dict(iter=iteration), state_dict={}), path)
    return str(path)


def test_train_defaults(train_tool, monkeypatch, faster_rcnn_demo):
    cfg = _merged(train_tool, monkeypatch, [faster_rcnn_demo])
    assert cfg.work_dir == './work_dirs/faster_rcnn_dla18_fpn_shapes'
    assert cfg.launcher == 'none'
    assert not cfg.resume
    # the hooks are the config's own, not swapped by the tool
    assert cfg.default_hooks.checkpoint.type == 'mmdla.AtomicCheckpointHook'
    assert cfg.default_hooks.finite_loss.type == 'mmdla.FiniteLossHook'
    assert cfg.default_hooks.random_state.type == 'mmdla.RandomStateHook'


def test_train_resume_and_overrides(train_tool, monkeypatch, tmp_path,
                                    faster_rcnn_demo):
    cfg = _merged(train_tool, monkeypatch, [
        faster_rcnn_demo, '--resume', '--work-dir',
        str(tmp_path), '--auto-scale-lr', '--no-validate', '--cfg-options',
        'train_cfg.max_epochs=2'
    ])
    # nothing to resume in an empty work dir: a new run
    assert cfg.resume is False and cfg.load_from is None
    assert cfg.work_dir == str(tmp_path)
    assert cfg.auto_scale_lr.enable is True
    assert cfg.val_cfg is None and cfg.val_dataloader is None
    assert cfg.train_cfg.max_epochs == 2

    given = _save_runner_checkpoint(tmp_path / 'epoch_3.pth', 12)
    cfg = _merged(train_tool, monkeypatch,
                  [faster_rcnn_demo, '--resume', given])
    assert cfg.resume is True and cfg.load_from == given


def test_resume_without_pointer_continues_from_latest_checkpoint(
        train_tool, monkeypatch, tmp_path, faster_rcnn_demo):
    # a work dir whose last_checkpoint pointer is lost: MMEngine alone
    # would train from epoch 1 over these checkpoints
    for epoch in (6, 7, 8):
        _save_runner_checkpoint(tmp_path / f'epoch_{epoch}.pth', epoch * 4)
    cfg = _merged(train_tool, monkeypatch,
                  [faster_rcnn_demo, '--resume', '--work-dir',
                   str(tmp_path)])
    assert cfg.resume is True
    assert cfg.load_from == str(tmp_path / 'epoch_8.pth')


@pytest.mark.parametrize('variable',
                         ['TORCHELASTIC_RESTART_COUNT', 'SLURM_RESTART_COUNT'])
def test_restarted_job_resumes_without_resume(train_tool, monkeypatch,
                                              tmp_path, faster_rcnn_demo,
                                              variable):
    for epoch in (1, 2):
        _save_runner_checkpoint(tmp_path / f'epoch_{epoch}.pth', epoch * 4)
    argv = [faster_rcnn_demo, '--new-run', '--work-dir', str(tmp_path)]
    # the first start of the job: a new run, as the command line says
    monkeypatch.setenv(variable, '0')
    cfg = _merged(train_tool, monkeypatch, argv)
    assert not cfg.resume
    # restarted by its launcher: the latest checkpoint, and nothing is
    # moved aside by the --new-run of the first command line
    monkeypatch.setenv(variable, '1')
    monkeypatch.setattr(sys, 'argv', ['train.py', *argv])
    args = train_tool.parse_args()
    cfg = train_tool.merge_args(Config.fromfile(args.config), args)
    assert cfg.resume is True
    assert cfg.load_from == str(tmp_path / 'epoch_2.pth')
    assert args.new_run is False


def test_resume_over_unusable_checkpoints_is_an_error(train_tool, monkeypatch,
                                                      tmp_path,
                                                      faster_rcnn_demo):
    from mmdla.engine import CheckpointFileError
    (tmp_path / 'epoch_8.pth').write_bytes(b'')
    with pytest.raises(CheckpointFileError, match='--resume PATH'):
        _merged(train_tool, monkeypatch,
                [faster_rcnn_demo, '--resume', '--work-dir',
                 str(tmp_path)])
    with pytest.raises(CheckpointFileError, match='is empty'):
        _merged(train_tool, monkeypatch,
                [faster_rcnn_demo, '--resume',
                 str(tmp_path / 'epoch_8.pth')])


def test_unknown_cfg_option_key_is_an_error(train_tool, monkeypatch,
                                            faster_rcnn_demo):
    with pytest.raises(ValueError) as error:
        _merged(train_tool, monkeypatch,
                [faster_rcnn_demo, '--cfg-options', 'randomnes.seed=1'])
    assert "no key 'randomnes'" in str(error.value)
    assert "did you mean 'randomness'?" in str(error.value)
    # keys the runner reads are accepted although the config lacks them
    cfg = _merged(train_tool, monkeypatch, [
        faster_rcnn_demo, '--cfg-options', 'randomness.seed=1',
        'find_unused_parameters=True'
    ])
    assert cfg.randomness.seed == 1 and cfg.find_unused_parameters is True


def test_setting_a_config_variable_names_the_settings(
        train_tool, test_tool, monkeypatch, faster_rcnn_demo):
    # `data_root` was copied into the dataloaders and evaluators when the
    # config was read: setting it alone would train on the old data
    with pytest.raises(ValueError) as error:
        _merged(train_tool, monkeypatch,
                [faster_rcnn_demo, '--cfg-options', 'data_root=/other/'])
    message = str(error.value)
    assert message.startswith(
        "--cfg-options data_root=/other/: 'data_root' is a variable of the "
        "config file; its value 'data/shapes_coco/' was copied")
    for split in ('train', 'val', 'test'):
        assert f'{split}_dataloader.dataset.data_root=/other/ ' in message
    for split in ('val', 'test'):
        assert f'{split}_evaluator.ann_file=/other/annotations/' \
            'instances_val.json' in message

    monkeypatch.setattr(sys, 'argv', [
        'test.py', faster_rcnn_demo, 'x.pth', '--cfg-options',
        'data_root=/other/'
    ])
    args = test_tool.parse_args()
    with pytest.raises(ValueError, match="'data_root' is a variable"):
        test_tool.apply_common_args(Config.fromfile(args.config), args)


def test_new_run_and_resume_exclude_each_other(train_tool, monkeypatch,
                                               faster_rcnn_demo):
    with pytest.raises(SystemExit):
        _merged(train_tool, monkeypatch,
                [faster_rcnn_demo, '--new-run', '--resume'])


def test_train_cls_config(train_tool, monkeypatch, cls_demo):
    cfg = _merged(train_tool, monkeypatch, [cls_demo])
    assert cfg.default_scope == 'mmpretrain'
    assert cfg.default_hooks.checkpoint.type == 'mmdla.AtomicCheckpointHook'


@pytest.mark.skipif(torch.cuda.is_available(), reason='checks the CPU path')
def test_amp_without_gpu_is_a_clear_error(train_tool, monkeypatch,
                                          faster_rcnn_demo):
    with pytest.raises(RuntimeError, match='--amp needs a GPU'):
        _merged(train_tool, monkeypatch, [faster_rcnn_demo, '--amp'])


def test_auto_scale_lr_needs_base_batch(train_tool, monkeypatch, tmp_path,
                                        faster_rcnn_demo):
    config = tmp_path / 'no_auto_scale.py'
    config.write_text(f'_base_ = {faster_rcnn_demo!r}\n'
                      'auto_scale_lr = dict(_delete_=True, enable=False)\n')
    with pytest.raises(RuntimeError, match='base_batch_size'):
        _merged(train_tool, monkeypatch, [str(config), '--auto-scale-lr'])


@pytest.mark.skipif(torch.cuda.is_available(), reason='checks the CPU path')
def test_distributed_on_cpu_uses_gloo_without_device_ids(
        monkeypatch, faster_rcnn_demo):
    from mmdla.engine import setup_distributed
    cfg = Config.fromfile(faster_rcnn_demo)
    setup_distributed(cfg, 'none')
    assert cfg.env_cfg.dist_cfg.backend == 'nccl'  # untouched, no launch
    assert 'model_wrapper_cfg' not in cfg

    # a real process group is started by tests/test_demo (dist_train.sh)
    monkeypatch.setattr(torch.distributed, 'is_initialized', lambda: True)
    setup_distributed(cfg, 'pytorch')
    assert cfg.env_cfg.dist_cfg.backend == 'gloo'
    assert cfg.model_wrapper_cfg.device_ids is None
    assert cfg.model_wrapper_cfg.type == 'MMDistributedDataParallel'


def test_train_without_data_names_location_and_fix(tmp_path, faster_rcnn_demo,
                                                   repo_root, run_tool):
    result = run_tool([
        sys.executable,
        osp.join(repo_root, 'tools', 'train.py'), faster_rcnn_demo
    ],
                      cwd=str(tmp_path))
    assert result.returncode != 0
    assert 'FileNotFoundError: The dataset of this config was not found' \
        in result.stdout
    assert str(tmp_path / 'data' / 'shapes_coco') in result.stdout
    assert '--cfg-options train_dataloader.dataset.data_root=' \
        in result.stdout
    assert 'tools/misc/generate_demo_data.py' in result.stdout


def test_test_tool_errors(tmp_path, faster_rcnn_demo, repo_root, run_tool):
    tool = osp.join(repo_root, 'tools', 'test.py')
    result = run_tool([sys.executable, tool, faster_rcnn_demo, 'missing.pth'],
                      cwd=str(tmp_path))
    assert result.returncode != 0
    assert "Checkpoint 'missing.pth' does not exist" in result.stdout

    result = run_tool([
        sys.executable, tool, faster_rcnn_demo, 'missing.pth', '--out',
        'x.json'
    ],
                      cwd=str(tmp_path))
    assert result.returncode == 2
    assert '--out must name a .pkl file' in result.stdout


def test_show_dir_enables_visualization(test_tool, monkeypatch,
                                        faster_rcnn_demo, cls_demo):
    monkeypatch.setattr(
        sys, 'argv', ['test.py', faster_rcnn_demo, 'x.pth', '--show-dir', 'p'])
    args = test_tool.parse_args()
    cfg = Config.fromfile(faster_rcnn_demo)
    test_tool.enable_visualization(cfg, args)
    assert cfg.default_hooks.visualization.draw is True
    assert cfg.default_hooks.visualization.test_out_dir == 'p'

    cfg = Config.fromfile(cls_demo)
    test_tool.enable_visualization(cfg, args)
    assert cfg.default_hooks.visualization.enable is True


def test_hook_option_typo_stops_before_training(tmp_path, faster_rcnn_demo,
                                                tiny_detection_options,
                                                repo_root, run_tool):
    work_dir = tmp_path / 'work_dir'
    result = run_tool([
        sys.executable,
        osp.join(repo_root, 'tools',
                 'train.py'), faster_rcnn_demo, '--work-dir',
        str(work_dir), *tiny_detection_options(1),
        'default_hooks.checkpoint.intreval=1'
    ],
                      cwd=str(tmp_path),
                      timeout=300)
    assert result.returncode != 0
    assert "AtomicCheckpointHook has no option 'intreval'; did you mean " \
        "'interval'?" in result.stdout
    assert 'Epoch(train)' not in result.stdout
    assert not list(work_dir.glob('*.pth'))


def _demo_detector_checkpoint(config: str, path, **backbone) -> str:
    """Save the initial weights of the demo detector, its backbone
    updated with ``backbone``."""
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    register_all_modules()
    cfg = Config.fromfile(config)
    cfg.model.backbone.update(backbone)
    torch.save(dict(state_dict=MODELS.build(cfg.model).state_dict()), path)
    return str(path)


def test_test_tool_refuses_checkpoint_of_another_model(tmp_path,
                                                       faster_rcnn_demo,
                                                       tiny_detection_options,
                                                       repo_root, run_tool):
    # a depth-34 checkpoint (3 blocks in layer1) for the depth-18 demo (2)
    checkpoint = _demo_detector_checkpoint(
        faster_rcnn_demo, tmp_path / 'dla34.pth', depth=34)
    command = [
        sys.executable,
        osp.join(repo_root, 'tools', 'test.py'), faster_rcnn_demo, checkpoint,
        '--work-dir',
        str(tmp_path / 'work_dir'), *tiny_detection_options(1)
    ]
    result = run_tool(command, cwd=str(tmp_path), timeout=300)
    assert result.returncode != 0
    assert 'CheckpointMismatchError' in result.stdout
    assert f"Checkpoint '{checkpoint}' does not fit the model" \
        in result.stdout
    assert 'keys of the checkpoint are not in the model (' \
        'backbone.layer1.2.' in result.stdout
    assert 'coco/bbox_mAP' not in result.stdout

    result = run_tool(
        [*command[:4], '--allow-partial-checkpoint', *command[4:]],
        cwd=str(tmp_path),
        timeout=300)
    assert result.returncode == 0, result.stdout[-3000:]
    assert 'coco/bbox_mAP' in result.stdout


@pytest.mark.parametrize('content, expected', [
    (b'', 'is empty (0 bytes)'),
    (b'<html>Not Found</html>', 'is a text file'),
])
def test_test_tool_names_broken_checkpoint(tmp_path, faster_rcnn_demo,
                                           repo_root, run_tool, content,
                                           expected):
    checkpoint = tmp_path / 'epoch_1.pth'
    checkpoint.write_bytes(content)
    result = run_tool([
        sys.executable,
        osp.join(repo_root, 'tools', 'test.py'), faster_rcnn_demo,
        str(checkpoint)
    ],
                      cwd=str(tmp_path))
    assert result.returncode != 0
    assert f"CheckpointFileError: Checkpoint '{checkpoint}' {expected}" \
        in result.stdout


@pytest.mark.parametrize('saved, expected', [
    (None, 'is empty (0 bytes)'),
    (dict(state_dict={}), 'holds no weights'),
    (dict(state_dict={'backbone.conv1.weight': torch.zeros(1)}),
     "is already in mmdla's layout"),
])
def test_converter_refuses_what_it_cannot_convert(tmp_path, repo_root,
                                                  run_tool, saved, expected):
    source = tmp_path / 'source.pth'
    if saved is None:
        source.write_bytes(b'')
    else:
        torch.save(saved, source)
    result = run_tool([
        sys.executable,
        osp.join(repo_root, 'tools', 'model_converters',
                 'dla_official_to_mmdla.py'),
        str(source),
        str(tmp_path / 'converted.pth')
    ],
                      cwd=str(tmp_path))
    assert result.returncode != 0
    assert str(source) in result.stdout and expected in result.stdout
    assert not (tmp_path / 'converted.pth').exists()
