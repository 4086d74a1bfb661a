"""Fixtures shared by the tests: the repository, the demo configs, a tiny
shapes dataset, the environment of tool subprocesses and crafted checkpoint
contents."""
import copyreg
import functools
import os
import os.path as osp
import pickle
import subprocess
import sys
import types
from typing import IO, Any, Callable, Dict, List, Optional, Tuple, Union

import numpy as np
import pytest
import torch
import torch.nn as nn
import torchvision
from mmengine.logging import HistoryBuffer

from mmdla.datasets import (generate_shapes_cls, generate_shapes_coco,
                            generate_shapes_seg)

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


@pytest.fixture(scope='session')
def repo_root() -> str:
    return REPO_ROOT


@pytest.fixture(scope='session')
def faster_rcnn_demo() -> str:
    """Path of the Faster R-CNN demo config."""
    return osp.join(REPO_ROOT, 'configs', 'demo',
                    'faster_rcnn_dla18_fpn_shapes.py')


@pytest.fixture(scope='session')
def cls_demo() -> str:
    """Path of the classification demo config."""
    return osp.join(REPO_ROOT, 'configs', 'demo', 'dla20_cifar_shapes_cls.py')


@pytest.fixture(scope='session')
def seg_demo() -> str:
    """Path of the semantic segmentation demo config."""
    return osp.join(REPO_ROOT, 'configs', 'demo', 'fpn_dla18_shapes_seg.py')


@pytest.fixture(scope='session')
def tiny_shapes_coco(tmp_path_factory) -> str:
    """Root (with a trailing slash) of a COCO shapes set of 8 training and
    4 validation images."""
    root = str(tmp_path_factory.mktemp('data') / 'shapes_coco')
    generate_shapes_coco(root, num_train=8, num_val=4)
    return root + '/'


@pytest.fixture(scope='session')
def tiny_shapes_cls(tmp_path_factory) -> str:
    """Root (with a trailing slash) of a shapes classification set of 12
    training and 6 validation images."""
    root = str(tmp_path_factory.mktemp('data') / 'shapes_cls')
    generate_shapes_cls(root, num_train=12, num_val=6)
    return root + '/'


@pytest.fixture(scope='session')
def tiny_shapes_seg(tmp_path_factory) -> str:
    """Root (with a trailing slash) of a shapes segmentation set of 8
    training and 4 validation images."""
    root = str(tmp_path_factory.mktemp('data') / 'shapes_seg')
    generate_shapes_seg(root, num_train=8, num_val=4)
    return root + '/'


@pytest.fixture(scope='session')
def torchvision_resnet(
        tmp_path_factory) -> Callable[[int, int], Tuple[nn.Module, str]]:
    """A function of ``depth`` and ``seed`` giving a torchvision ResNet in
    eval mode, with random weights, norm statistics and norm affine
    parameters drawn after ``torch.manual_seed(seed)`` (so that a norm left
    out would show), and the file of its state dict in torchvision's layout
    (``fc.*`` included); nothing is downloaded."""
    folder = tmp_path_factory.mktemp('torchvision')

    def build(depth: int, seed: int) -> Tuple[nn.Module, str]:
        torch.manual_seed(seed)
        model = getattr(torchvision.models, f'resnet{depth}')(weights=None)
        with torch.no_grad():
            for module in model.modules():
                if isinstance(module, nn.BatchNorm2d):
                    module.running_mean.normal_(0, 0.1)
                    module.running_var.uniform_(0.5, 2)
                    module.weight.uniform_(0.5, 1.5)
                    module.bias.normal_(0, 0.1)
        path = folder / f'resnet{depth}_seed{seed}.pth'
        torch.save(model.state_dict(), path)
        return model.eval(), str(path)

    return build


