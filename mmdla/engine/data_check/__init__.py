"""Fail early, and helpfully, when a config's dataset is missing or wrong.

Without these checks a missing dataset surfaces deep inside dataset building
as a bare ``FileNotFoundError`` on some annotation file, a broken annotation
file as ``need at least one array to concatenate``, a missing image as a
crash in the middle of an epoch, and a stray class folder as silently shifted
labels. :func:`check_data_roots` inspects the dataloader configs and the data
they point at before the runner is built, and names the file, the config key
and the fix:

* every ``data_root``, ``ann_file`` and ``data_prefix`` folder exists;
* a COCO annotation file (``CocoDataset``) is valid JSON with images,
  annotations and categories named like the classes of the config, and no
  image id given to two images; its image files exist and are not empty,
  and, read from their headers, are the size of their entries as the
  pipeline loads them (turned by their EXIF orientation, unless its
  ``LoadImageFromFile`` ignores it), with no more pixels than OpenCV
  decodes (``OPENCV_IO_MAX_IMAGE_PIXELS``); annotations the dataset would
  drop (boxes that are not finite, smaller than a pixel or outside the
  image, unknown category ids) and, for a pipeline that loads masks,
  instances MMDetection ignores for their polygons are counted in a
  warning, and a split left with no usable instance is an error;
* the ``ann_file`` of a COCO evaluator is the annotation file of the dataset
  it evaluates;
* the class sub-folders of a folder dataset (MMPretrain's ``CustomDataset``,
  which numbers them in sorted order) are the classes of the config, and the
  same in every split; no symbolic link under them loops (MMPretrain
  follows links to folders), no image in them is empty, and no class folder
  holds only files of extensions MMPretrain does not read;
* every image of a segmentation dataset (MMSegmentation's
  ``BaseSegDataset``: a ``data_prefix`` with ``img_path`` and
  ``seg_map_path``) has its label map, of the same name with
  ``seg_map_suffix``; neither is empty; the label maps are single-channel
  and hold only class indices (``0 .. num_classes - 1``, or ``1 ..
  num_classes`` with ``reduce_zero_label``) and the ignore index (255),
  read for the first 100 label maps of each split;
* with ``check_images=True``, every image (and label map) of these
  datasets decodes fully, and has no more pixels than OpenCV decodes (PIL's
  smaller decompression-bomb limit does not apply).

:mod:`.data_roots` holds the entry point and the check of the paths,
:mod:`.config_walk` reads the datasets and evaluators of a config, and
:mod:`.coco`, :mod:`.class_folders`, :mod:`.seg_folders` and :mod:`.images`
check the data of each kind.
"""
from .data_roots import DEMO_DATA_HINTS, check_data_roots

__all__ = ['DEMO_DATA_HINTS', 'check_data_roots']
