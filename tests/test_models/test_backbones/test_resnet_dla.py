"""Behaviour of the DLA backbones, in the style of MMPretrain's tests."""
import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.modules.batchnorm import _BatchNorm

from mmdla.models import (BasicBlock, Bottleneck, DLALightStep, DLAStage,
                          DynamicSharingUnit, GRUContextCell, LSTMContextCell,
                          MRLALight, ResNetDLA, ResNetDLACifar)


def all_norms(model: nn.Module):
    return [m for m in model.modules()
            if isinstance(m, (_BatchNorm, nn.GroupNorm))]


def num_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_invalid_arguments():
    with pytest.raises(ValueError, match=r'depth must be one of .*got 42'):
        ResNetDLA(depth=42)
    with pytest.raises(ValueError, match='9n \\+ 2'):
        ResNetDLACifar(depth=57)
    with pytest.raises(ValueError, match="block must be 'bottleneck'"):
        ResNetDLACifar(depth=20, block='wide')
    with pytest.raises(ValueError, match='ResNet-50 has Bottleneck'):
        ResNetDLA(depth=50, block='basic')
    with pytest.raises(ValueError, match='variant'):
        ResNetDLA(depth=18, variant='large')
    with pytest.raises(ValueError, match='context_cell'):
        ResNetDLA(depth=18, context_cell='transformer')
    with pytest.raises(ValueError, match='out_indices'):
        ResNetDLA(depth=18, out_indices=(4, ))
    with pytest.raises(ValueError, match='head_dim'):
        ResNetDLA(depth=18, head_dim=48)
    with pytest.raises(ValueError, match='reduction'):
        ResNetDLA(depth=18, dsu_reduction=128)
    with pytest.raises(ValueError, match='DLAHeavyStep.*DLABaseStep'):
        ResNetDLA(depth=18, layer_attention='DLAHeavyStep')
    for rate in (-0.1, 1.0):
        with pytest.raises(ValueError, match=r'drop_path_rate .*\[0, 1\)'):
            ResNetDLA(depth=18, drop_path_rate=rate)
    with pytest.raises(ValueError, match=r'out_indices .*\(3, \)'):
        ResNetDLA(depth=18, out_indices=3)
    with pytest.raises(ValueError, match='num_groups'):
        ResNetDLA(depth=18, norm_cfg=dict(type='GN'))


def test_depth_given_as_a_string_is_named():
    with pytest.raises(TypeError) as error:
        ResNetDLA(depth='50')
    assert str(error.value) == "depth must be an int, got the str '50'."
    with pytest.raises(TypeError, match="got the str '56'"):
        ResNetDLACifar(depth='56')


