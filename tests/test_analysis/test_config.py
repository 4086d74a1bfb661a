"""mmdla.analysis.config: loading a config and building its model."""
from pathlib import Path

import pytest
from mmengine.config import Config

from mmdla.analysis import (DETECTION_SHAPE, build_model, default_input_shape,
                            load_config)

CONFIG_DIR = Path(__file__).resolve().parents[2] / 'configs'


def test_default_input_shape_follows_the_pipelines():
    cifar = load_config(CONFIG_DIR / 'dla110_1xb128_cifar10.py')
    coco = load_config(CONFIG_DIR / 'mask_rcnn_dla50_fpn_1x_coco.py')
    assert default_input_shape(cifar) == (32, 32)
    assert default_input_shape(coco) == DETECTION_SHAPE


def test_load_config_rejects_foreign_scope(tmp_path):
    config = tmp_path / 'foreign.py'
    config.write_text("default_scope = 'mmocr'\nmodel = dict(type='X')\n")
    with pytest.raises(ValueError, match="default_scope='mmocr'"):
        load_config(str(config))


def test_config_is_loaded_with_overrides():
    cfg = load_config(CONFIG_DIR / 'dla50_8xb32_in1k.py',
                      {'model.backbone.depth': 101})
    assert isinstance(cfg, Config) and cfg.model.backbone.depth == 101


@pytest.mark.parametrize('options, refusal', [
    ({'randomnes.seed': 1}, "the config has no key 'randomnes'"),
    ({'data_root': '/other/'}, "'data_root' is a variable of the config"),
])
def test_overrides_are_validated_as_train_does(cls_demo, options, refusal):
    with pytest.raises(ValueError, match=refusal):
        load_config(cls_demo, options)


def test_build_model_moves_the_data_preprocessor_into_the_model():
    cfg = load_config(CONFIG_DIR / 'dla110_1xb128_cifar10.py')
    model = build_model(cfg)
    mean = model.data_preprocessor.mean.flatten().tolist()
    assert mean == pytest.approx(cfg.data_preprocessor.mean)
