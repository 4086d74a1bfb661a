"""ONNX export of classifiers and backbones, checked with ONNX Runtime.

Two graphs can be exported from a config and a checkpoint:

- a classifier (:class:`ClassScores`): the normalised image tensor
  ``[N, 3, H, W]`` (after the data preprocessor: ``(image - mean) / std``,
  RGB) to the class scores ``[N, K]``, the softmax of the head's logits (the
  ``pred_score`` of MMPretrain's predictions);
- a backbone alone (:class:`BackboneFeatures`), of a classifier, a detector
  or a segmentor: the same input to the features of its ``out_indices``
  stages, one output each.

The graph is built by PyTorch's ``torch.export``-based ONNX exporter
(``torch.onnx.export(..., dynamo=True)``, which needs ``onnxscript``). With
``dynamic_batch`` the batch axis is symbolic: one file serves every batch
size. ``onnx``, ``onnxscript`` and ``onnxruntime`` are the ``deploy`` extra of
mmdla (``requirements/deploy.txt``).
"""
import copy
from typing import Dict, List, Sequence, Tuple

import numpy as np
import torch
from mmengine.config import Config
from torch import nn

from mmdla.apis import task_of
from mmdla.engine import check_checkpoint_file, check_checkpoint_fits
from mmdla.utils import is_local_path, runner_checkpoint_loading

#: Name of the graph's input, the normalised image tensor.
INPUT_NAME = 'input'
#: Output name of :class:`ClassScores`.
SCORES_NAME = 'scores'
#: Largest relative error of an fp32 export accepted by a verification.
DEFAULT_TOLERANCE = 1e-4
#: Batch size traced by a dynamic-batch export: ``torch.export`` specialises
#: dimensions of size 0 and 1, so the example batch must be larger.
DYNAMIC_TRACE_BATCH = 2


class ClassScores(nn.Module):
    """An MMPretrain ``ImageClassifier`` as images to class scores.

    Args:
        classifier (nn.Module): An ``ImageClassifier`` whose head is a
            single-label ``ClsHead`` (or a subclass, e.g. ``LinearClsHead``).
    """

    def __init__(self, classifier: nn.Module) -> None:
        super().__init__()
        from mmpretrain.models.heads import ClsHead
        if not isinstance(getattr(classifier, 'head', None), ClsHead):
            raise ValueError(
                'Only classifiers with a single-label head (ClsHead or a '
                f'subclass) can be exported, got {type(classifier).__name__} '
                f'with head {type(getattr(classifier, "head", None)).__name__}'
                '; export the backbone alone with --backbone-only.')
        self.classifier = classifier

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """``[N, 3, H, W]`` normalised images -> ``[N, K]`` scores."""
        return self.classifier(inputs, mode='tensor').softmax(dim=1)


