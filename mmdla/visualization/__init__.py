"""Figures of what a backbone's layer attention computes (needs
matplotlib, which MMEngine installs), a detection visualizer drawing on
enlarged images (:mod:`.scaled_det_visualizer`, not imported here: it needs
MMDetection; :data:`mmdla.registry.VISUALIZERS` imports it) and a
segmentation visualization hook writing the painted test images into one
folder (:mod:`.seg_painting_hook`, not imported here: it needs
MMSegmentation; ``tools/test.py`` imports it for segmentation configs)."""
from .layer_attention_figure import layer_attention_figure

__all__ = ['layer_attention_figure']
