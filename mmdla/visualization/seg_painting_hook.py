"""MMSegmentation's visualization hook, writing the painted test images into
one folder as MMDetection's does.

MMSegmentation's :class:`SegVisualizationHook` hands every painted image to
the visualizer's backends, which save it as
``<save_dir>/vis_data/vis_image/test_<image file>_<step>.png``.
:class:`SegPaintingHook` takes a ``test_out_dir`` instead, resolved as
MMDetection's ``DetVisualizationHook`` resolves its own (a relative folder
lands in ``<work_dir>/<timestamp>/``), and writes each test image there under
its file name: ground truth beside prediction. ``tools/test.py --show-dir``
selects it for segmentation configs.

Importing this module imports MMSegmentation (the ``seg`` extra of mmdla)
and registers the hook as ``mmdla.SegPaintingHook``; a config that names the
hook itself imports it with
``custom_imports = dict(imports=['mmdla.visualization.seg_painting_hook'])``.
"""
import os
import os.path as osp
from typing import Optional, Sequence

import mmcv
from mmengine import fileio
from mmengine.runner import Runner
from mmseg.engine.hooks import SegVisualizationHook
from mmseg.structures import SegDataSample

from mmdla.registry import HOOKS


@HOOKS.register_module()
class SegPaintingHook(SegVisualizationHook):
    """:class:`SegVisualizationHook` that writes the painted test images to
    ``test_out_dir/<image file name>``.

    Args:
        test_out_dir (str, optional): Folder of the painted test images; a
            relative one is taken relative to ``<work_dir>/<timestamp>/``.
            Without it, the images go to the visualizer's backends, as with
            :class:`SegVisualizationHook`.
        **kwargs: The arguments of :class:`SegVisualizationHook` (``draw``,
            ``interval`` in batches, ``show``, ``wait_time``,
            ``backend_args``).
    """

    def __init__(self, test_out_dir: Optional[str] = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.test_out_dir = test_out_dir

    def before_test(self, runner: Runner) -> None:
        """Resolve and create the folder of the painted images."""
        if self.draw and self.test_out_dir is not None:
            self.test_out_dir = osp.join(runner.work_dir, runner.timestamp,
                                         self.test_out_dir)
            os.makedirs(self.test_out_dir, exist_ok=True)

    def after_test_iter(self, runner: Runner, batch_idx: int, data_batch: dict,
                        outputs: Sequence[SegDataSample]) -> None:
        """Paint the ground truth and the prediction of every image of every
        ``interval``-th batch into ``test_out_dir``."""
        if self.test_out_dir is None:
            super().after_test_iter(runner, batch_idx, data_batch, outputs)
            return
        if not self.draw or not self.every_n_inner_iters(
                batch_idx, self.interval):
            return
        for output in outputs:
            name = osp.basename(output.img_path)
            image = mmcv.imfrombytes(
                fileio.get(output.img_path, backend_args=self.backend_args),
                channel_order='rgb')
            self._visualizer.add_datasample(
                f'test_{name}',
                image,
                data_sample=output,
                show=self.show,
                wait_time=self.wait_time,
                out_file=osp.join(self.test_out_dir, name))
