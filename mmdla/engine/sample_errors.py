"""Errors of a training sample that name its file.

An image that OpenCV cannot decode stops a training with an error raised
deep inside the data pipeline, and OpenCV's own errors (``cv2.error: ...
pixels <= CV_IO_MAX_IMAGE_PIXELS``) name no file. :func:`name_sample_errors`
wraps the pipeline of each dataset in a :class:`SampleNamingPipeline`: an
exception raised while a sample is prepared gets a note (PEP 678, printed
under its traceback, also when it comes from a data loader worker) that
names the sample's file and the check that finds every such file. The
exception itself, its type and its message are unchanged.
"""
from typing import Any, Callable, Iterator, Optional


class SampleNamingPipeline:
    """A dataset's pipeline whose exceptions name the sample's file.

    Args:
        pipeline: The dataset's pipeline (MMEngine's ``Compose``), called
            with the information of one sample (a dict with ``img_path``).
    """

    def __init__(self, pipeline: Callable[[dict], Any]) -> None:
        self.pipeline = pipeline

    def __call__(self, data_info: dict) -> Any:
        path = data_info.get('img_path')
        try:
            return self.pipeline(data_info)
        except Exception as error:
            if path is not None:
                error.add_note(
                    f'This happened while preparing the sample {path}. '
                    'tools/train.py --check-images names every image of the '
                    'data that does not decode, before training.')
            raise

    def __getattr__(self, name: str) -> Any:
        # the pipeline's attributes (`transforms`, ...), for the code that
        # reads them; `pipeline` itself is missing only while unpickling
        if name == 'pipeline':
            raise AttributeError(name)
        return getattr(self.pipeline, name)


def _leaf_datasets(dataset: Any) -> Iterator[Any]:
    """The datasets inside dataset wrappers (``RepeatDataset``,
    ``ConcatDataset``, ...), or ``dataset`` itself."""
    children = getattr(dataset, 'datasets', None)
    child: Optional[Any] = getattr(dataset, 'dataset', None)
    if children is not None:
        for each in children:
            yield from _leaf_datasets(each)
    elif child is not None:
        yield from _leaf_datasets(child)
    else:
        yield dataset


def name_sample_errors(dataset: Any) -> None:
    """Wrap the pipeline of each dataset in ``dataset`` (looking through
    dataset wrappers) in a :class:`SampleNamingPipeline`, once."""
    for leaf in _leaf_datasets(dataset):
        pipeline = getattr(leaf, 'pipeline', None)
        if pipeline is not None and not isinstance(pipeline,
                                                   SampleNamingPipeline):
            leaf.pipeline = SampleNamingPipeline(pipeline)
