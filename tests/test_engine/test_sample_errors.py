"""An error raised while a training sample is prepared names its file."""
import pickle

import pytest
from mmengine.dataset import BaseDataset, Compose, ConcatDataset

from mmdla.engine.sample_errors import SampleNamingPipeline, name_sample_errors


class FailingLoad:
    """A pipeline step that fails on one file, as OpenCV does: the error
    names no file."""

    def __init__(self, bad: str) -> None:
        self.bad = bad

    def __call__(self, results: dict) -> dict:
        if results['img_path'] == self.bad:
            raise RuntimeError('(-215:Assertion failed) pixels <= '
                               'CV_IO_MAX_IMAGE_PIXELS')
        return results


class Images(BaseDataset):
    """Three samples ``a.png``, ``b.png``, ``c.png``."""

    def load_data_list(self):
        return [dict(img_path=f'{name}.png') for name in 'abc']


def test_error_names_the_sample_and_keeps_its_type_and_message():
    dataset = Images(pipeline=[FailingLoad('b.png')])
    name_sample_errors(dataset)
    assert dataset[0] == dict(img_path='a.png', sample_idx=0)
    with pytest.raises(RuntimeError, match='CV_IO_MAX_IMAGE_PIXELS') as error:
        dataset.prepare_data(1)
    assert error.value.__notes__ == [
        'This happened while preparing the sample b.png. tools/train.py '
        '--check-images names every image of the data that does not decode, '
        'before training.'
    ]


def test_wrapped_datasets_are_reached_once_and_pickle():
    first = Images(pipeline=[FailingLoad('a.png')])
    second = Images(pipeline=[FailingLoad('c.png')])
    concat = ConcatDataset([first, second])
    name_sample_errors(concat)
    name_sample_errors(concat)  # no second wrapper
    for leaf in (first, second):
        assert isinstance(leaf.pipeline, SampleNamingPipeline)
        assert isinstance(leaf.pipeline.pipeline, Compose)
        # the pipeline's own attributes are still there
        assert len(leaf.pipeline.transforms) == 1
    # data loader workers started with 'spawn' get the dataset pickled
    copy = pickle.loads(pickle.dumps(second))
    with pytest.raises(RuntimeError) as error:
        copy.prepare_data(2)
    assert 'the sample c.png' in error.value.__notes__[0]
