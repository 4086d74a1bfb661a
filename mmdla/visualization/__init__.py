"""Figures of what a backbone's layer attention computes (needs
matplotlib, which MMEngine installs), and a detection visualizer drawing on
enlarged images (:mod:`.scaled_det_visualizer`, not imported here: it needs
MMDetection; :data:`mmdla.registry.VISUALIZERS` imports it)."""
from .layer_attention_figure import layer_attention_figure

__all__ = ['layer_attention_figure']
