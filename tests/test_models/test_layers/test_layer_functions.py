"""The building blocks of the DLA stage against their definitions."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from mmdla.models import (DynamicSharingUnit, GRUContextCell, LSTMContextCell,
                          MRLALight)
from mmdla.models.layers.layer_attention import (gated_depthwise_conv,
                                                 global_avg_pool)


def grads(outputs: torch.Tensor, inputs, grad_output: torch.Tensor):
    return torch.autograd.grad(outputs, inputs, grad_output)


@pytest.mark.parametrize('memory_format',
                         [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize('batch_scale', [True, False])
@pytest.mark.parametrize('with_center', [True, False])
def test_gated_depthwise_conv(memory_format, batch_scale, with_center):
    """Both implementations (per-sample kernels for NCHW on the CPU, gates
    after a shared convolution otherwise) equal the definition, values and
    gradients."""
    torch.manual_seed(0)
    n, c = 3, 16
    x = torch.randn(n, c, 7, 5).contiguous(
        memory_format=memory_format).requires_grad_()
    weight = torch.randn(c, 1, 3, 3, requires_grad=True)
    scale = torch.randn(1 if batch_scale else n, c, requires_grad=True)
    center = torch.randn(n, c, requires_grad=True) if with_center else None
    inputs = [t for t in (x, weight, scale, center) if t is not None]

    out = gated_depthwise_conv(x, weight, scale, center)
    expected = F.conv2d(x, weight, padding=1, groups=c) * scale[..., None,
                                                                 None]
    if with_center:
        expected = expected + x * center[..., None, None]
    grad_output = torch.randn_like(expected)
    torch.testing.assert_close(out, expected)
    for got, want in zip(
            grads(out, inputs, grad_output),
            grads(expected, inputs, grad_output)):
        torch.testing.assert_close(got, want)


def test_gated_depthwise_conv_bf16():
    x = torch.randn(2, 8, 5, 5)
    weight, scale = torch.randn(8, 1, 3, 3), torch.rand(2, 8)
    out = gated_depthwise_conv(x.bfloat16(), weight, scale)
    assert out.dtype == torch.bfloat16
    expected = gated_depthwise_conv(x, weight, scale)
    assert (out.float() - expected).norm() / expected.norm() < 2e-2


@pytest.mark.parametrize('dtype', [torch.float32, torch.bfloat16])
def test_global_avg_pool(dtype):
    x = torch.randn(2, 3, 4, 5, 6).to(dtype).requires_grad_()
    out = global_avg_pool(x)
    expected = x.float().mean((-2, -1))
    assert out.dtype == torch.float32 and out.shape == (2, 3, 4)
    torch.testing.assert_close(out, expected)
    grad_output = torch.randn_like(expected)
    got, = grads(out, [x], grad_output)
    want, = grads(expected, [x], grad_output)
    assert got.dtype == dtype
    torch.testing.assert_close(got, want)


def test_query_key_equal_the_1d_convolutions():
    torch.manual_seed(0)
    attention = MRLALight(256, head_dim=32)
    pooled = torch.randn(4, 256)
    q, k = attention.query_key(pooled)
    assert attention.query_kernel.shape == attention.key_kernel.shape == (5, )
    y = pooled.unsqueeze(1)
    for got, kernel in ((q, attention.query_kernel),
                        (k, attention.key_kernel)):
        expected = F.conv1d(y, kernel.view(1, 1, 5), padding=2)
        torch.testing.assert_close(got, expected.view(4, 8, 32))


@pytest.mark.parametrize('cell_type', [LSTMContextCell, GRUContextCell])
def test_ablation_cells_equal_torch_cells(cell_type):
    """The split projections reproduce :class:`nn.LSTMCell` and
    :class:`nn.GRUCell` with the same parameters."""
    torch.manual_seed(0)
    cell = cell_type(32)
    reference = (nn.LSTMCell if cell_type is LSTMContextCell else
                 nn.GRUCell)(32, 32)
    reference.load_state_dict(cell.state_dict(), strict=True)
    x, h = torch.randn(4, 32), torch.randn(4, 32)
    c = torch.randn(4, 32) if cell_type is LSTMContextCell else h
    h_new, c_new = cell(x, (h, c))
    if cell_type is LSTMContextCell:
        h_ref, c_ref = reference(x, (h, c))
    else:
        h_ref = c_ref = reference(x, h)
    torch.testing.assert_close(h_new, h_ref)
    torch.testing.assert_close(c_new, c_ref)


@pytest.mark.parametrize('cell_type',
                         [DynamicSharingUnit, LSTMContextCell, GRUContextCell])
def test_combine_broadcasts_over_items(cell_type):
    """Gating ``T`` items against one state per sample, as the update path
    does, equals stepping every item on its own."""
    torch.manual_seed(0)
    cell = cell_type(32)
    items, h, c = torch.randn(3, 5, 32), torch.randn(3, 32), torch.randn(3, 32)
    batched = cell.combine(
        cell.project_input(items),
        cell.project_hidden(h).unsqueeze(1), c.unsqueeze(1))[0]
    for t in range(5):
        torch.testing.assert_close(batched[:, t], cell(items[:, t], (h, c))[0])
