"""Slurm and MPI launches without their variables give a clear error."""
import pytest
import torch
from mmengine.config import Config

from mmdla.engine import setup_distributed

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
