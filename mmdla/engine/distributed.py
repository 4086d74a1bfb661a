"""Distributed launch on machines without a GPU.

MMEngine initialises a process group with ``torch.cuda.set_device`` first and
wraps the model in DDP with ``device_ids=[LOCAL_RANK]``; both fail on a
CPU-only machine. :func:`setup_distributed` makes the same config run on the
CPU: it picks the gloo backend, initialises the process group itself (the
runner then skips its own initialisation) and wraps the model without device
ids. On GPU machines it applies an explicitly requested backend, and
initialises the group of a restarted job (see :func:`_init_process_group`).
:func:`exit_distributed_run` ends the process of a rank whose run completed.
"""
import datetime
import logging
import os
import subprocess
import sys
from typing import Optional

import torch
import torch.distributed as torch_dist
from mmengine.config import Config
from torch.distributed.distributed_c10d import default_pg_timeout

# the variables each launcher sets, read by `_export_launcher_env`
_LAUNCHER_VARIABLES = dict(
    slurm=('SLURM_PROCID', 'SLURM_NTASKS', 'SLURM_LOCALID', 'SLURM_NODELIST'),
    mpi=('OMPI_COMM_WORLD_RANK', 'OMPI_COMM_WORLD_SIZE',
         'OMPI_COMM_WORLD_LOCAL_RANK'))


def _export_launcher_env(launcher: str) -> None:
    """Export ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and
    ``MASTER_PORT`` from the variables of a Slurm or MPI launch (torchrun
    sets them already).

    Raises:
        RuntimeError: If a variable of the launcher is not set (the tool was
            not started by ``srun`` or ``mpirun``); names them.
    """
    if launcher not in _LAUNCHER_VARIABLES:
        return
    missing = [
        name for name in _LAUNCHER_VARIABLES[launcher]
        if name not in os.environ
    ]
    if missing:
        starter = 'srun (see tools/slurm_train.sh)' if launcher == 'slurm' \
            else 'mpirun'
        raise RuntimeError(
            f'--launcher {launcher} needs the variables '
            f'{", ".join(missing)}, which are not set: start the tool with '
            f'{starter}, or use --launcher pytorch with torchrun '
            '(tools/dist_train.sh) or --launcher none.')
    if launcher == 'slurm':
        rank = os.environ['SLURM_PROCID']
        world_size = os.environ['SLURM_NTASKS']
        local_rank = os.environ['SLURM_LOCALID']
        master_addr = subprocess.getoutput(
            f'scontrol show hostname {os.environ["SLURM_NODELIST"]} '
            '| head -n1')
    else:
        rank = os.environ['OMPI_COMM_WORLD_RANK']
        world_size = os.environ['OMPI_COMM_WORLD_SIZE']
        local_rank = os.environ['OMPI_COMM_WORLD_LOCAL_RANK']
        master_addr = '127.0.0.1'
    os.environ['RANK'] = rank
    os.environ['WORLD_SIZE'] = world_size
    os.environ['LOCAL_RANK'] = local_rank
    os.environ.setdefault('MASTER_ADDR', master_addr)
    os.environ.setdefault('MASTER_PORT', '29500')


#: Variables in which launchers count the restarts of a job: torchrun's
#: elastic restarts (``--max-restarts``) and Slurm's requeues.
RESTART_VARIABLES = ('TORCHELASTIC_RESTART_COUNT', 'SLURM_RESTART_COUNT')


def restart_count() -> int:
    """How often the launcher has restarted this job (0 on its first
    start), from :data:`RESTART_VARIABLES`."""
    counts = [int(os.environ.get(name) or 0) for name in RESTART_VARIABLES]
    return max(counts)


def launcher_rank(launcher: str) -> int:
    """The global rank of this process, as its launcher set it in the
    environment (``RANK``, ``SLURM_PROCID``, ``OMPI_COMM_WORLD_RANK``); 0
    without a launcher. Readable before the process group exists."""
    if launcher == 'none':
        return 0
    name = _LAUNCHER_VARIABLES[launcher][0] \
        if launcher in _LAUNCHER_VARIABLES else 'RANK'
    return int(os.environ.get(name, 0))