@pytest.mark.parametrize('depth,channels', [
    (18, (64, 128, 256, 512)),
    (34, (64, 128, 256, 512)),
    (50, (256, 512, 1024, 2048)),
    (101, (256, 512, 1024, 2048)),
    (152, (256, 512, 1024, 2048)),
])
def test_out_indices_shapes(depth, channels):
    model = ResNetDLA(depth=depth, out_indices=(0, 1, 2, 3)).eval()
    with torch.no_grad():
        outs = model(torch.rand(1, 3, 64, 64))
    assert [tuple(o.shape) for o in outs] == [
        (1, c, 16 // 2**i, 16 // 2**i) for i, c in enumerate(channels)
    ]
    model = ResNetDLA(depth=depth, out_indices=(1, 3)).eval()
    with torch.no_grad():
        outs = model(torch.rand(1, 3, 64, 64))
    assert [o.shape[1] for o in outs] == [channels[1], channels[3]]


def test_get_arch_is_a_classmethod_of_both():
    assert ResNetDLA.get_arch(50) == (Bottleneck, (3, 4, 6, 3))
    assert ResNetDLA.get_arch(18, 'basic') == (BasicBlock, (2, 2, 2, 2))
    assert ResNetDLACifar.get_arch(56) == (Bottleneck, (6, 6, 6))
    assert ResNetDLACifar.get_arch(56, 'basic') == (BasicBlock, (9, 9, 9))


def test_cifar_variant():
    model = ResNetDLACifar(depth=20, block='basic', out_indices=(0, 1, 2))
    outs = model(torch.rand(2, 3, 32, 32))
    assert [tuple(o.shape) for o in outs] == [(2, 16, 32, 32), (2, 32, 16, 16),
                                              (2, 64, 8, 8)]
    model = ResNetDLACifar(depth=29)
    assert model.stage_blocks == (3, 3, 3)
    cell = model.layer1.layer_attention.context_cell
    assert cell.input_transform[0].out_features == 16
    assert tuple(model(torch.rand(1, 3, 32, 32))[0].shape) == (1, 256, 8, 8)


def test_parameter_counts_match_reference():
    fc = 2048 * 1000 + 1000
    assert num_params(ResNetDLA(depth=50)) + fc == 28_581_812
    assert num_params(ResNetDLA(depth=101)) + fc == 47_783_006
    cifar_fc = 256 * 100 + 100
    assert num_params(ResNetDLACifar(depth=56)) + cifar_fc == 825_840
    assert num_params(ResNetDLACifar(depth=56,
                                     variant='base')) + cifar_fc == 819_120


@pytest.mark.parametrize('variant', ['light', 'base'])
def test_batch_invariance(variant):
    torch.manual_seed(0)
    model = ResNetDLACifar(depth=20, variant=variant).eval()
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        batched = model(x)[0]
        single = torch.cat([model(x[i:i + 1])[0] for i in range(3)])
    torch.testing.assert_close(batched, single, rtol=1e-4, atol=1e-5)
    legacy = ResNetDLACifar(
        depth=20, variant=variant, legacy_batch0_context=True).eval()
    legacy.load_state_dict(model.state_dict())
    with torch.no_grad():
        coupled = legacy(x)[0]
        coupled_single = legacy(x[1:2])[0]
    # Sample 0 drives the update path of the whole batch in legacy mode.
    torch.testing.assert_close(coupled[:1], batched[:1], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(coupled_single, batched[1:2], rtol=1e-4,
                               atol=1e-5)
    assert not torch.allclose(coupled[1:], batched[1:], rtol=1e-4, atol=1e-5)


def test_frozen_stages():
    frozen_stages = 2
    model = ResNetDLA(depth=18, frozen_stages=frozen_stages,
                      out_indices=(0, 1, 2, 3))
    model.init_weights()
    model.train()
    assert not model.norm1.training
    for param in list(model.conv1.parameters()) + list(
            model.norm1.parameters()):
        assert not param.requires_grad
    for i in range(1, 5):
        stage = getattr(model, f'layer{i}')
        frozen = i <= frozen_stages
        step = stage.layer_attention
        dla_modules = [step.attentions, step.norms, step.context_cell]
        for m in [stage, step] + dla_modules:
            assert m.training != frozen
            for param in m.parameters():
                assert param.requires_grad != frozen
        assert step.update_kernel.requires_grad != frozen
    model(torch.rand(2, 3, 64, 64))[-1].sum().backward()
    attention = model.layer1.layer_attention.attentions[0]
    assert attention.value_kernel.grad is None
    attention = model.layer3.layer_attention.attentions[0]
    assert attention.value_kernel.grad is not None


def test_norm_eval():
    model = ResNetDLA(depth=18, norm_eval=True)
    model.train()
    norms = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    assert norms and all(not m.training for m in norms)
    assert model.layer1.layer_attention.attentions.training


@pytest.mark.parametrize('norm_cfg,norm_type', [
    (dict(type='GN', num_groups=16, requires_grad=True), nn.GroupNorm),
    (dict(type='SyncBN', requires_grad=True), nn.SyncBatchNorm),
])
def test_norm_cfg_reaches_every_norm(norm_cfg, norm_type):
    model = ResNetDLA(depth=18, norm_cfg=norm_cfg)
    norms = all_norms(model)
    # stem + 2 per block + 3 downsamples + one attention norm per block
    assert len(norms) == 1 + 2 * 8 + 3 + 8
    assert all(isinstance(m, norm_type) for m in norms)
    if norm_type is nn.GroupNorm:
        out = model(torch.rand(2, 3, 32, 32))[0]
        assert out.shape == (2, 512, 1, 1)


@pytest.mark.parametrize('variant', ['light', 'base'])
def test_with_cp_same_outputs_and_gradients(variant):
    torch.manual_seed(0)
    plain = ResNetDLACifar(depth=20, variant=variant)
    plain.init_weights()
    checkpointed = ResNetDLACifar(depth=20, variant=variant, with_cp=True)
    checkpointed.load_state_dict(plain.state_dict())
    # Eval-mode norms keep the recomputation from updating the running
    # statistics twice; everything else is in training mode.
    for model in (plain, checkpointed):
        model.train()
        for m in model.modules():
            if isinstance(m, _BatchNorm):
                m.eval()
    x = torch.randn(2, 3, 32, 32, requires_grad=True)
    outs, grads = [], []
    for model in (plain, checkpointed):
        out = model(x)[0]
        out.square().mean().backward()
        outs.append(out)
        grads.append({n: p.grad.clone()
                      for n, p in model.named_parameters()})
    torch.testing.assert_close(outs[0], outs[1])
    assert grads[0].keys() == grads[1].keys()
    for name in grads[0]:
        torch.testing.assert_close(grads[0][name], grads[1][name],
                                   rtol=1e-4, atol=1e-6, msg=name)
    # The stage-shared context cell receives gradient through checkpoints.
    assert grads[1][
        'layer1.layer_attention.context_cell.hidden_transform.0.weight'].abs(
        ).sum() > 0


def test_every_parameter_gets_a_gradient():
    model = ResNetDLA(depth=18, zero_init_residual=False)
    model.init_weights()
    model(torch.rand(2, 3, 32, 32))[0].sum().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing


@pytest.mark.parametrize('zero_init', [True, False])
def test_zero_init_residual(zero_init):
    model = ResNetDLA(depth=50, zero_init_residual=zero_init)
    model.init_weights()
    last_norms = [getattr(model, f'layer{i}').blocks[j].last_norm
                  for i in range(1, 5)
                  for j in range(getattr(model, f'layer{i}').num_blocks)]
    for norm in last_norms:
        assert torch.all(norm.weight == 0) == zero_init
    # The attention norms start at one either way.
    assert torch.all(model.layer1.layer_attention.norms[0].weight == 1)


def test_drop_path():
    model = ResNetDLA(depth=18, drop_path_rate=0.5)
    assert model.layer1.layer_attention.drop_path.drop_prob == 0.5
    assert isinstance(
        ResNetDLA(depth=18).layer1.layer_attention.drop_path, nn.Identity)
    x = torch.rand(4, 3, 32, 32)
    model.train()
    torch.manual_seed(0)
    a = model(x)[0]
    torch.manual_seed(1)
    b = model(x)[0]
    assert not torch.allclose(a, b)
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(x)[0], model(x)[0])


def test_init_from_pretrained_with_prefix(tmp_path):
    source = ResNetDLA(depth=18)
    with torch.no_grad():
        for param in source.parameters():
            param.normal_()
    checkpoint = {
        'state_dict': {f'backbone.{k}': v
                       for k, v in source.state_dict().items()}
    }
    checkpoint['state_dict']['head.fc.weight'] = torch.zeros(10, 512)
    path = tmp_path / 'classifier.pth'
    torch.save(checkpoint, path)
    model = ResNetDLA(
        depth=18,
        init_cfg=dict(type='Pretrained', checkpoint=str(path),
                      prefix='backbone.'))
    model.init_weights()
    for key, value in source.state_dict().items():
        torch.testing.assert_close(model.state_dict()[key], value, msg=key)


def test_bf16_autocast_forward():
    model = ResNetDLA(depth=18, out_indices=(3, )).eval()
    x = torch.rand(2, 3, 64, 64)
    attention = model.layer2.layer_attention.attentions[0]
    with torch.no_grad():
        ref = model(x)[0]
        with torch.autocast('cpu', dtype=torch.bfloat16):
            out = model(x)[0]
            query, key = attention.query_key(torch.rand(2, 128))
    assert out.dtype == torch.bfloat16
    assert torch.isfinite(out.float()).all()
    assert query.dtype == key.dtype == torch.float32
    assert ((out.float() - ref).norm() / ref.norm()) < 0.1


@pytest.mark.parametrize('cell,cell_type', [('dsu', DynamicSharingUnit),
                                            ('lstm', LSTMContextCell),
                                            ('gru', GRUContextCell)])
def test_context_cells(cell, cell_type):
    model = ResNetDLA(depth=18, context_cell=cell)
    context_cell = model.layer3.layer_attention.context_cell
    assert isinstance(context_cell, cell_type)
    out = model(torch.rand(2, 3, 32, 32))[0]
    out.sum().backward()
    assert all(p.grad is not None for p in context_cell.parameters())
    custom = ResNetDLA(
        depth=18, context_cell=dict(type='DynamicSharingUnit', reduction=4))
    context_cell = custom.layer1.layer_attention.context_cell
    assert context_cell.input_transform[0].out_features == 16


def test_dsu_equations():
    torch.manual_seed(0)
    dsu = DynamicSharingUnit(64, reduction=4)
    x, h, c = torch.randn(3, 64), torch.rand(3, 64), torch.randn(3, 64)

    def bottleneck(seq, v):
        return F.linear(F.relu(F.linear(v, seq[0].weight, seq[0].bias)),
                        seq[2].weight, seq[2].bias)

    gates = bottleneck(dsu.input_transform, x) + bottleneck(
        dsu.hidden_transform, h)
    i, f, g = gates[:, :64], gates[:, 64:128], gates[:, 128:]
    c_ref = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    h_new, c_new = dsu(x, (h, c))
    torch.testing.assert_close(c_new, c_ref)
    torch.testing.assert_close(h_new, torch.sigmoid(c_ref))


def reference_mrla_light_stage(stage: DLAStage, x: torch.Tensor):
    """Static MRLA-light written out from the MRLA equations."""
    prev = None
    step = stage.layer_attention
    for block, attention, norm in zip(stage.blocks, step.attentions,
                                      step.norms):
        x, _ = block(x)
        n, c = x.shape[:2]
        heads = c // attention.head_dim
        y = x.mean((2, 3)).view(n, 1, c)
        k = attention.query_kernel.numel()
        q = F.conv1d(y, attention.query_kernel.view(1, 1, k), padding=k // 2)
        kk = F.conv1d(y, attention.key_kernel.view(1, 1, k), padding=k // 2)
        score = (q.view(n, heads, -1) * kk.view(n, heads, -1)).sum(-1)
        a = torch.sigmoid(score / math.sqrt(c / heads))
        v = F.conv2d(x, attention.value_kernel, padding=1, groups=c)
        o = (v.view(n, heads, -1) * a[..., None]).view_as(v)
        if prev is not None:
            o = o + attention.lambda_t * prev
        prev = o
        x = x + norm(o)
    return x


def reference_mrla_base_stage(stage: DLAStage, x: torch.Tensor):
    """Static MRLA-base written out from the MRLA equations."""
    keys, values = [], []
    step = stage.layer_attention
    for block, attention, norm in zip(stage.blocks, step.attentions,
                                      step.norms):
        x, _ = block(x)
        n, c, hh, ww = x.shape
        heads, d = c // attention.head_dim, attention.head_dim
        y = x.mean((2, 3)).view(n, 1, c)
        k = attention.query_kernel.numel()
        q = F.conv1d(
            y, attention.query_kernel.view(1, 1, k),
            padding=k // 2).view(n, heads, d)
        keys.append(
            F.conv1d(y, attention.key_kernel.view(1, 1, k),
                     padding=k // 2).view(n, heads, d))
        values.append(
            F.conv2d(x, attention.value_kernel, padding=1,
                     groups=c).view(n, heads, d, hh, ww))
        scores = torch.stack([(q * kj).sum(-1) for kj in keys], 0)
        weights = torch.softmax(scores / math.sqrt(d), dim=0)
        out = sum(w[..., None, None, None] * v
                  for w, v in zip(weights, values))
        x = x + torch.relu(norm(out.view(n, c, hh, ww)))
    return x


@pytest.mark.parametrize('variant,reference', [
    ('light', reference_mrla_light_stage),
    ('base', reference_mrla_base_stage),
])
def test_static_variant_equals_mrla(variant, reference):
    torch.manual_seed(0)
    model = ResNetDLACifar(depth=20, block='basic', variant=variant,
                           dual_path=False, out_indices=(0, 1, 2))
    model.init_weights()
    with torch.no_grad():
        for norm in all_norms(model):
            norm.weight.uniform_(0.5, 1.5)
            norm.bias.normal_()
    # float64, so that reassociated but equal arithmetic agrees tightly
    model.eval().double()
    assert not hasattr(model.layer1.layer_attention, 'context_cell')
    x = torch.randn(2, 3, 32, 32, dtype=torch.float64)
    with torch.no_grad():
        outs = model(x)
        expected = model.stem_forward(x)
        for stage, out in zip((model.layer1, model.layer2, model.layer3),
                              outs):
            expected = reference(stage, expected)
            torch.testing.assert_close(out, expected, rtol=1e-9, atol=1e-9)


def test_lambda_init():
    assert torch.all(MRLALight(64, lambda_init=0.5).lambda_t == 0.5)
    assert MRLALight(256).lambda_t.std() > 0.5
    with pytest.raises(ValueError, match='lambda_init'):
        MRLALight(64, lambda_init='uniform')


def test_loads_plain_resnet_weights():
    from mmpretrain.models import ResNet
    resnet = ResNet(depth=18)
    model = ResNetDLA(depth=18)
    result = model.load_state_dict(resnet.state_dict(), strict=False)
    assert not result.unexpected_keys
    assert result.missing_keys and all(
        k.split('.')[1] == 'layer_attention' for k in result.missing_keys)


@pytest.mark.parametrize('kwargs', [
    dict(variant='light'),
    dict(variant='base'),
    dict(variant='light', dual_path=False),
])
def test_compiles_without_graph_breaks(kwargs):
    model = ResNetDLACifar(depth=20, **kwargs)
    explanation = torch._dynamo.explain(model)(torch.rand(2, 3, 32, 32))
    assert explanation.graph_break_count == 0, explanation.break_reasons
    assert explanation.graph_count == 1


@pytest.mark.parametrize('memory_format',
                         [torch.contiguous_format, torch.channels_last])
def test_fused_update_equals_its_definition(memory_format):
    """DLA-L's folded computation equals ``V * a + lambda * r'``."""
    torch.manual_seed(0)
    step = DLALightStep(64, num_blocks=2)
    attention = step.attentions[1]
    x, shortcut = (
        torch.randn(2, 64, 6, 6).contiguous(memory_format=memory_format)
        for _ in range(2))
    gate = torch.rand(2, 64)
    pooled = x.mean((2, 3))
    updated = shortcut * gate[..., None, None] + F.conv2d(
        shortcut, step.update_kernel, padding=1, groups=64)
    values = F.conv2d(x, attention.value_kernel, padding=1, groups=64)
    expected = values * attention.head_gates(pooled)[..., None, None] + (
        attention.lambda_t * updated)
    torch.testing.assert_close(
        step.attend(1, x, pooled, shortcut, gate), expected)
    torch.testing.assert_close(attention(x, updated), expected)


@pytest.mark.parametrize('variant,dual_path,step', [
    ('light', True, 'DLALightStep'),
    ('base', True, 'DLABaseStep'),
    ('light', False, 'MRLALightStep'),
    ('base', False, 'MRLABaseStep'),
])
def test_layer_attention_by_name_equals_shorthand(variant, dual_path, step):
    torch.manual_seed(0)
    shorthand = ResNetDLACifar(
        depth=20, variant=variant, dual_path=dual_path).eval()
    named = ResNetDLACifar(depth=20, layer_attention=step).eval()
    for stage in (named.layer1, named.layer2, named.layer3):
        assert type(stage.layer_attention).__name__ == step
    named.load_state_dict(shorthand.state_dict(), strict=True)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(named(x), shorthand(x))


def test_backbone_options_reach_the_step_and_cell():
    model = ResNetDLA(
        depth=18,
        layer_attention=dict(type='DLALightStep', lambda_init=0.25),
        lambda_init=0.5,  # the step's config takes precedence
        head_dim=16,
        dsu_reduction=8,
        drop_path_rate=0.1,
        norm_cfg=dict(type='GN', num_groups=4))
    step = model.layer2.layer_attention
    assert torch.all(step.attentions[0].lambda_t == 0.25)
    assert step.attentions[0].head_dim == 16
    assert step.context_cell.input_transform[0].out_features == 128 // 8
    assert step.drop_path.drop_prob == 0.1
    assert isinstance(step.norms[0], nn.GroupNorm)
    # options left at their defaults are passed only to steps taking them
    base = ResNetDLA(depth=18, layer_attention='MRLABaseStep')
    assert not hasattr(base.layer1.layer_attention, 'context_cell')


@pytest.mark.parametrize('kwargs,message', [
    (dict(variant='base', fused=True), 'DLABaseStep does not take fused=True'),
    (dict(variant='base', dual_path=False, lambda_init=0.5,
          context_cell='gru'), "MRLABaseStep does not take context_cell='gru',"
     ' lambda_init=0.5'),
    (dict(variant='light', dual_path=False, dsu_reduction=4),
     'MRLALightStep does not take dsu_reduction=4'),
])
def test_an_option_the_step_does_not_take_is_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ResNetDLA(depth=18, **kwargs)


@pytest.mark.parametrize('context_cell,hidden', [
    (dict(type='DynamicSharingUnit'), 64 // 4),
    (dict(type='mmdla.DynamicSharingUnit', reduction=2), 64 // 2),
    ('dsu', 64 // 4),
])
def test_dsu_reduction_is_the_default_of_the_cell(context_cell, hidden):
    model = ResNetDLA(depth=18, dsu_reduction=4, context_cell=context_cell)
    cell = model.layer1.layer_attention.context_cell
    assert cell.input_transform[0].out_features == hidden


@pytest.mark.parametrize('kwargs', [
    dict(variant='light'),
    dict(variant='base'),
    dict(variant='light', dual_path=False),
    dict(variant='base', dual_path=False),
])
@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
def test_low_precision_model(kwargs, dtype):
    """``model.to(dtype)`` runs on the CPU, as a plain ResNet does, and
    stays close to the float32 model."""
    torch.manual_seed(0)
    model = ResNetDLACifar(depth=20, block='basic', **kwargs)
    model.init_weights()
    model.eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        ref = model(x)[0]
        out = model.to(dtype)(x.to(dtype))[0]
    assert out.dtype == dtype
    assert ((out.float() - ref).norm() / ref.norm()) < 0.05
    model.train()
    model(x.to(dtype))[0].float().square().mean().backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(grad.dtype == dtype for grad in grads)