@pytest.fixture(scope='session')
def torchvision_stages(
) -> Callable[[nn.Module, torch.Tensor], Tuple[torch.Tensor, ...]]:
    """A function giving the outputs of ``layer1`` ... ``layer4`` of a
    torchvision ResNet for images ``[N, 3, H, W]``."""

    def stages(model: nn.Module, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        x = model.maxpool(model.relu(model.bn1(model.conv1(x))))
        outs = []
        for name in ('layer1', 'layer2', 'layer3', 'layer4'):
            x = getattr(model, name)(x)
            outs.append(x)
        return tuple(outs)

    return stages


def _tiny_detection_options(data_root: str, epochs: int) -> List[str]:
    ann_val = data_root + 'annotations/instances_val.json'
    return [
        '--cfg-options',
        f'train_dataloader.dataset.data_root={data_root}',
        f'val_dataloader.dataset.data_root={data_root}',
        f'test_dataloader.dataset.data_root={data_root}',
        f'val_evaluator.ann_file={ann_val}',
        f'test_evaluator.ann_file={ann_val}',
        'train_dataloader.batch_size=2',
        f'train_cfg.max_epochs={epochs}',
        f'train_cfg.val_interval={epochs}',
        'param_scheduler.0.end=2',
        'default_hooks.logger.interval=1',
        # keep every detection, so that a model trained for a few
        # iterations still has results to evaluate
        'model.test_cfg.rcnn.score_thr=0.0',
    ]


@pytest.fixture(scope='session')
def tiny_detection_options(
        tiny_shapes_coco: str) -> Callable[[int], List[str]]:
    """A function of ``epochs`` giving the ``--cfg-options`` that point a
    shapes detection demo at the tiny set, with batch 2."""
    return functools.partial(_tiny_detection_options, tiny_shapes_coco)


@pytest.fixture(scope='session')
def tool_env() -> Dict[str, str]:
    """Environment of tool subprocesses: the repository on ``PYTHONPATH``,
    this interpreter as ``PYTHON`` (used by the launch scripts) and one
    thread per process, steady on a busy machine."""
    env = dict(os.environ)
    env.setdefault('OMP_NUM_THREADS', '1')
    env['PYTHONPATH'] = os.pathsep.join(
        p for p in (REPO_ROOT, env.get('PYTHONPATH')) if p)
    env['PYTHON'] = sys.executable
    return env


@pytest.fixture(scope='session')
def run_tool(
        tool_env: Dict[str,
                       str]) -> Callable[..., subprocess.CompletedProcess]:
    """A function running a command in the tool environment (or ``env``),
    with stdout and stderr merged into ``stdout``."""

    def run(command: List[str],
            cwd: str,
            env: Optional[Dict[str, str]] = None,
            **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run(
            command,
            cwd=cwd,
            env=tool_env if env is None else env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            **kwargs)

    return run


@pytest.fixture(scope='session')
def start_tool(
        tool_env: Dict[str, str]) -> Callable[..., subprocess.Popen]:
    """A function starting a command in the tool environment in the
    background, in a session of its own (so that ``os.killpg`` ends it with
    its children), with stdout and stderr written to the open file
    ``log``."""

    def start(command: List[str], cwd: str, log) -> subprocess.Popen:
        return subprocess.Popen(
            command,
            cwd=cwd,
            env=tool_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True)

    return start


class Reduced:
    """Pickles as ``func(*args)``; callable, as ``pickle`` wants the
    function of a reduction to be."""

    def __init__(self, func: Any, args: Tuple) -> None:
        self.func, self.args = func, args

    def __call__(self, *args) -> None:
        raise AssertionError('only pickled')

    def __reduce__(self) -> Tuple[Any, Tuple]:
        return self.func, self.args


class _PlantingPickler(pickle.Pickler):
    """Pickles the buffers of :func:`planted_buffer` as MMEngine pickles a
    ``HistoryBuffer`` (``NEWOBJ`` of the class, then ``BUILD``), with their
    planted state."""

    planted: Dict[int, Tuple[HistoryBuffer, Any]] = {}

    def reducer_override(self, obj: Any) -> Any:
        entry = self.planted.get(id(obj))
        if entry is None or entry[0] is not obj:
            return NotImplemented
        return copyreg.__newobj__, (HistoryBuffer, ), entry[1]


_planting_pickle = types.SimpleNamespace(
    __name__='planting_pickle', Pickler=_PlantingPickler)


def planted_buffer(state: Any) -> HistoryBuffer:
    """A ``HistoryBuffer`` that pickles with the state ``state``."""
    buffer = HistoryBuffer.__new__(HistoryBuffer)
    _PlantingPickler.planted[id(buffer)] = (buffer, state)
    return buffer


def planted_exec(code: str) -> HistoryBuffer:
    """A ``HistoryBuffer`` whose ``copy.deepcopy`` runs ``exec(code)``: its
    instance ``__reduce_ex__`` is ``{4: (exec, (code,))}.get``, with
    ``exec`` reached through ``getattr`` alone. Unpickling calls nothing
    but ``getattr``; MMEngine's deep copy of the loaded hub does the rest."""
    builtins_module = Reduced(getattr, (getattr, '__self__'))
    exec_function = Reduced(getattr, (builtins_module, 'exec'))
    reduce_ex = Reduced(getattr, ({4: (exec_function, (code, ))}, 'get'))
    return planted_buffer(
        dict(
            max_length=10,
            _log_history=np.array([1.0]),
            _count_history=np.array([1]),
            __reduce_ex__=reduce_ex))


def _save_crafted(obj: Any, file: Union[str, IO[bytes]]) -> None:
    """``torch.save`` of ``obj``, planted buffers included."""
    torch.save(obj, file, pickle_module=_planting_pickle)


@pytest.fixture(scope='session')
def crafted() -> types.SimpleNamespace:
    """Makers of crafted checkpoint contents, as an attacker writes them:
    ``reduced(func, args)`` (pickles as ``func(*args)``),
    ``buffer(state)`` (a ``HistoryBuffer`` pickled with ``state``),
    ``exec_buffer(code)`` (a buffer whose deep copy runs ``code``) and
    ``save(obj, file)`` (``torch.save`` that writes them)."""
    return types.SimpleNamespace(
        reduced=Reduced,
        buffer=planted_buffer,
        exec_buffer=planted_exec,
        save=_save_crafted)
