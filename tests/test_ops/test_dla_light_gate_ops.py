"""The fused ops of the ``[N, C]`` part of the DLA-L step (DSU combine, gate
kernels) against their PyTorch definitions, with the Triton kernels in
Triton's interpreter: outputs and every gradient."""
import pytest
import torch

from mmdla.models import DLALightStep
from mmdla.models.layers.context_cells import DynamicSharingUnit
from mmdla.models.layers.layer_attention import MRLALight, fold_gates
from mmdla.models.layers.recorder import Recorder
from mmdla.ops import dsu_combine, gate_kernels


def assert_all_close(got, want, tol=1e-5):
    for g, w in zip(got, want):
        torch.testing.assert_close(
            g, w, rtol=tol, atol=tol * max(w.abs().max().item(), 1.0))


@pytest.mark.parametrize('row', [0, 1])
@pytest.mark.parametrize('unused', [None, 'h', 'c'])
def test_dsu_combine_matches_the_cell(interpreted_kernels, row, unused):
    torch.manual_seed(row)
    n, c = 3, 300  # two channel blocks
    cell = DynamicSharingUnit(c, reduction=4)
    x_proj = torch.randn(n, 2, 3 * c, requires_grad=True)
    h_proj = torch.randn(n, 3 * c, requires_grad=True)
    state = torch.randn(n, c, requires_grad=True)
    inputs = (x_proj, h_proj, state)
    got = dsu_combine(x_proj, row, h_proj, state)
    want = cell.combine(x_proj[:, row], h_proj, state)
    assert_all_close(got, want)
    keep = [i for i, name in enumerate('hc') if name != unused]
    grads = [torch.randn(n, c) for _ in keep]
    assert_all_close(
        torch.autograd.grad([got[i] for i in keep], inputs, grads),
        torch.autograd.grad([want[i] for i in keep], inputs, grads))


def gates_by_definition(attention, update_kernel, pooled, gate):
    """``kx``, ``kr`` tap-major ``[N, 9, C]`` from :meth:`MRLALight.gates`
    and :func:`fold_gates`."""
    n, c = gate.shape
    gates = attention.gates(pooled[:, 0], gate)
    kx = fold_gates(attention.value_kernel, gates.value)
    kr = fold_gates(update_kernel, gates.update, gates.center)
    return tuple(
        k.reshape(-1, c, 9).transpose(1, 2).expand(n, 9, c) for k in (kx, kr))


@pytest.mark.parametrize('c,head_dim', [(64, 16), (32, 32), (512, 32)])
def test_gate_kernels_match_their_definition(interpreted_kernels, c, head_dim):
    torch.manual_seed(c)
    n = 3
    attention = MRLALight(c, head_dim)
    update_kernel = torch.nn.Parameter(torch.randn(c, 1, 3, 3))
    pooled = torch.randn(n, 2, c, requires_grad=True)
    gate = torch.rand(n, c, requires_grad=True)
    params = (attention.query_kernel, attention.key_kernel,
              attention.value_kernel, update_kernel, attention.lambda_t)
    kx, kr, a = gate_kernels(pooled, gate, attention.query_kernel,
                             attention.key_kernel, attention.value_kernel,
                             update_kernel, attention.lambda_t, head_dim)
    want = gates_by_definition(attention, update_kernel, pooled, gate)
    assert_all_close((kx, kr), want)
    torch.testing.assert_close(a, attention.head_gates(pooled[:, 0]))
    grads = (torch.randn(n, 9, c), torch.randn(n, 9, c))
    inputs = (pooled, gate, *params)
    assert_all_close(
        torch.autograd.grad((kx, kr), inputs, grads),
        torch.autograd.grad(want, inputs, grads))


def test_gate_ops_fake_implementations(interpreted_kernels):
    """The fake implementations give the kernels' shapes, strides and
    dtypes, as ``torch.library.opcheck`` checks them."""
    torch.manual_seed(0)
    n, c = 2, 64
    attention = MRLALight(c, 16)
    update = torch.randn(c, 1, 3, 3)
    torch.library.opcheck(
        gate_kernels, (torch.randn(n, 2, c), torch.rand(
            n, c), attention.query_kernel, attention.key_kernel,
                       attention.value_kernel, update, attention.lambda_t, 16),
        test_utils=('test_schema', 'test_faketensor'))
    torch.library.opcheck(
        dsu_combine, (torch.randn(n, 2, 3 * c), 1, torch.randn(
            n, 3 * c), torch.randn(n, c)),
        test_utils=('test_schema', 'test_faketensor'))


def test_when_the_gates_are_fused():
    """The fused ``[N, C]`` part needs the DSU, per-sample context, fp32
    parameters and heads of a power-of-2 size; a recorder, which collects
    the gates, takes the PyTorch part."""
    assert DLALightStep(64, 2).gates_unfused(0) == ''
    assert 'fused_combine' in DLALightStep(
        64, 2, context_cell='lstm').gates_unfused(0)
    assert DLALightStep(
        64, 2, legacy_batch0_context=True).gates_unfused(0) == (
            'legacy_batch0_context=True')
    assert 'power of 2' in DLALightStep(48, 2, head_dim=24).gates_unfused(0)
    assert 'float16' in DLALightStep(64, 2).half().gates_unfused(0)
    with Recorder():
        assert 'Recorder' in DLALightStep(64, 2).gates_unfused(0)