class BackboneFeatures(nn.Module):
    """A backbone as images to the tuple of its stage features.

    Args:
        backbone (nn.Module): A backbone returning a tuple of feature maps,
            one per entry of its ``out_indices``.
    """

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone

    def forward(self, inputs: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """``[N, 3, H, W]`` -> ``([N, C_i, H_i, W_i], ...)``."""
        return tuple(self.backbone(inputs))


def _load_model(cfg: Config, checkpoint: str) -> nn.Module:
    """The model of a config on the CPU with a checkpoint loaded, by the
    loader of the config's codebase (each loads with ``strict=False``)."""
    task = task_of(cfg)
    with runner_checkpoint_loading():
        if task == 'classification':
            from mmpretrain.apis import get_model
            return get_model(cfg, pretrained=checkpoint, device='cpu')
        if task == 'detection':
            from mmdet.apis import init_detector
            return init_detector(cfg, checkpoint, device='cpu')
        from mmseg.apis import init_model
        return init_model(cfg, checkpoint, device='cpu')


def build_export_module(
        cfg: Config,
        checkpoint: str,
        backbone_only: bool = False,
        allow_partial: bool = False) -> Tuple[nn.Module, List[str]]:
    """Load a checkpoint into the model of a config, wrapped for export.

    Args:
        cfg (Config): An MMPretrain, MMDetection or MMSegmentation config
            (see :func:`mmdla.apis.load_config`).
        checkpoint (str): Checkpoint file.
        backbone_only (bool): Export the backbone alone (required for
            detectors and segmentors).
        allow_partial (bool): Accept a checkpoint that lacks weights of the
            model or holds others (they are left out), as
            ``--allow-partial-checkpoint`` of ``tools/test.py`` does.
            Defaults to False.

    Returns:
        tuple[nn.Module, list[str]]: The CPU module in eval mode and the
        names of its outputs: ``['scores']`` or ``['layer<i+1>', ...]`` for
        the stages ``i`` of the backbone's ``out_indices``.

    Raises:
        CheckpointMismatchError: Unless ``allow_partial``, if a local
            checkpoint does not hold exactly the weights of the config's
            model (e.g. it was trained with another config).
    """
    task = task_of(cfg)
    if task != 'classification' and not backbone_only:
        raise ValueError(
            f'A {task} model exports only its backbone (its heads and '
            'their post-processing are the business of MMDeploy); pass '
            '--backbone-only.')
    # a URL is downloaded by the loader; local files are checked
    local = is_local_path(checkpoint)
    if local:
        check_checkpoint_file(checkpoint)
    model = _load_model(cfg, checkpoint)
    # the loaders use strict=False: a mismatch is only a warning
    if local and not allow_partial:
        check_checkpoint_fits(model, checkpoint)
    if not backbone_only:
        return ClassScores(model).eval(), [SCORES_NAME]
    out_indices = getattr(model.backbone, 'out_indices', None)
    if out_indices is None:
        raise ValueError(
            f'{type(model.backbone).__name__} has no out_indices attribute: '
            'the outputs of --backbone-only are named after the stages it '
            'lists.')
    names = [f'layer{i + 1}' for i in out_indices]
    return BackboneFeatures(model.backbone).eval(), names


def export_onnx(module: nn.Module,
                output_file: str,
                shape: Tuple[int, int],
                output_names: Sequence[str],
                dynamic_batch: bool = False,
                opset_version: int = 18,
                in_channels: int = 3) -> None:
    """Write the ONNX graph of a module from :func:`build_export_module`.

    Args:
        module (nn.Module): The module; left unchanged (a copy is traced).
        output_file (str): The ``.onnx`` file, weights included.
        shape (tuple[int, int]): Input height and width.
        output_names (Sequence[str]): Names of the module's outputs.
        dynamic_batch (bool): Make the batch axis of the input and outputs
            symbolic (``'batch'``). Otherwise the batch size is 1.
        opset_version (int): ONNX opset. Defaults to 18.
        in_channels (int): Input channels. Defaults to 3.
    """
    batch = DYNAMIC_TRACE_BATCH if dynamic_batch else 1
    inputs = torch.randn(batch, in_channels, *shape)
    dynamic_shapes = None
    if dynamic_batch:
        dynamic_shapes = {'inputs': {0: torch.export.Dim('batch')}}
    with torch.no_grad():
        torch.onnx.export(
            copy.deepcopy(module), (inputs, ),
            output_file,
            dynamo=True,
            input_names=[INPUT_NAME],
            output_names=list(output_names),
            dynamic_shapes=dynamic_shapes,
            opset_version=opset_version,
            external_data=False)


def relative_error(actual: np.ndarray, expected: np.ndarray) -> float:
    """``max |actual - expected| / max |expected|`` (0 for two zero
    arrays)."""
    scale = float(np.abs(expected).max())
    diff = float(np.abs(actual - expected).max())
    return diff / scale if scale > 0 else diff


def onnx_errors(module: nn.Module,
                onnx_file: str,
                shape: Tuple[int, int],
                batch_sizes: Sequence[int],
                in_channels: int = 3,
                seed: int = 0) -> Dict[int, Dict[str, float]]:
    """Relative errors of an ONNX file against its PyTorch module.

    Runs the file in ONNX Runtime (CPU) and the module in PyTorch, as it
    runs in use (NCHW), on the same seeded standard-normal inputs.

    Args:
        module (nn.Module): The exported module (eval mode, on the CPU).
        onnx_file (str): The file from :func:`export_onnx`.
        shape (tuple[int, int]): Input height and width.
        batch_sizes (Sequence[int]): Batch sizes to compare at.
        in_channels (int): Input channels. Defaults to 3.
        seed (int): Seed of the inputs.

    Returns:
        dict[int, dict[str, float]]: For each batch size, the
        :func:`relative_error` of each output, by output name.
    """
    import onnxruntime
    session = onnxruntime.InferenceSession(
        onnx_file, providers=['CPUExecutionProvider'])
    names = [output.name for output in session.get_outputs()]
    generator = torch.Generator().manual_seed(seed)
    errors = {}
    for batch in batch_sizes:
        inputs = torch.randn(batch, in_channels, *shape, generator=generator)
        with torch.no_grad():
            expected = module(inputs)
        if isinstance(expected, torch.Tensor):
            expected = (expected, )
        actual = session.run(None, {INPUT_NAME: inputs.numpy()})
        errors[batch] = {
            name: relative_error(got, want.numpy())
            for name, got, want in zip(names, actual, expected)
        }
    return errors
