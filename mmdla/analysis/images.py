"""Image files as a config's model sees them at test time."""
import os.path as osp
from typing import Iterator, List, Optional

import torch
from mmengine.config import Config
from mmengine.dataset import Compose, pseudo_collate
from mmengine.registry import init_default_scope
from mmengine.utils import scandir
from torch import nn

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif',
                    '.tiff', '.webp')
# transforms of a test pipeline that read annotations, absent for plain
# images
_ANNOTATION_TRANSFORMS = ('LoadAnnotations', 'mmdet.LoadAnnotations')


def find_images(image_dir: str,
                max_images: Optional[int] = None,
                recursive: bool = True) -> List[str]:
    """The image files under ``image_dir``, sorted; the first ``max_images``
    of them if given.

    Args:
        image_dir (str): Folder of the images.
        max_images (int, optional): Most images returned.
        recursive (bool): Search the sub-folders too. Defaults to True.

    Raises:
        FileNotFoundError: If ``image_dir`` is not a directory or holds no
            image.
    """
    if not osp.isdir(image_dir):
        raise FileNotFoundError(
            f'{image_dir!r} is not a directory; pass the folder that holds '
            'the images.')
    paths = sorted(
        osp.join(image_dir, path) for path in scandir(
            image_dir,
            suffix=IMAGE_EXTENSIONS,
            recursive=recursive,
            case_sensitive=False))
    if not paths:
        where = 'under' if recursive else 'in'
        raise FileNotFoundError(
            f'No images ({", ".join(IMAGE_EXTENSIONS)}) {where} '
            f'{image_dir!r}.')
    return paths[:max_images]


def build_test_pipeline(cfg: Config) -> Compose:
    """The pipeline of ``cfg.test_dataloader`` without the transforms that
    load annotations, built in the config's scope."""
    init_default_scope(cfg.default_scope)
    dataset = cfg.test_dataloader.dataset
    if 'pipeline' not in dataset:
        raise ValueError(
            'test_dataloader.dataset of the config has no pipeline; set '
            'one that loads an image file (LoadImageFromFile) and packs it.')
    return Compose([
        transform for transform in dataset.pipeline
        if transform['type'] not in _ANNOTATION_TRANSFORMS
    ])


def preprocessed_batches(cfg: Config, model: nn.Module, paths: List[str],
                         batch_size: int) -> Iterator[torch.Tensor]:
    """Batches ``[N, 3, H, W]`` of the images at ``paths``, through the
    config's test pipeline and the model's data preprocessor (a batch of
    images of different sizes is padded to the largest, as in testing)."""
    pipeline = build_test_pipeline(cfg)
    for start in range(0, len(paths), batch_size):
        samples = [
            pipeline(dict(img_path=path, img_id=index, sample_idx=index))
            for index, path in enumerate(paths[start:start +
                                               batch_size], start)
        ]
        yield model.data_preprocessor(pseudo_collate(samples), False)['inputs']