def setup_distributed(cfg: Config,
                      launcher: str,
                      backend: Optional[str] = None) -> None:
    """Prepare ``cfg`` (and, without a GPU or in a restarted job, the
    process group) for a launch.

    Args:
        cfg: The config; ``cfg.env_cfg.dist_cfg`` and
            ``cfg.model_wrapper_cfg`` are updated in place.
        launcher: ``'none'``, ``'pytorch'``, ``'slurm'`` or ``'mpi'``.
        backend: Communication backend to force (``'gloo'``, ``'nccl'``,
            ...). ``None`` keeps the config's backend on GPU machines and
            selects ``'gloo'`` when no GPU is available.
    """
    if launcher == 'none':
        return
    on_cpu = not torch.cuda.is_available()
    dist_cfg = cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})
    if backend is None and on_cpu:
        backend = 'gloo'
    if backend is not None:
        dist_cfg['backend'] = backend
    if on_cpu:
        # DDP of a CPU module must not be given device ids
        wrapper_cfg = cfg.get('model_wrapper_cfg') or dict(
            type='MMDistributedDataParallel',
            broadcast_buffers=False,
            find_unused_parameters=cfg.get('find_unused_parameters', False))
        wrapper_cfg['device_ids'] = None
        cfg.model_wrapper_cfg = wrapper_cfg
    # on a GPU, MMEngine's runner initialises a first start's group itself
    if (on_cpu or restart_count() > 0) and not torch_dist.is_initialized():
        _export_launcher_env(launcher)
        _init_process_group(dist_cfg)


def _init_process_group(dist_cfg: dict) -> None:
    """Initialise the default process group from the launcher's environment
    (``env://``), with the options of ``dist_cfg`` (``timeout`` in seconds),
    on keys of its own for each start of the job.

    torchrun's processes share the store of its agent, which keeps its keys
    across the restarts of ``--max-restarts``: the processes of a restart
    would read the addresses of the first start's processes and fail to
    connect ("Gloo connectFullMesh failed ... Connection refused"). The
    restart count prefixes the keys of every start.
    """
    kwargs = {k: v for k, v in dist_cfg.items() if k != 'backend'}
    timeout = datetime.timedelta(
        seconds=kwargs.pop('timeout')) if 'timeout' in kwargs \
        else default_pg_timeout
    store, rank, world_size = next(
        torch_dist.rendezvous('env://', timeout=timeout))
    store = torch_dist.PrefixStore(f'mmdla/start_{restart_count()}', store)
    if dist_cfg['backend'] == 'nccl':
        torch.cuda.set_device(int(os.environ['LOCAL_RANK']))
    torch_dist.init_process_group(
        backend=dist_cfg['backend'],
        store=store,
        rank=rank,
        world_size=world_size,
        timeout=timeout,
        **kwargs)


def shutdown_distributed() -> None:
    """Wait for every rank, then destroy the default process group.

    A no-op without a process group. Call it only after a run that
    completed: a rank that raised must not wait on a group its peers may
    still be using.
    """
    if torch_dist.is_available() and torch_dist.is_initialized():
        torch_dist.barrier()
        torch_dist.destroy_process_group()


def exit_distributed_run(status: int = 0) -> None:
    """End the process of a rank whose distributed run has completed, or
    stopped on a signal with all ranks in agreement.

    Does nothing in a run without a process group. Otherwise it shuts the
    group down (:func:`shutdown_distributed`), flushes the logs and the
    standard streams, and exits with ``status`` without finalizing the
    interpreter.

    Why not a normal exit: gloo runs collectives on worker threads
    (``pt_gloo_runloop``) and a worker drops its reference to a finished
    work object only after the waiting rank has been released. When that
    reference is the last one to a tensor with a Python object (the tensors
    of MMEngine's ``all_gather_object`` after an evaluation), the worker
    must take the GIL to free it. If the main thread has begun to finalize
    the interpreter by then, CPython ends the worker with ``pthread_exit``,
    whose unwinding through a ``noexcept`` destructor
    (``AsyncAllgatherWork::~AsyncAllgatherWork``) calls ``std::terminate``:
    "terminate called without an active exception" and SIGABRT after a
    successful run. Destroying the group does not join these threads,
    because DDP's reducer keeps the group alive until the process ends, so
    the only exit without that race is one that skips finalization.
    """
    if not (torch_dist.is_available() and torch_dist.is_initialized()):
        return
    shutdown_distributed()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
