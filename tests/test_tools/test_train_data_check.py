"""tools/train.py checks the data of every dataloader it uses before
training, the validation set of MMPretrain configs included."""
import os.path as osp
import shutil
import sys


def test_missing_val_set_of_mmpretrain_config_stops_before_training(
        run_tool, repo_root, tmp_path, cls_demo, tiny_shapes_cls):
    data_root = str(tmp_path / 'shapes_cls') + '/'
    shutil.copytree(tiny_shapes_cls, data_root)
    shutil.rmtree(data_root + 'val')
    work_dir = tmp_path / 'work'
    result = run_tool([
        sys.executable,
        osp.join(repo_root, 'tools', 'train.py'), cls_demo, '--work-dir',
        str(work_dir), '--cfg-options',
        f'train_dataloader.dataset.data_root={data_root}',
        f'val_dataloader.dataset.data_root={data_root}',
        'train_cfg.max_epochs=1'
    ],
                      cwd=str(tmp_path),
                      timeout=300)
    assert result.returncode != 0
    assert 'val_dataloader.dataset.data_prefix' in result.stdout
    assert osp.join(data_root, 'val') in result.stdout
    assert not work_dir.exists()  # stopped before the runner was built
