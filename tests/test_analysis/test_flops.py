"""mmdla.analysis.flops: parameters and FLOPs of a config's model."""
from pathlib import Path

from mmdla.analysis import count_complexity, load_config

CONFIG_DIR = Path(__file__).resolve().parents[2] / 'configs'


def test_get_flops_counts_a_detector():
    cfg = load_config(CONFIG_DIR / 'faster_rcnn_dla50_fpn_1x_coco.py')
    result = count_complexity(cfg, shape=(60, 90))
    assert result['input_shape'] == (64, 96)  # padded to a multiple of 32
    assert result['flops'] > result['backbone_flops'] > 0
    assert result['total_flops'] >= result['flops']
    # fixed proposals: the figure does not depend on the (random) weights
    assert count_complexity(cfg, shape=(60, 90))['flops'] == result['flops']
    assert result['params'] > result['backbone_params'] > 0
