"""The launch scripts stop with a usage line on bad arguments and name the
missing environment when torch cannot be imported, instead of a traceback."""
import os.path as osp
import subprocess
import sys

import pytest

SCRIPTS = {
    'dist_train.sh': ['CONFIG', '2'],
    'dist_test.sh': ['CONFIG', 'CHECKPOINT', '2'],
    'slurm_train.sh': ['PARTITION', 'JOB', 'CONFIG', 'WORK_DIR'],
    'slurm_test.sh': ['PARTITION', 'JOB', 'CONFIG', 'CHECKPOINT'],
}


def _run(run_tool, repo_root, script, args, **env):
    command = [
        'env', *(f'{k}={v}' for k, v in env.items()), 'bash',
        osp.join(repo_root, 'tools', script), *args
    ]
    return run_tool(command, cwd=repo_root, timeout=60)


@pytest.mark.parametrize('script', sorted(SCRIPTS))
def test_no_arguments_print_usage(run_tool, repo_root, script):
    result = _run(run_tool, repo_root, script, [])
    assert result.returncode == 2
    assert 'usage: ' in result.stdout and f'tools/{script}' in result.stdout
    assert 'Traceback' not in result.stdout


@pytest.mark.parametrize('count', ['0', 'two', '1.5', '-1'])
@pytest.mark.parametrize('script', ['dist_train.sh', 'dist_test.sh'])
def test_bad_process_count_prints_usage(run_tool, repo_root, script, count):
    args = SCRIPTS[script][:-1] + [count]
    result = _run(run_tool, repo_root, script, args)
    assert result.returncode == 2
    assert f"GPUS must be a positive number of processes, got '{count}'" \
        in result.stdout
    assert 'usage: tools/' in result.stdout


@pytest.mark.parametrize('script', ['slurm_train.sh', 'slurm_test.sh'])
def test_bad_slurm_process_count_prints_usage(run_tool, repo_root, script):
    result = _run(run_tool, repo_root, script, SCRIPTS[script], GPUS='x')
    assert result.returncode == 2
    assert "GPUS must be a positive number of processes, got 'x'" \
        in result.stdout


@pytest.fixture(scope='module')
def python_without_torch(tmp_path_factory) -> str:
    """The interpreter of a fresh virtual environment, without torch."""
    venv = tmp_path_factory.mktemp('venv')
    subprocess.run([sys.executable, '-m', 'venv', '--without-pip',
                    str(venv)],
                   check=True)
    return str(venv / 'bin' / 'python')


@pytest.mark.parametrize('script', sorted(SCRIPTS))
def test_environment_without_torch_is_named(run_tool, repo_root, script,
                                            python_without_torch):
    result = _run(
        run_tool,
        repo_root,
        script,
        SCRIPTS[script],
        PYTHON=python_without_torch)
    assert result.returncode == 1
    assert f"'{python_without_torch}'" in result.stdout
    assert 'cannot import torch: the environment of mmdla is not active' \
        in result.stdout
    assert '.venv/bin/activate' in result.stdout
    assert 'Traceback' not in result.stdout
