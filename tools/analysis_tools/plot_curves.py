"""Plot the loss and evaluation curves of a training run as a PNG.

Reads the scalar logs MMEngine writes (``<work_dir>/<timestamp>/vis_data/
scalars.json``). Given a work dir, the logs of all its runs are merged in
time order, so a resumed training shows as one curve.

Examples::

    python tools/analysis_tools/plot_curves.py work_dirs/NAME
    python tools/analysis_tools/plot_curves.py RUN/vis_data/scalars.json \\
        --metrics coco/bbox_mAP coco/bbox_mAP_50 --out curves.png
"""
import argparse
import glob
import json
import os.path as osp
import re
from typing import Dict, List, Optional, Sequence, Tuple

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402

#: Metrics plotted when none are named: COCO mAP / mAP_50 and top-1 accuracy.
DEFAULT_METRICS = re.compile(r'(bbox|segm)_mAP(_50)?$|accuracy/top1$')
_BOOKKEEPING = {
    'epoch', 'iter', 'step', 'lr', 'time', 'data_time', 'memory', 'base_lr'
}

Records = List[dict]


def find_scalar_logs(path: str) -> List[str]:
    """Scalar log files of ``path``: the file itself, or every run of a work
    dir (or of a run dir) in time order."""
    if osp.isfile(path):
        return [path]
    logs = sorted(glob.glob(osp.join(path, '*', 'vis_data', 'scalars.json')))
    logs += sorted(glob.glob(osp.join(path, 'vis_data', 'scalars.json')))
    if not logs:
        raise FileNotFoundError(
            f'No scalar log under {path!r}: expected '
            '<work_dir>/<timestamp>/vis_data/scalars.json, written by '
            "MMEngine's LocalVisBackend during training.")
    return logs


def load_records(log_files: Sequence[str]) -> Tuple[Records, Records]:
    """Training and validation records of the logs.

    Later records replace earlier ones of the same step, so the part of a
    run repeated after a resume is counted once.
    """
    train: Dict[int, dict] = {}
    val: Dict[int, dict] = {}
    for log_file in log_files:
        with open(log_file) as f:
            for line in f:
                if not line.strip():
                    continue
                record = json.loads(line)
                if 'loss' in record:
                    train[record['step']] = record
                elif any(k not in _BOOKKEEPING for k in record):
                    val[record['step']] = record
    return ([train[k] for k in sorted(train)], [val[k] for k in sorted(val)])


def plot_curves(train: Records,
                val: Records,
                out_file: str,
                metrics: Optional[Sequence[str]] = None,
                title: str = '') -> List[str]:
    """Draw losses (left) and metrics (right) into ``out_file``.

    Returns:
        The names of the metrics that were drawn.
    """
    if not train:
        raise ValueError('The logs hold no training record (no `loss`).')
    if metrics is None:
        metrics = sorted(
            {k
             for record in val
             for k in record if DEFAULT_METRICS.search(k)})
    fig, (ax_loss, ax_metric) = plt.subplots(1, 2, figsize=(12, 4.5))
    steps = [r['step'] for r in train]
    loss_keys = sorted({k for r in train for k in r if k.startswith('loss')})
    for key in loss_keys:
        ax_loss.plot(
            steps, [r.get(key, float('nan')) for r in train],
            label=key,
            linewidth=2 if key == 'loss' else 1)
    ax_loss.set_xlabel('iteration')
    ax_loss.set_ylabel('loss')
    ax_loss.set_yscale('log')
    ax_loss.grid(alpha=0.3)
    ax_loss.legend(fontsize=8)

    for key in metrics:
        points = [(r['step'], r[key]) for r in val if key in r]
        if not points:
            raise KeyError(f'Metric {key!r} is not in the logs; available: '
                           f'{sorted({k for r in val for k in r})}')
        ax_metric.plot(*zip(*points), marker='o', label=key)
    ax_metric.set_xlabel('epoch' if 'epoch' in train[0] else 'iteration')
    ax_metric.set_ylabel('metric')
    ax_metric.grid(alpha=0.3)
    if metrics:
        ax_metric.legend(fontsize=8)
    else:
        ax_metric.set_title('no evaluation in the logs')
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out_file, dpi=100)
    plt.close(fig)
    return list(metrics)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Plot loss and metric curves of a training run')
    parser.add_argument(
        'path', help='a work dir, a run dir or a vis_data/scalars.json file')
    parser.add_argument(
        '--metrics',
        nargs='+',
        help='metric keys to plot (default: COCO mAP / mAP_50, top-1 acc.)')
    parser.add_argument(
        '--out', help='output PNG (default: <path>/curves.png)')
    parser.add_argument('--title', default='', help='figure title')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    out_file = args.out or osp.join(
        osp.dirname(args.path) if osp.isfile(args.path) else args.path,
        'curves.png')
    train, val = load_records(find_scalar_logs(args.path))
    drawn = plot_curves(train, val, out_file, args.metrics, args.title)
    print(f'{out_file}: loss over {len(train)} logged iterations, '
          f'{", ".join(drawn) or "no metric"} over {len(val)} evaluations')


if __name__ == '__main__':
    main()
