"""The bundled demo (``make demo``): data, training, evaluation, pictures.

1. generates the synthetic shapes datasets into ``data/`` (once);
2. trains the config (default: the Faster R-CNN DLA demo) with
   ``tools/train.py``; an interrupted demo resumes where it stopped;
3. evaluates the last checkpoint with ``tools/test.py`` and paints the
   predictions on the validation images (``--show-dir``);
4. plots the loss and metric curves, and prints where everything is.

Training and testing run with one thread (``OMP_NUM_THREADS=1`` unless set):
on a small machine shared with other work, two OpenMP threads that wait
for each other on a busy core make an iteration 5 to 20 times slower, while
one thread keeps a steady pace.

Examples::

    python tools/demo.py                                         # Faster R-CNN
    python tools/demo.py configs/demo/mask_rcnn_dla18_fpn_shapes.py
    python tools/demo.py configs/demo/dla20_cifar_shapes_cls.py
    python tools/demo.py configs/demo/fpn_dla18_shapes_seg.py    # semantic

Commands run from the repository root, whatever the current directory.
"""
import argparse
import glob
import json
import os
import os.path as osp
import shutil
import subprocess
import sys
import time
from typing import Dict, List

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEFAULT_CONFIG = 'configs/demo/faster_rcnn_dla18_fpn_shapes.py'
#: Metrics printed at the end, when the evaluation reports them.
HEADLINE_METRICS = ('coco/bbox_mAP_50', 'coco/bbox_mAP', 'coco/segm_mAP_50',
                    'coco/segm_mAP', 'accuracy/top1', 'mIoU')


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Train, evaluate and visualise a demo model')
    parser.add_argument(
        'config',
        nargs='?',
        default=DEFAULT_CONFIG,
        help=f'demo config (default: {DEFAULT_CONFIG})')
    parser.add_argument(
        '--work-dir', help='default: work_dirs/<config name> in the repo')
    parser.add_argument(
        '--fresh',
        action='store_true',
        help='delete the work dir first instead of resuming in it')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        default=[],
        help='passed on to tools/train.py and tools/test.py')
    return parser.parse_args()


def run(command: List[str]) -> None:
    """Run a command from the repository root, echoing it first; exit with
    its status if it fails."""
    print('\n$ ' + ' '.join(command), flush=True)
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(
        p for p in (REPO_ROOT, env.get('PYTHONPATH')) if p)
    env.setdefault('OMP_NUM_THREADS', '1')
    # a failed step has printed its error: stop with its status, no traceback
    status = subprocess.run(command, cwd=REPO_ROOT, env=env).returncode
    if status:
        sys.exit(status)


def run_dirs(work_dir: str) -> List[str]:
    """The ``<timestamp>`` run folders of a work dir, oldest first."""
    return sorted(
        d for d in glob.glob(osp.join(work_dir, '2*')) if osp.isdir(d))


def read_test_metrics(run_dir: str) -> Dict[str, float]:
    """Metrics that ``tools/test.py`` logged in ``run_dir``."""
    name = osp.basename(run_dir)
    with open(osp.join(run_dir, f'{name}.json')) as f:
        return json.loads(f.readline())


def main() -> None:
    args = parse_args()
    start = time.time()
    config = osp.relpath(osp.abspath(args.config), REPO_ROOT) if osp.exists(
        args.config) else args.config
    if not osp.isfile(osp.join(REPO_ROOT, config)):
        raise FileNotFoundError(
            f'Config {args.config!r} not found; the demo configs are in '
            f'{osp.join(REPO_ROOT, "configs", "demo")}.')
    name = osp.splitext(osp.basename(config))[0]
    work_dir = osp.abspath(
        args.work_dir or osp.join(REPO_ROOT, 'work_dirs', name))
    if args.fresh and osp.isdir(work_dir):
        shutil.rmtree(work_dir)
    cfg_options = ['--cfg-options', *args.cfg_options
                   ] if args.cfg_options else []
    python = sys.executable

    run([python, 'tools/misc/generate_demo_data.py'])
    run([
        python, 'tools/train.py', config, '--work-dir', work_dir, '--resume',
        *cfg_options
    ])
    train_end = time.time()

    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        checkpoint = f.read().strip()
    show_dir = osp.join(work_dir, 'predictions')
    runs_before = set(run_dirs(work_dir))
    run([
        python, 'tools/test.py', config, checkpoint, '--work-dir', work_dir,
        '--show-dir', show_dir, *cfg_options
    ])
    test_run = sorted(set(run_dirs(work_dir)) - runs_before)[-1]
    metrics = read_test_metrics(test_run)

    curves = osp.join(work_dir, 'curves.png')
    # the headline metrics the evaluation reported, validated while training
    plotted = [key for key in HEADLINE_METRICS if key in metrics]
    run([
        python, 'tools/analysis_tools/plot_curves.py', work_dir, '--out',
        curves, '--title', name, *(['--metrics', *plotted] if plotted else [])
    ])

    train_logs = [
        log for run_dir in run_dirs(work_dir) if run_dir != test_run
        for log in glob.glob(osp.join(run_dir, '*.log'))
    ]
    pictures = sorted(
        glob.glob(osp.join(show_dir, '**', '*.*'), recursive=True))
    print('\n' + '=' * 72)
    print(f'Demo {name} finished in {time.time() - start:.0f} s '
          f'(data and training: {train_end - start:.0f} s).')
    print(f'  training logs : {", ".join(train_logs)}')
    print(f'  checkpoints   : {osp.dirname(checkpoint)}/ '
          f'(last: {osp.basename(checkpoint)})')
    print(f'  evaluation log: {test_run}/')
    print(f'  predictions   : {show_dir}/ ({len(pictures)} pictures)')
    print(f'  curves        : {curves}')
    for key in HEADLINE_METRICS:
        if key in metrics:
            print(f'  {key:<16}: {metrics[key]:.3f}')
    print('=' * 72)


if __name__ == '__main__':
    main()
