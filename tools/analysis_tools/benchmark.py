"""Compare the speed and memory of a config's model with a plain ResNet.

Builds the model of CONFIG and its counterpart (by default the same config
with the backbone replaced by the same-depth ResNet of the config's codebase,
``mmpretrain.ResNet`` or ``mmdet.ResNet``; or the model of ``--against``) in
one process, then times a training step (forward, loss, backward, SGD step)
and an inference step (``predict`` mode, post-processing included) of each
on the same synthetic batch, and prints a table with the ratios::

    python tools/analysis_tools/benchmark.py configs/dla50_8xb32_in1k.py \
        --device cpu --batch-size 2 --shape 224
    python tools/analysis_tools/benchmark.py \
        configs/faster_rcnn_dla50_fpn_1x_coco.py --device cuda --amp \
        --channels-last --batch-size 2

``--amp`` runs the forward passes and the loss under bfloat16 autocast, on
the CPU or a GPU (as in ``benchmark_backbone.py``). ``--shape`` takes S or
H W. Timings exclude data loading and the data preprocessor (normalisation
and padding run once, before the loops). Peak memory is the most tensor memory
held during one step: parameters, gradients, optimizer state, inputs and
activations. On CUDA it comes from the caching allocator's statistics, on
the CPU from the PyTorch profiler's allocation events.
"""
import argparse
from typing import Dict, List, Optional, Tuple

import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.optim import OptimWrapper

from mmdla.analysis import (amp_autocast, build_model, default_initialised,
                            default_input_shape, held_bytes, load_config,
                            peak_memory, plain_counterpart, synthetic_batch,
                            time_per_call)
from mmdla.engine.cli import (add_amp_argument, add_cfg_options_arg,
                              add_shape_argument)


def benchmark_model(cfg: Config, args: argparse.Namespace) -> Dict[str, float]:
    """Time and measure one config's model; see the module docstring.

    Inference is measured first, before an optimizer exists, so that its
    peak memory holds no gradients or optimizer state.
    """
    device = torch.device(args.device)
    shape = args.shape or default_input_shape(cfg)
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
        with amp_autocast(device, args.amp):
            model(**test_data, mode='predict')

    test_time = time_per_call(test_step, args.iters, args.warmup, device)
    test_peak = peak_memory(test_step, device,
                            lambda: held_bytes(model, None, test_data))

    model.train()
    train_data = preprocess(training=True)
    optimizer = torch.optim.SGD(
        model.parameters(), lr=1e-4, momentum=0.9, weight_decay=1e-4)
    optim_wrapper = OptimWrapper(optimizer=optimizer)

    def train_step() -> None:
        with optim_wrapper.optim_context(model), amp_autocast(
                device, args.amp):
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
    add_amp_argument(parser)
    parser.add_argument(
        '--channels-last',
        action='store_true',
        help='channels_last memory format for the weights and inputs')
    parser.add_argument('--batch-size', type=int, default=2)
    add_shape_argument(
        parser, help='image height and width (default: as get_flops.py)')
    parser.add_argument('--iters', type=int, default=10, help='timed steps')
    parser.add_argument(
        '--warmup', type=int, default=2, help='untimed steps first')
    add_cfg_options_arg(
        parser,
        help='override settings of CONFIG (applied before the counterpart '
        'is derived)')
    args = parser.parse_args(argv)
    if args.device == 'cuda' and not torch.cuda.is_available():
        parser.error('--device cuda was given but no CUDA device is visible; '
                     'use --device cpu.')
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
