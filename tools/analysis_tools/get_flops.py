"""Count the parameters and FLOPs of the model of an mmdla config.

Works for the classification (mmpretrain) and detection (mmdet) configs:

    python tools/analysis_tools/get_flops.py configs/dla50_8xb32_in1k.py
    python tools/analysis_tools/get_flops.py \
        configs/faster_rcnn_dla50_fpn_1x_coco.py --shape 800 1344

FLOPs are counted with MMEngine's fvcore-style analyzer, where one fused
multiply-add counts as one FLOP, so the figures are multiply-accumulates
(MACs). The main figure counts convolutions, linear layers and matrix
products, the convention of the papers (ResNet-50: 4.09 G, DLA-L ResNet-50:
4.21 G); the total also counts norm layers, pooling and upsampling. The
backbone's share is printed apart. A two-stage detector is counted on a
fixed set of proposals, as many as its RPN keeps at most at test time
(``test_cfg.rpn.max_per_img``, 1000 for Faster and Mask R-CNN), so that the
figure does not depend on the weights; the mask head sees the first 100, as
in mmdet. Inputs are seeded: every run of a config gives the same figures.
"""
import argparse
from functools import partial
from typing import Dict, Optional, Tuple

import torch
from mmengine.analysis import FlopAnalyzer
from mmengine.config import Config, DictAction
from mmengine.registry import MODELS, init_default_scope
from mmengine.structures import InstanceData
from torch import nn

# Operators whose multiply-adds make the main FLOPs figure (names as
# FlopAnalyzer.by_operator() reports them).
MAC_OPERATORS = ('conv', 'linear', 'matmul', 'mm', 'bmm', 'addmm', 'baddbmm',
                 'einsum')
# Input size used for detection configs when --shape is not given: a COCO
# image resized to 1333 x 800 and padded to a multiple of 32.
DETECTION_SHAPE = (800, 1344)
# Input size used for classification configs whose pipelines name none.
CLASSIFICATION_SHAPE = (224, 224)


def load_config(path: str, cfg_options: Optional[dict] = None) -> Config:
    """Load a config file and apply command-line overrides to it."""
    cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if cfg.get('default_scope') not in ('mmdet', 'mmpretrain'):
        raise ValueError(
            f'{path} has default_scope={cfg.get("default_scope")!r}; only '
            'configs that inherit from mmdet:: or mmpretrain:: bases (scope '
            "'mmdet' or 'mmpretrain') are supported.")
    return cfg


def build_model(cfg: Config) -> nn.Module:
    """Build ``cfg.model`` in the registry of the config's codebase.

    The pretrained checkpoint named by an ``init_cfg`` is not loaded: the
    model keeps its freshly constructed weights.
    """
    init_default_scope(cfg.default_scope)
    model_cfg = cfg.model.copy()
    if cfg.get('data_preprocessor') is not None:
        # mmpretrain keeps the data preprocessor at the top level of its
        # configs and the runner moves it into the model, as done here.
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    return MODELS.build(model_cfg)


def is_detection(cfg: Config) -> bool:
    """Whether a config belongs to mmdet (else it is an mmpretrain one)."""
    return cfg.default_scope == 'mmdet'


def default_input_shape(cfg: Config) -> Tuple[int, int]:
    """The (height, width) a config's model sees at test time.

    Detection configs use :data:`DETECTION_SHAPE`. Classification configs
    use the crop size of their test pipeline (``CenterCrop``), else of their
    training pipeline (``RandomCrop``, e.g. 32 on CIFAR), else
    :data:`CLASSIFICATION_SHAPE`.
    """
    if is_detection(cfg):
        return DETECTION_SHAPE
    # mmcv's CenterCrop takes a (width, height) pair, mmpretrain's
    # RandomCrop a (height, width) one
    searches = ((cfg.get('test_pipeline', []), 'CenterCrop', True),
                (cfg.get('train_pipeline', []), 'RandomCrop', False))
    for pipeline, crop_type, width_first in searches:
        for transform in pipeline:
            if transform['type'] == crop_type:
                size = transform['crop_size']
                if isinstance(size, int):
                    return size, size
                return (size[1], size[0]) if width_first else tuple(size)
    return CLASSIFICATION_SHAPE


def detection_batch(model: nn.Module, shape: Tuple[int, int]) -> dict:
    """A preprocessed batch of one seeded random image for a detector."""
    from mmdet.structures import DetDataSample

    height, width = shape
    generator = torch.Generator().manual_seed(0)
    image = torch.randint(
        0, 256, (3, height, width), generator=generator, dtype=torch.uint8)
    sample = DetDataSample(
        metainfo=dict(
            img_shape=shape, ori_shape=shape, scale_factor=(1.0, 1.0)))
    return model.data_preprocessor(
        dict(inputs=[image], data_samples=[sample]), False)


