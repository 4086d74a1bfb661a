"""End to end on the CPU: a two-process run of tools/dist_train.sh, and a
training killed with SIGKILL that resumes with ``tools/train.py --resume``.

Both use the Faster R-CNN demo on a tiny shapes set (8 training images).
"""
import os
import os.path as osp
import signal
import sys
import time

import torch


def _load(path: str) -> dict:
    return torch.load(path, map_location='cpu', weights_only=False)


def test_dist_train_two_cpu_processes(tmp_path, repo_root, faster_rcnn_demo,
                                      tiny_detection_options, run_tool):
    work_dir = tmp_path / 'work_dir'
    result = run_tool([
        'bash',
        osp.join(repo_root, 'tools', 'dist_train.sh'), faster_rcnn_demo, '2',
        '--work-dir',
        str(work_dir), *tiny_detection_options(1)
    ],
                      cwd=str(tmp_path),
                      timeout=300)
    assert result.returncode == 0, result.stdout[-5000:]
    assert 'Distributed training: True' in result.stdout
    assert 'GPU number: 2' in result.stdout  # MMEngine's name for world size
    if not torch.cuda.is_available():
        # with the config's collective timeout
        assert "dist_cfg: {'backend': 'gloo', 'timeout': 900}" in \
            result.stdout
    # 8 images, 2 processes of batch 2: 2 iterations, then evaluation
    checkpoint = _load(str(work_dir / 'epoch_1.pth'))
    assert checkpoint['meta']['iter'] == 2
    assert 'coco/bbox_mAP' in result.stdout


def test_killed_training_resumes(tmp_path, repo_root, faster_rcnn_demo,
                                 tiny_detection_options, start_tool,
                                 run_tool):
    work_dir = tmp_path / 'work_dir'
    command = [
        sys.executable,
        osp.join(repo_root, 'tools', 'train.py'), faster_rcnn_demo,
        '--work-dir',
        str(work_dir), *tiny_detection_options(4), 'train_cfg.val_interval=100'
    ]
    pointer = work_dir / 'last_checkpoint'
    with open(tmp_path / 'first_run.log', 'w') as log:
        process = start_tool(command, str(tmp_path), log)
        deadline = time.time() + 240
        while not pointer.exists() and process.poll() is None \
                and time.time() < deadline:
            time.sleep(0.05)
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    first_log = (tmp_path / 'first_run.log').read_text()
    assert process.returncode == -signal.SIGKILL, \
        'training ended before it could be killed:\n' + first_log[-3000:]
    assert pointer.exists(), first_log[-3000:]
    killed_at = _load(pointer.read_text())['meta']['iter']
    assert killed_at in (4, 8, 12)  # 4 iterations per epoch
    assert not (work_dir / 'epoch_4.pth').exists()

    result = run_tool([*command, '--resume'], cwd=str(tmp_path), timeout=300)
    assert result.returncode == 0, result.stdout[-5000:]
    assert f'resumed epoch: {killed_at // 4}, iter: {killed_at}' in \
        result.stdout
    final = _load(str(work_dir / 'epoch_4.pth'))
    assert final['meta']['epoch'] == 4 and final['meta']['iter'] == 16
    assert pointer.read_text() == str(work_dir / 'epoch_4.pth')
