"""Parameters and FLOPs of the model of a config.

FLOPs are counted with MMEngine's fvcore-style analyzer, where one fused
multiply-add counts as one FLOP, so the figures are multiply-accumulates
(MACs). The main figure counts convolutions, linear layers and matrix
products, the convention of the papers; the total also counts norm layers,
pooling and upsampling. A two-stage detector is counted on a fixed set of
proposals, as many as its RPN keeps at most at test time
(``test_cfg.rpn.max_per_img``), so that the figure does not depend on the
weights; the mask head sees the first 100, as in mmdet. A classifier is
counted up to its class scores, a segmentor up to the logits of its decode
head (the auxiliary head, used in training only, is left out).
"""
from functools import partial
from typing import Dict, Optional, Tuple

import torch
from mmengine.analysis import FlopAnalyzer
from mmengine.config import Config
from torch import nn

from .batches import detection_batch, fixed_proposals
from .config import build_model, default_input_shape, is_detection

# Operators whose multiply-adds make the main FLOPs figure (names as
# FlopAnalyzer.by_operator() reports them).
MAC_OPERATORS = ('conv', 'linear', 'matmul', 'mm', 'bmm', 'addmm', 'baddbmm',
                 'einsum')


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
        cfg: A loaded mmdla (mmdet, mmpretrain or mmseg) config.
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
        # classifiers and segmentors: `mode='tensor'` is their default
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
