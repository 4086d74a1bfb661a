"""The distributed launch on the CPU: Slurm and MPI variables, the process
group's end, and the exit of a rank whose run completed."""
import socket
import sys
import textwrap

import pytest
import torch
from mmengine.config import Config

from mmdla.engine import (exit_distributed_run, setup_distributed,
                          shutdown_distributed)

_VARIABLES = ('SLURM_PROCID', 'SLURM_NTASKS', 'SLURM_LOCALID',
              'SLURM_NODELIST', 'OMPI_COMM_WORLD_RANK', 'OMPI_COMM_WORLD_SIZE',
              'OMPI_COMM_WORLD_LOCAL_RANK')


@pytest.mark.skipif(torch.cuda.is_available(), reason='checks the CPU path')
@pytest.mark.parametrize('launcher, named', [
    ('slurm', 'SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID, SLURM_NODELIST'),
    ('mpi', 'OMPI_COMM_WORLD_RANK, OMPI_COMM_WORLD_SIZE, '
     'OMPI_COMM_WORLD_LOCAL_RANK'),
])
def test_launcher_without_its_variables(monkeypatch, launcher, named):
    for name in _VARIABLES:
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(RuntimeError) as error:
        setup_distributed(Config(dict(env_cfg=dict())), launcher)
    assert f'--launcher {launcher} needs the variables {named}' in str(
        error.value)
    assert not torch.distributed.is_initialized()


@pytest.mark.skipif(torch.cuda.is_available(), reason='checks the CPU path')
def test_slurm_names_only_the_missing_variables(monkeypatch):
    for name in _VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv('SLURM_PROCID', '0')
    monkeypatch.setenv('SLURM_NTASKS', '1')
    with pytest.raises(
            RuntimeError,
            match='needs the variables SLURM_LOCALID, '
            'SLURM_NODELIST, which'):
        setup_distributed(Config(dict(env_cfg=dict())), 'slurm')


@pytest.mark.skipif(torch.cuda.is_available(), reason='checks the CPU path')
def test_shutdown_destroys_the_process_group(monkeypatch, faster_rcnn_demo):
    with socket.socket() as sock:  # a free port for the rendezvous
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    for name, value in dict(
            RANK='0',
            WORLD_SIZE='1',
            LOCAL_RANK='0',
            MASTER_ADDR='127.0.0.1',
            MASTER_PORT=str(port)).items():
        monkeypatch.setenv(name, value)
    setup_distributed(Config.fromfile(faster_rcnn_demo), 'pytorch')
    assert torch.distributed.is_initialized()
    assert torch.distributed.get_backend() == 'gloo'
    shutdown_distributed()
    assert not torch.distributed.is_initialized()
    shutdown_distributed()  # nothing left to destroy: no error


def test_exit_without_a_process_group_returns():
    assert not torch.distributed.is_initialized()
    exit_distributed_run()  # a single-process run ends normally


_RANK_SCRIPT = textwrap.dedent("""\
    import atexit
    import socket

    import torch
    import torch.distributed as dist

    from mmdla.engine import exit_distributed_run

    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}',
                            rank=0, world_size=1)
    model = torch.nn.parallel.DistributedDataParallel(torch.nn.Linear(2, 2))
    model(torch.ones(1, 2)).sum().backward()
    gathered = [None]
    dist.all_gather_object(gathered, {'mAP': 0.5})
    atexit.register(print, 'interpreter finalized')
    print('run completed', gathered, flush=False)
    exit_distributed_run()
    print('not reached')
    """)


@pytest.mark.skipif(torch.cuda.is_available(), reason='checks the CPU path')
def test_exit_after_a_distributed_run(tmp_path, run_tool):
    script = tmp_path / 'rank.py'
    script.write_text(_RANK_SCRIPT)
    result = run_tool([sys.executable, str(script)],
                      cwd=str(tmp_path),
                      timeout=120)
    assert result.returncode == 0, result.stdout
    # the buffered output is flushed, and the interpreter is not finalized
    # (where gloo's worker threads could abort the process)
    assert "run completed [{'mAP': 0.5}]" in result.stdout
    assert 'interpreter finalized' not in result.stdout
    assert 'not reached' not in result.stdout
