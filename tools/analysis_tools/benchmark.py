"""Compare the speed and memory of a config's model with a plain ResNet.

Builds the model of CONFIG and its counterpart (by default the same config
with the backbone replaced by the same-depth ResNet of the config's codebase,
``mmpretrain.ResNet`` or ``mmdet.ResNet``; or the model of ``--against``) in
one process, then times a training step (forward, loss, backward, SGD step)
and an inference step (``predict`` mode, post-processing included) of each
on the same synthetic batch, and prints a table with the ratios::

    python tools/analysis_tools/benchmark.py configs/dla50_8xb32_in1k.py \
        --device cpu --batch-size 2 --shape 224 224
    python tools/analysis_tools/benchmark.py \
        configs/faster_rcnn_dla50_fpn_1x_coco.py --device cuda --amp \
        --channels-last --batch-size 2

Timings exclude data loading and the data preprocessor (normalisation and
padding run once, before the loops). Peak memory is the most tensor memory
held during one step: parameters, gradients, optimizer state, inputs and
activations. On CUDA it comes from the caching allocator's statistics, on
the CPU from the PyTorch profiler's allocation events.
"""
import argparse
import copy
import inspect
import time
from typing import Callable, Dict, List, Optional, Tuple

import torch
from get_flops import (build_model, default_input_shape, is_detection,
                       load_config)
from mmengine.config import Config, ConfigDict, DictAction
from mmengine.logging import MMLogger
from mmengine.optim import AmpOptimWrapper, OptimWrapper
from mmengine.registry import MODELS
from torch import nn


def synchronize(device: torch.device) -> None:
    """Wait for the queued kernels of ``device`` to finish."""
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def time_per_call(step: Callable[[], object], iters: int, warmup: int,
                  device: torch.device) -> float:
    """Mean wall-clock seconds of one call of ``step``.

    Args:
        step: The work to time, called ``warmup + iters`` times.
        iters: Number of timed calls.
        warmup: Number of untimed calls made first (allocator warm-up,
            cuDNN algorithm search, lazy initialisation).
        device: Device the work runs on, synchronised around the timed calls.
    """
    if iters < 1:
        raise ValueError(f'iters must be at least 1, got {iters}')
    for _ in range(warmup):
        step()
    synchronize(device)
    start = time.perf_counter()
    for _ in range(iters):
        step()
    synchronize(device)
    return (time.perf_counter() - start) / iters


def tensor_bytes(tensors) -> int:
    """Total storage of an iterable of tensors (None entries skipped)."""
    return sum(t.numel() * t.element_size() for t in tensors if t is not None)


def held_bytes(model: nn.Module, optimizer: Optional[torch.optim.Optimizer],
               batch: dict) -> int:
    """Tensor memory held between steps: weights, gradients, optimizer
    state (if an optimizer is given) and the input batch."""
    state = [] if optimizer is None else [
        value for param_state in optimizer.state.values()
        for value in param_state.values() if torch.is_tensor(value)
    ]
    return tensor_bytes([
        *model.parameters(), *(p.grad for p in model.parameters()),
        *model.buffers(), *state, batch['inputs']
    ])


def peak_memory(step: Callable[[], object], device: torch.device,
                held: Callable[[], int]) -> int:
    """Peak tensor memory in bytes during one call of ``step``.

    Args:
        step: The work to measure, called once.
        device: Device the work runs on.
        held: Returns the bytes held before the step (used on the CPU, where
            the profiler only sees the allocations made during the step).
    """
    if device.type == 'cuda':
        synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        step()
        synchronize(device)
        return torch.cuda.max_memory_allocated(device)
    baseline = held()
    with torch.profiler.profile(
            activities=[torch.profiler.ProfilerActivity.CPU],
            profile_memory=True) as profiler:
        step()
    events = sorted((event.start_ns(), event.nbytes())
                    for event in profiler.profiler.kineto_results.events()
                    if event.name() == '[memory]'
                    and event.device_type() == torch.autograd.DeviceType.CPU)
    current = peak = 0
    for _, nbytes in events:
        current += nbytes
        peak = max(peak, current)
    return baseline + peak