def fixed_proposals(shape: Tuple[int, int], num: int) -> InstanceData:
    """``num`` seeded random boxes inside an image of ``shape``."""
    height, width = shape
    generator = torch.Generator().manual_seed(0)
    corners = torch.rand(
        num, 2, 2, generator=generator) * torch.tensor([width, height])
    top_left = corners.min(dim=1).values
    bottom_right = corners.max(dim=1).values + 1
    return InstanceData(bboxes=torch.cat([top_left, bottom_right], dim=1))


def two_stage_forward(detector: nn.Module, inputs: torch.Tensor,
                      data_samples: list, proposals: list) -> tuple:
    """Backbone, neck, RPN head and RoI head outputs on given proposals."""
    feats = detector.extract_feat(inputs)
    rpn_outs = detector.rpn_head(feats)
    roi_outs = detector.roi_head.forward(feats, proposals, data_samples)
    return rpn_outs, roi_outs


def count_complexity(cfg: Config,
                     shape: Optional[Tuple[int, int]] = None) -> Dict:
    """Parameters and FLOPs of a config's model for one image.

    Args:
        cfg: A loaded mmdla (mmdet or mmpretrain) config.
        shape: Input (height, width); :func:`default_input_shape` if None.

    Returns:
        dict with ``params`` (all parameters of the model),
        ``backbone_params``, ``flops`` (multiply-adds of
        :data:`MAC_OPERATORS` for one image), ``backbone_flops`` (the
        backbone's share of ``flops``), ``total_flops`` (every counted
        operator), ``input_shape`` (the (height, width) fed to the network,
        after padding) and ``model`` (the built model).
    """
    shape = tuple(shape) if shape is not None else default_input_shape(cfg)
    model = build_model(cfg)
    model.eval()
    if is_detection(cfg):
        data = detection_batch(model, shape)
        inputs = data['inputs']
        if getattr(model, 'with_rpn', False) and model.with_roi_head:
            proposals = fixed_proposals(
                tuple(inputs.shape[-2:]), model.test_cfg.rpn.max_per_img)
            model.forward = partial(
                two_stage_forward,
                model,
                data_samples=data['data_samples'],
                proposals=[proposals])
        else:
            model.forward = partial(
                model.forward,
                data_samples=data['data_samples'],
                mode='tensor')
    else:
        inputs = torch.randn(1, 3, *shape)
    analyzer = FlopAnalyzer(model, (inputs, ))
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    with torch.no_grad():
        by_operator = analyzer.by_operator()
    backbone_by_operator = analyzer.by_module_and_operator()['backbone']
    return dict(
        params=sum(p.numel() for p in model.parameters()),
        backbone_params=sum(p.numel() for p in model.backbone.parameters()),
        flops=sum(by_operator.get(name, 0) for name in MAC_OPERATORS),
        backbone_flops=sum(
            backbone_by_operator.get(name, 0) for name in MAC_OPERATORS),
        total_flops=sum(by_operator.values()),
        input_shape=tuple(inputs.shape[-2:]),
        model=model)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Count the parameters and FLOPs of a config\'s model.')
    parser.add_argument('config', help='config file path')
    parser.add_argument(
        '--shape',
        type=int,
        nargs=2,
        metavar=('H', 'W'),
        help='input height and width (default: the crop size of a '
        'classification config, 800 x 1344 for detection)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, e.g. '
        'model.backbone.variant=base')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    cfg = load_config(args.config, args.cfg_options)
    result = count_complexity(cfg, args.shape)
    height, width = result['input_shape']
    line = '=' * 40
    print(f'{line}\n'
          f'Config: {args.config}\n'
          f'Input shape: 3 x {height} x {width}\n'
          f'Params: {result["params"]:,} '
          f'({result["params"] / 1e6:.2f} M; backbone '
          f'{result["backbone_params"]:,})\n'
          f'FLOPs (multiply-adds of convolutions and linear layers): '
          f'{result["flops"] / 1e9:.2f} G '
          f'(backbone {result["backbone_flops"] / 1e9:.2f} G)\n'
          f'FLOPs with norm layers and pooling: '
          f'{result["total_flops"] / 1e9:.2f} G\n'
          f'{line}')


if __name__ == '__main__':
    main()
