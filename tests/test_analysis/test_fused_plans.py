"""explain_fused: the path of every block's step for a batch, and the
condition that chose it."""
import pytest
import torch

from mmdla.analysis import explain_fused
from mmdla.models import ResNetDLACifar
from mmdla.models.layers.recorder import Recorder
from mmdla.ops import FUSED, PYTORCH


def test_auto_on_the_cpu_names_auto_fused_devices():
    model = ResNetDLACifar(depth=20, block='basic').train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    plans = explain_fused(model, torch.rand(2, 3, 16, 16))
    assert [(p.stage, p.index) for p in plans] == [
        (f'layer{s}', i) for s in (1, 2, 3) for i in range(3)
    ]
    assert {p.plan.path for p in plans} == {PYTORCH}
    assert "'cpu' is not in AUTO_FUSED_DEVICES" in str(plans[0])
    # a copy ran: no running statistic moved
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_fused_on_meta_and_what_keeps_the_gates_in_pytorch():
    model = ResNetDLACifar(depth=20, block='basic', fused=True).to('meta')
    batch = torch.empty(2, 3, 16, 16, device='meta')
    plans = explain_fused(model, batch)
    assert {(p.plan.path, p.plan.fuse_gates) for p in plans} == {(FUSED, True)}
    assert all(p.plan.fuses_activation for p in plans)
    with Recorder():
        plans = explain_fused(model, batch)
    assert {p.plan.gates_reason for p in plans} == {
        'a Recorder collects the gates'
    }
    double = explain_fused(model.double(), batch.double())
    assert {p.plan.path for p in double} == {PYTORCH}
    assert 'float64' in double[0].plan.reason


def test_steps_without_a_fused_path_and_models_without_stages():
    model = ResNetDLACifar(depth=20, block='basic', variant='base')
    plans = explain_fused(model, torch.rand(1, 3, 8, 8))
    assert 'DLABaseStep has no fused step' in str(plans[0])
    with pytest.raises(ValueError, match='no layer attention'):
        explain_fused(torch.nn.Conv2d(3, 3, 1), torch.rand(1, 3, 4, 4))
