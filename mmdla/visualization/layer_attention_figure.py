"""A figure of the layer attention statistics of a backbone.

One column per stage, one row per quantity of
:func:`mmdla.analysis.layer_attention_stats` that the backbone computes:
heatmaps over the blocks (rows of each panel) of the head gates ``a_t``
(per head), ``lambda`` and the update gates ``d_t`` (per channel) and of
the attention weights over the earlier blocks (averaged over the heads), and
bars of the ratio of the attention branch's norm to the block output's.
"""
from typing import List, Optional

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

# (key in the statistics, panel title, x-axis label), in row order
PANELS = (
    ('head_gates', 'head gates $a_t$', 'head'),
    ('lambda', r'$\lambda_t$', 'channel'),
    ('update_gate', 'update gates $d_t$', 'channel'),
    ('attention_weights', 'weights over blocks (mean of heads)',
     'attended block'),
    ('branch_ratio', '||attention branch|| / ||block output||', 'ratio'),
)
# heatmaps with at most this many columns get their values written in
_ANNOTATED_COLUMNS = 8
_PANEL_SIZE = (3.6, 2.6)  # inches


def _heatmap(block_values: List) -> np.ndarray:
    """``[blocks, ...]`` from per-block rows; the attention weights of block
    ``t`` (``[t + 1][G]``) become a row of ``t + 1`` head means padded with
    NaN."""
    rows = [np.asarray(values, dtype=float) for values in block_values]
    if rows[0].ndim == 2:  # attention weights
        rows = [row.mean(1) for row in rows]
    width = max(len(row) for row in rows)
    return np.stack([
        np.pad(row, (0, width - len(row)), constant_values=np.nan)
        for row in rows
    ])


def _draw_heatmap(fig: Figure, ax: Axes, key: str, data: np.ndarray) -> None:
    if key == 'lambda':
        limit = max(float(np.nanmax(np.abs(data))), 1e-6)
        image = ax.imshow(
            data, cmap='RdBu_r', vmin=-limit, vmax=limit, aspect='auto')
    else:  # gates and weights are in [0, 1]
        image = ax.imshow(data, cmap='viridis', vmin=0, vmax=1, aspect='auto')
    fig.colorbar(image, ax=ax, fraction=0.08, pad=0.03)
    if data.shape[1] <= _ANNOTATED_COLUMNS:
        ax.set_xticks(range(data.shape[1]))
        for (row, column), value in np.ndenumerate(data):
            if not np.isnan(value):
                ax.text(
                    column,
                    row,
                    f'{value:.2f}',
                    ha='center',
                    va='center',
                    fontsize=7,
                    color='white' if value < 0.6 else 'black')


def _draw_ratios(ax: Axes, ratios: np.ndarray) -> None:
    bars = ax.barh(range(len(ratios)), ratios, color='tab:blue')
    ax.bar_label(bars, fmt='%.2f', fontsize=7, padding=2)
    ax.set_xlim(0, max(float(ratios.max()), 1e-6) * 1.3)
    ax.invert_yaxis()  # block 0 at the top, as in the heatmaps


def layer_attention_figure(stats: dict, title: Optional[str] = None) -> Figure:
    """Draw the statistics returned by
    :func:`mmdla.analysis.layer_attention_stats`.

    Args:
        stats (dict): The statistics (``num_images`` and ``stages``).
        title (str, optional): The figure's title; the layer attention
            steps and the number of images are appended.

    Returns:
        Figure: A matplotlib figure (not attached to pyplot); save it with
        ``figure.savefig(path)``.
    """
    stages = stats['stages']
    rows = [
        panel for panel in PANELS
        if any(panel[0] in stage['blocks'][0] for stage in stages)
    ]
    fig = Figure(
        figsize=(_PANEL_SIZE[0] * len(stages), _PANEL_SIZE[1] * len(rows)),
        layout='constrained')
    axes = fig.subplots(len(rows), len(stages), squeeze=False)
    for column, stage in enumerate(stages):
        num_blocks = len(stage['blocks'])
        for (key, name, xlabel), ax in zip(rows, axes[:, column]):
            if key not in stage['blocks'][0]:
                ax.set_axis_off()
                continue
            values = [block[key] for block in stage['blocks']]
            if key == 'branch_ratio':
                _draw_ratios(ax, np.asarray(values, dtype=float))
            else:
                _draw_heatmap(fig, ax, key, _heatmap(values))
            ax.set_title(f'{stage["name"]}: {name}', fontsize=9)
            ax.set_xlabel(xlabel, fontsize=8)
            ax.set_ylabel('block', fontsize=8)
            ax.set_yticks(range(num_blocks))
            ax.tick_params(labelsize=7)
    num_images = stats['num_images']
    images = f'mean over {num_images} image{"s" * (num_images != 1)}'
    steps = ', '.join(dict.fromkeys(stage['step'] for stage in stages))
    fig.suptitle(
        f'{title} ({steps}): {images}' if title else f'{steps}: {images}')
    return fig
