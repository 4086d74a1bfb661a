"""Figures of what a backbone's layer attention computes (needs
matplotlib, which MMEngine installs)."""
from .layer_attention_figure import layer_attention_figure

__all__ = ['layer_attention_figure']
