"""A DLA-L stage through the fused step (its kernels in Triton's
interpreter) against the same stage in PyTorch: outputs, every gradient and
the norms' running statistics, with the blocks' residual add and ReLU fused
into the step."""
import copy

import pytest
import torch

from mmdla.models import ResNetDLACifar


@pytest.mark.parametrize('training,channels_last', [(True, False),
                                                    (False, True)])
def test_fused_stage_matches_pytorch(interpreted_kernels, training,
                                     channels_last):
    torch.manual_seed(0)
    # layer2: 16 -> 32 channels, stride 2 (a projection shortcut), 3 blocks
    stage = ResNetDLACifar(
        depth=20, block='basic', drop_path_rate=0.5).layer2.train(training)
    stage.layer_attention.fused = False
    fused = copy.deepcopy(stage)
    fused.layer_attention.fused = True
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    x = torch.randn(2, 16, 9, 7).to(memory_format=fmt).requires_grad_()
    grad = torch.randn(2, 32, 5, 4)

    outputs, grads = [], []
    for model in (stage, fused):
        torch.manual_seed(1)  # the same DropPath draws
        out = model(x)
        outputs.append(out)
        grads.append(torch.autograd.grad(out, [x, *model.parameters()], grad))
    assert outputs[1].is_contiguous(memory_format=fmt)
    assert_same_results(stage, outputs, grads, fused, 1e-4)


def assert_same_results(stage, outputs, grads, other, tol) -> None:
    """``outputs`` and ``grads`` (of the input and every parameter) of
    ``stage`` and of ``other`` agree, and so do their buffers."""
    torch.testing.assert_close(outputs[1], outputs[0], rtol=tol, atol=tol)
    names = ['x'] + [name for name, _ in stage.named_parameters()]
    for name, got, want in zip(names, grads[1], grads[0]):
        torch.testing.assert_close(
            got, want, rtol=1e-4, atol=1e-4 * want.abs().max().item(),
            msg=name)
    for (name, want), got in zip(stage.named_buffers(), other.buffers()):
        torch.testing.assert_close(got, want, msg=name)


def test_compiled_fused_stage_matches_eager(interpreted_kernels):
    """Under ``torch.compile`` ``fused=True`` takes the traceable form of
    the fused step (the custom ops in one graph, no breaks): outputs,
    gradients and running statistics as in eager mode."""
    torch.manual_seed(0)
    stage = ResNetDLACifar(depth=20, block='basic').layer2.train()
    stage.layer_attention.fused = True
    compiled = copy.deepcopy(stage)
    x = torch.randn(2, 16, 9, 7).requires_grad_()
    grad = torch.randn(2, 32, 5, 4)
    explanation = torch._dynamo.explain(copy.deepcopy(stage))(x)
    assert explanation.graph_break_count == 0, explanation.break_reasons
    ops = {str(node.target) for node in explanation.graphs[0].graph.nodes}
    assert {
        'mmdla.dla_spatial_means.default', 'mmdla.dla_norm_epilogue.default',
        'mmdla.dsu_combine.default', 'mmdla.dla_gate_kernels.default'
    } <= ops
    # AOTAutograd traces the backward of the custom ops too
    fn = torch.compile(compiled, backend='aot_eager', fullgraph=True)
    outputs, grads = [], []
    for model, run in ((stage, stage), (compiled, fn)):
        out = run(x)
        outputs.append(out)
        grads.append(torch.autograd.grad(out, [x, *model.parameters()], grad))
    assert_same_results(stage, outputs, grads, compiled, 1e-5)


def test_compiled_model_with_auto_keeps_the_pytorch_path():
    """Under ``torch.compile`` ``fused='auto'`` takes the PyTorch path (no
    custom op in the graph): one graph, no breaks."""
    model = ResNetDLACifar(depth=20, block='basic')
    explanation = torch._dynamo.explain(model)(torch.rand(2, 3, 16, 16))
    assert explanation.graph_break_count == 0, explanation.break_reasons
    assert explanation.graph_count == 1
    ops = {
        str(node.target)
        for graph in explanation.graphs for node in graph.graph.nodes
    }
    assert not any(op.startswith('mmdla.') for op in ops)


def test_fused_option_is_checked():
    with pytest.raises(ValueError, match='fused must be one of'):
        ResNetDLACifar(depth=20, block='basic', fused='always')
