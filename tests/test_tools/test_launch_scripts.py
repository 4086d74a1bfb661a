"""The launch scripts stop with a usage line on bad arguments, name the
missing environment when torch cannot be imported and a master port in use,
instead of a traceback, and pass paths with spaces on whole."""
import os.path as osp
import socket
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


@pytest.mark.parametrize('script', ['dist_train.sh', 'dist_test.sh'])
def test_busy_master_port_is_named(run_tool, repo_root, tool_env, script):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(('', 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = _run(
            run_tool,
            repo_root,
            script,
            SCRIPTS[script],
            PORT=port,
            PYTHON=sys.executable,
            PYTHONPATH=tool_env['PYTHONPATH'])
        # torchrun's c10d rendezvous on this machine, as well
        c10d = run_tool([
            sys.executable, '-m', 'mmdla.engine.torchrun',
            '--rdzv-backend=c10d', f'--rdzv-endpoint=127.0.0.1:{port}',
            '--nproc-per-node=1', 'train.py'
        ],
                        cwd=repo_root,
                        timeout=60)
    for output in (result, c10d):
        assert output.returncode == 2, output.stdout
        assert f'the master port {port} is in use' in output.stdout
        assert f'PORT={port + 1} tools/dist_train.sh' in output.stdout
        assert 'Traceback' not in output.stdout


@pytest.mark.parametrize('value', ['x', '-1', '1.5'])
def test_bad_max_restarts_prints_usage(run_tool, repo_root, value):
    result = _run(
        run_tool, repo_root, 'dist_train.sh', SCRIPTS['dist_train.sh'],
        MAX_RESTARTS=value)
    assert result.returncode == 2
    assert f"MAX_RESTARTS must be 0 or a positive number, got '{value}'" \
        in result.stdout


@pytest.fixture
def fake_slurm(tmp_path) -> str:
    """A folder with an ``srun`` that writes its arguments, one a line, to
    ``srun_args.txt`` beside it and exits with ``$SRUN_STATUS``, and an
    ``scontrol`` that writes its arguments to ``scontrol_args.txt``."""
    for tool in ('srun', 'scontrol'):
        path = tmp_path / tool
        path.write_text('#!/usr/bin/env bash\n'
                        f'printf "%s\\n" "$@" > "{tmp_path}/{tool}_args.txt"\n'
                        'exit "${SRUN_STATUS:-0}"\n')
        path.chmod(0o755)
    return str(tmp_path)


def test_slurm_train_keeps_paths_whole_and_requeues(run_tool, repo_root,
                                                    tool_env, fake_slurm):
    work_dir = '/tmp/a work dir'
    result = _run(
        run_tool,
        repo_root,
        'slurm_train.sh', ['part', 'job', 'my config.py', work_dir,
                           '--cfg-options', 'a=1 2'],
        PATH=f'{fake_slurm}{osp.pathsep}{tool_env["PATH"]}',
        PYTHON=sys.executable,
        SIGNAL_AHEAD=120,
        REQUEUE=1,
        SLURM_JOB_ID=42,
        SRUN_STATUS=75)
    assert result.returncode == 75, result.stdout
    srun_args = open(osp.join(fake_slurm, 'srun_args.txt')).read()
    lines = srun_args.splitlines()
    assert '--signal=USR1@120' in lines
    assert lines[-5:] == [
        'my config.py', f'--work-dir={work_dir}', '--launcher=slurm',
        '--cfg-options', 'a=1 2'
    ]
    scontrol_args = open(osp.join(fake_slurm, 'scontrol_args.txt')).read()
    assert scontrol_args.splitlines() == ['requeue', '42']
