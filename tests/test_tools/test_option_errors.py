"""tools/train.py stops on a misspelt backbone argument before the runner is
built: the error names the key and the argument meant, and the work dir
gets no log folder."""
import os.path as osp
import sys


def test_misspelt_backbone_key_stops_before_the_runner(tmp_path, repo_root,
                                                       cls_demo,
                                                       tiny_shapes_cls,
                                                       run_tool):
    work_dir = tmp_path / 'work_dir'
    result = run_tool([
        sys.executable,
        osp.join(repo_root, 'tools', 'train.py'), cls_demo, '--work-dir',
        str(work_dir), '--cfg-options',
        *(f'{split}_dataloader.dataset.data_root={tiny_shapes_cls}'
          for split in ('train', 'val', 'test')),
        'model.backbone.dsu_reductoin=4'
    ],
                      cwd=str(tmp_path),
                      timeout=300)
    assert result.returncode != 0
    assert "ValueError: model.backbone.dsu_reductoin: mmdla.ResNetDLACifar " \
        "has no argument 'dsu_reductoin'; did you mean 'dsu_reduction' " \
        '(model.backbone.dsu_reduction)?' in result.stdout
    assert 'TypeError' not in result.stdout
    # only the lock of tools/train.py: no log folder named by a start time,
    # no dumped config (the runner writes those)
    assert [path.name for path in work_dir.iterdir()] == ['.train.lock']