def plain_counterpart(cfg: Config) -> Config:
    """The config with its backbone replaced by the same-depth ResNet.

    The ResNet is the one of the config's codebase (``mmdet.ResNet`` or
    ``mmpretrain.ResNet``); the backbone arguments it accepts are kept and
    the DLA-only ones (``variant``, ``dual_path``, ...) dropped, as is a
    pretrained ``init_cfg`` (see :func:`default_initialised`).
    """
    backbone = cfg.model.backbone
    if backbone.type.split('.')[-1] != 'ResNetDLA':
        raise ValueError(
            f'No plain ResNet counterpart is defined for a {backbone.type} '
            'backbone (the CIFAR ResNets of mmdla have no attention-free '
            'twin in mmpretrain); compare with another config instead, e.g. '
            '--against configs/mrla110_1xb128_cifar100.py.')
    resnet_type = f'{cfg.default_scope}.ResNet'
    resnet_cls = MODELS.get(resnet_type)
    accepted = inspect.signature(resnet_cls.__init__).parameters
    plain = {
        key: value
        for key, value in backbone.items()
        if key in accepted and key != 'init_cfg'
    }
    plain['type'] = resnet_type
    counterpart = cfg.copy()
    counterpart.model = cfg.model.copy()
    counterpart.model.backbone = ConfigDict(plain)
    return counterpart


def default_initialised(cfg: Config) -> Config:
    """The config with its backbone's default initialisation.

    A pretrained backbone ``init_cfg`` (the detection configs name an
    ImageNet checkpoint that may not exist yet) is dropped, so that both
    models are initialised the way their classes do by default and their
    heads keep comparable numbers of proposals after NMS.
    """
    cfg = copy.deepcopy(cfg)
    cfg.model.backbone.pop('init_cfg', None)
    return cfg


def synthetic_batch(cfg: Config, batch_size: int, shape: Tuple[int,
                                                               int]) -> dict:
    """A batch of random images with random labels (or boxes and masks)."""
    height, width = shape
    if is_detection(cfg):
        from mmdet.testing import demo_mm_inputs
        return demo_mm_inputs(
            batch_size=batch_size,
            image_shapes=[(3, height, width)] * batch_size,
            num_items=[4] * batch_size,
            num_classes=cfg.model.roi_head.bbox_head.num_classes,
            with_mask='mask_head' in cfg.model.roi_head)
    from mmpretrain.structures import DataSample
    num_classes = cfg.model.head.num_classes
    generator = torch.Generator().manual_seed(0)
    return dict(
        inputs=[
            torch.randint(
                0,
                256, (3, height, width),
                generator=generator,
                dtype=torch.uint8) for _ in range(batch_size)
        ],
        data_samples=[
            DataSample().set_gt_label(index % num_classes)
            for index in range(batch_size)
        ])


def benchmark_model(cfg: Config, args: argparse.Namespace) -> Dict[str, float]:
    """Time and measure one config's model; see the module docstring.

    Inference is measured first, before an optimizer exists, so that its
    peak memory holds no gradients or optimizer state.
    """
    device = torch.device(args.device)
    shape = tuple(args.shape) if args.shape else default_input_shape(cfg)
    memory_format = (
        torch.channels_last if args.channels_last else torch.contiguous_format)
    torch.manual_seed(0)
    model = build_model(default_initialised(cfg))
    model.init_weights()
    model.to(device, memory_format=memory_format)
    batch = synthetic_batch(cfg, args.batch_size, shape)

    def preprocess(training: bool) -> dict:
        data = model.data_preprocessor(batch, training)
        data['inputs'] = data['inputs'].contiguous(memory_format=memory_format)
        return data

    model.eval()
    test_data = preprocess(training=False)

    @torch.no_grad()
    def test_step() -> None:
        with torch.autocast(device.type, enabled=args.amp):
            model(**test_data, mode='predict')

    test_time = time_per_call(test_step, args.iters, args.warmup, device)
    test_peak = peak_memory(test_step, device,
                            lambda: held_bytes(model, None, test_data))

    model.train()
    train_data = preprocess(training=True)
    optimizer = torch.optim.SGD(
        model.parameters(), lr=1e-4, momentum=0.9, weight_decay=1e-4)
    optim_wrapper = (
        AmpOptimWrapper(optimizer=optimizer) if args.amp else OptimWrapper(
            optimizer=optimizer))

    def train_step() -> None:
        with optim_wrapper.optim_context(model):
            losses = model(**train_data, mode='loss')
        loss, _ = model.parse_losses(losses)
        optim_wrapper.update_params(loss)

    train_time = time_per_call(train_step, args.iters, args.warmup, device)
    train_peak = peak_memory(train_step, device,
                             lambda: held_bytes(model, optimizer, train_data))
    return dict(
        train_img_s=args.batch_size / train_time,
        test_img_s=args.batch_size / test_time,
        train_peak_mib=train_peak / 2**20,
        test_peak_mib=test_peak / 2**20)


