"""tools/train.py stops before training when a changed backbone no longer
fits the config's neck, naming the channels to set."""
import os.path as osp
import sys


def test_deeper_demo_backbone_stops_before_training(tmp_path, repo_root,
                                                    faster_rcnn_demo,
                                                    tiny_detection_options,
                                                    run_tool):
    work_dir = tmp_path / 'work_dir'
    result = run_tool([
        sys.executable,
        osp.join(repo_root, 'tools', 'train.py'), faster_rcnn_demo,
        '--work-dir',
        str(work_dir), *tiny_detection_options(1), 'model.backbone.depth=50'
    ],
                      cwd=str(tmp_path),
                      timeout=300)
    assert result.returncode != 0
    assert 'ValueError: model.neck.in_channels is [32, 64, 128, 256], but ' \
        'the backbone (mmdla.ResNetDLA, depth 50) returns features of ' \
        '[128, 256, 512, 1024] channels.' in result.stdout
    assert 'Epoch(train)' not in result.stdout
    assert not list(work_dir.glob('*.pth'))
