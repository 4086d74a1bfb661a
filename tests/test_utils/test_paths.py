"""Local paths and the URIs of storage backends, told apart as MMEngine
does."""
import pytest

from mmdla.utils import is_local_path


@pytest.mark.parametrize('path, local', [
    ('work_dirs/run/epoch_1.pth', True),
    ('/data/coco/annotations/instances_val2017.json', True),
    ('data/odd:name.png', True),
    ('s3://bucket/coco/', False),
    ('https://download.openmmlab.com/model.pth', False),
    ('petrel://cluster/data/', False),
])
def test_is_local_path(path, local):
    assert is_local_path(path) is local