def format_table(rows: List[Tuple[str, Dict[str, float]]],
                 ratio: Dict[str, float]) -> str:
    """A plain-text table: one row per model, then the ratios of the last
    model's figures to the first one's."""
    columns = [('train img/s', 'train_img_s', '.2f'),
               ('infer img/s', 'test_img_s', '.2f'),
               ('train peak MiB', 'train_peak_mib', '.0f'),
               ('infer peak MiB', 'test_peak_mib', '.0f')]
    ratio_name = 'ratio (config / baseline)'
    name_width = max(len(name) for name, _ in rows + [(ratio_name, {})])
    header = ' | '.join([f'{"model":<{name_width}}'] +
                        [f'{title:>14}' for title, _, _ in columns])
    lines = [header, '-' * len(header)]
    for name, values in rows:
        cells = [f'{values[key]:>14{fmt}}' for _, key, fmt in columns]
        lines.append(' | '.join([f'{name:<{name_width}}'] + cells))
    cells = [f'{ratio[key]:>13.2f}x' for _, key, _ in columns]
    lines.append(' | '.join([f'{ratio_name:<{name_width}}'] + cells))
    return '\n'.join(lines)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Training and inference throughput and peak memory of '
        'a config\'s model against its plain-ResNet counterpart.')
    parser.add_argument('config', help='config file path')
    parser.add_argument(
        '--against',
        help='config to compare with (default: CONFIG with a plain ResNet '
        'backbone of the same depth)')
    parser.add_argument('--device', choices=['cpu', 'cuda'], default='cpu')
    parser.add_argument(
        '--amp',
        action='store_true',
        help='fp16 mixed precision (AmpOptimWrapper; CUDA only)')
    parser.add_argument(
        '--channels-last',
        action='store_true',
        help='channels_last memory format for the weights and inputs')
    parser.add_argument('--batch-size', type=int, default=2)
    parser.add_argument(
        '--shape',
        type=int,
        nargs=2,
        metavar=('H', 'W'),
        help='image height and width (default: as get_flops.py)')
    parser.add_argument('--iters', type=int, default=10, help='timed steps')
    parser.add_argument(
        '--warmup', type=int, default=2, help='untimed steps first')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of CONFIG (applied before the counterpart '
        'is derived)')
    args = parser.parse_args(argv)
    if args.device == 'cuda' and not torch.cuda.is_available():
        parser.error('--device cuda was given but no CUDA device is visible; '
                     'use --device cpu.')
    if args.amp and args.device != 'cuda':
        parser.error('--amp needs --device cuda (mmengine\'s '
                     'AmpOptimWrapper runs on GPUs only).')
    return args


def main() -> None:
    args = parse_args()
    # the current MMEngine logger: keeps the report of init_weights() quiet
    MMLogger.get_instance('benchmark', log_level='WARNING')
    cfg = load_config(args.config, args.cfg_options)
    if args.against:
        baseline_name = args.against
        baseline = load_config(args.against)
    else:
        baseline = plain_counterpart(cfg)
        baseline_name = f'{baseline.model.backbone.type} (plain)'
    rows = [(baseline_name, benchmark_model(baseline, args)),
            (args.config, benchmark_model(cfg, args))]
    ratio = {key: rows[1][1][key] / rows[0][1][key] for key in rows[0][1]}
    settings = (f'device={args.device} amp={args.amp} '
                f'channels_last={args.channels_last} '
                f'batch={args.batch_size} iters={args.iters}')
    print(settings)
    print(format_table(rows, ratio))


if __name__ == '__main__':
    main()
