"""The fused DLA-L step against the same step in plain PyTorch, with the
Triton kernels in Triton's interpreter (fixture ``interpreted_kernels``)."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from mmdla.ops import (FUSED, PYTORCH, check_fused_mode, dla_light_plan,
                       fused_light_step, fused_step_supported, plan_fused_step)


class TinyGates(nn.Module):
    """A context-cell-like ``kernels_fn``: gates from both means and a
    state, folded into the two 3x3 kernels as DLA-L folds them."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.value = nn.Parameter(torch.randn(channels, 1, 3, 3))
        self.update = nn.Parameter(torch.randn(channels, 1, 3, 3))
        self.lam = nn.Parameter(torch.randn(channels))
        self.linear = nn.Linear(channels, 2 * channels)

    def forward(self, pooled, state):
        c = self.lam.numel()
        pooled_x, pooled_r = pooled.unbind(1)
        a, d = torch.sigmoid(self.linear(pooled_x + pooled_r * state)).chunk(
            2, dim=-1)
        kx = self.value.view(1, c, 3, 3) * a[..., None, None]
        centre = F.pad((self.lam * d)[..., None, None], (1, 1, 1, 1))
        kr = self.update.view(1, c, 3, 3) * self.lam.view(1, c, 1, 1) + centre
        return kx, kr, d * state


def reference_step(x,
                   r,
                   gates,
                   state,
                   norm,
                   scale,
                   pre_activation=False,
                   dtype=torch.float32):
    """The step in fp32 PyTorch: means, gates, a grouped convolution with
    the per-sample kernels, BatchNorm2d, DropPath scale, residual. With
    ``pre_activation``, ``x`` is the residual branch and the block output
    is ``relu(x + r)``, stored by the block in ``dtype``."""
    n, c, h, w = x.shape
    if pre_activation:
        x = torch.relu(x + r).to(dtype)
    x, r = x.float(), r.float()
    kx, kr, new_state = gates(
        torch.stack((x.mean((2, 3)), r.mean((2, 3))), 1), state)

    def conv(t, k):
        return F.conv2d(
            t.reshape(1, n * c, h, w),
            k.expand(n, c, 3, 3).reshape(n * c, 1, 3, 3),
            padding=1,
            groups=n * c).view(n, c, h, w)

    out = norm(conv(x, kx) + conv(r, kr))
    return x + scale.view(n, 1, 1, 1) * out, new_state


def make_norm(channels: int, training: bool) -> nn.BatchNorm2d:
    norm = nn.BatchNorm2d(channels)
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5)
        norm.bias.normal_()
        norm.running_mean.normal_()
        norm.running_var.uniform_(0.5, 2.0)
    return norm.train(training)


CASES = [
    # n, c, h, w, dtype, channels_last, training, drop_path, pre_activation
    (2, 5, 5, 7, torch.float32, False, True, True, False),
    (1, 3, 3, 5, torch.float32, True, True, False, True),
    (2, 5, 7, 5, torch.float32, False, False, True, True),
    (2, 37, 9, 9, torch.bfloat16, True, True, True, True),
    (2, 6, 5, 3, torch.bfloat16, False, False, False, False),
    (1, 4, 3, 3, torch.float16, True, False, True, False),
    # several tiles and channel blocks: NCHW tiles of 128 positions by 16
    # channels, channels_last tiles of 64 positions by up to 64 channels
    (2, 20, 12, 13, torch.float32, False, True, True, False),
    (3, 70, 9, 10, torch.float32, True, False, False, True),
]


@pytest.mark.parametrize(
    'n,c,h,w,dtype,channels_last,training,drop_path,pre_activation', CASES)
def test_fused_step_matches_pytorch(interpreted_kernels, n, c, h, w, dtype,
                                    channels_last, training, drop_path,
                                    pre_activation):
    torch.manual_seed(0)
    gates = TinyGates(c)
    state = torch.randn(n, c, requires_grad=True)
    norm = make_norm(c, training)
    ref_norm = make_norm(c, training)
    ref_norm.load_state_dict(norm.state_dict())
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    x = torch.randn(n, c, h, w).to(dtype, memory_format=fmt)
    r = torch.randn(n, c, h, w).to(dtype, memory_format=fmt)
    x.requires_grad_()
    r.requires_grad_()
    scale = (torch.tensor([2.0, 0.0])[:n] if drop_path else torch.ones(n))

    y, (new_state, ) = fused_light_step(x, r, gates, [state],
                                        gates.parameters(), norm, scale,
                                        pre_activation)
    leaves = [x, r, state, norm.weight, norm.bias, *gates.parameters()]
    grad_y = torch.randn(y.shape).to(dtype)
    grad_state = torch.randn(n, c)
    grads = torch.autograd.grad((y, new_state), leaves, (grad_y, grad_state))

    ref_x = x.detach().float().requires_grad_()
    ref_r = r.detach().float().requires_grad_()
    ref_y, ref_state = reference_step(ref_x, ref_r, gates, state, ref_norm,
                                      scale, pre_activation, dtype)
    ref_leaves = [
        ref_x, ref_r, state, ref_norm.weight, ref_norm.bias,
        *gates.parameters()
    ]
    ref_grads = torch.autograd.grad((ref_y, ref_state), ref_leaves,
                                    (grad_y.float(), grad_state))

    assert y.dtype == dtype
    assert y.is_contiguous(memory_format=fmt)
    # fp32: exact up to summation order; half precision: one rounding of
    # the output (and of the stored output gradient) against none
    tol = 1e-5 if dtype == torch.float32 else 2e-2
    names = ['x', 'r', 'state', 'norm.weight', 'norm.bias'
             ] + [name for name, _ in gates.named_parameters()]
    for name, got, want in zip(['y', 'state'] + names, [y, new_state, *grads],
                               [ref_y, ref_state, *ref_grads]):
        span = want.abs().max().item()
        torch.testing.assert_close(
            got.float(), want, rtol=tol, atol=tol * span, msg=name)
    for grad in grads[:2]:
        assert grad.dtype == dtype
        assert grad.is_contiguous(memory_format=fmt)
    # (the interpreter does not round fp32 to bf16 to nearest as a GPU does:
    # statistics of a block output formed in the kernel differ by that)
    for got, want in ((norm.running_mean, ref_norm.running_mean),
                      (norm.running_var, ref_norm.running_var)):
        torch.testing.assert_close(
            got, want, rtol=tol, atol=tol * want.abs().max().item())
    assert norm.num_batches_tracked == ref_norm.num_batches_tracked


def test_fused_step_with_frozen_norm(interpreted_kernels):
    """``norm_eval`` with frozen affine parameters: the backward skips
    their sums and still gives every other gradient."""
    torch.manual_seed(1)
    gates = TinyGates(4)
    state = torch.zeros(2, 4)
    norm = make_norm(4, training=False).requires_grad_(False)
    x = torch.randn(2, 4, 5, 5, requires_grad=True)
    r = torch.randn(2, 4, 5, 5, requires_grad=True)
    y, _ = fused_light_step(x, r, gates, [state], gates.parameters(), norm)
    grads = torch.autograd.grad(y.sum(), [x, r, *gates.parameters()])

    ref_x = x.detach().requires_grad_()
    ref_r = r.detach().requires_grad_()
    ref_y, _ = reference_step(ref_x, ref_r, gates, state, norm, torch.ones(2))
    ref_grads = torch.autograd.grad(ref_y.sum(),
                                    [ref_x, ref_r, *gates.parameters()])
    torch.testing.assert_close(y, ref_y, rtol=1e-5, atol=1e-5)
    for got, want in zip(grads, ref_grads):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-4)


def test_fused_step_under_checkpoint(interpreted_kernels):
    """``with_cp``: non-reentrant checkpointing recomputes the step, tiny
    graph included, and gives the same gradients."""
    torch.manual_seed(3)
    gates = TinyGates(4)
    norm = make_norm(4, training=True)
    state = torch.randn(2, 4, requires_grad=True)
    x = torch.randn(2, 4, 5, 5, requires_grad=True)
    r = torch.randn(2, 4, 5, 5, requires_grad=True)
    leaves = [x, r, state, norm.weight, *gates.parameters()]

    def step(x, r, state):
        y, (new_state, ) = fused_light_step(
            x,
            r,
            gates, [state],
            gates.parameters(),
            norm,
            pre_activation=True)
        return y.square().sum() + new_state.sum()

    grads = torch.autograd.grad(step(x, r, state), leaves)
    loss = checkpoint(step, x, r, state, use_reentrant=False)
    for got, want in zip(torch.autograd.grad(loss, leaves), grads):
        torch.testing.assert_close(got, want)


def test_fused_step_on_meta_device():
    """Shape tracing (the GPU cost model) runs the ops' fake
    implementations, forward and backward, without Triton."""
    gates = TinyGates(8).to('meta')
    norm = nn.BatchNorm2d(8).to('meta')
    x = torch.empty(
        2, 8, 6, 6,
        device='meta').to(memory_format=torch.channels_last).requires_grad_()
    r = torch.empty_like(x).requires_grad_()
    state = torch.empty(2, 8, device='meta', requires_grad=True)
    y, (new_state, ) = fused_light_step(x, r, gates, [state],
                                        gates.parameters(), norm)
    assert y.shape == x.shape and y.device.type == 'meta'
    assert y.is_contiguous(memory_format=torch.channels_last)
    dx, dr, dstate, dvalue = torch.autograd.grad((y.sum() + new_state.sum()),
                                                 [x, r, state, gates.value])
    assert dx.shape == dr.shape == x.shape
    assert dstate.shape == state.shape
    assert dvalue.shape == gates.value.shape


def test_plan_rule(monkeypatch):
    x = torch.empty(2, 8, 4, 4)
    bn = nn.BatchNorm2d(8)
    meta = x.to('meta')

    def path(fused, t, norm=bn):
        return plan_fused_step(fused, t, t, norm).path

    # 'auto': the PyTorch path until a measurement shows the fused step
    # faster on a device; the meta device follows CUDA
    assert dla_light_plan.AUTO_FUSED_DEVICES == ()
    assert path('auto', x) == path('auto', meta) == PYTORCH
    assert 'AUTO_FUSED_DEVICES' in plan_fused_step('auto', x, x, bn).reason
    monkeypatch.setattr(dla_light_plan, 'AUTO_FUSED_DEVICES', ('cuda', ))
    assert path('auto', meta) == FUSED
    assert path('auto', x) == PYTORCH
    assert path(True, x) == FUSED
    assert path(False, meta) == PYTORCH
    # uncovered norms, dtypes and layouts take the PyTorch path
    for norm in (nn.SyncBatchNorm(8), nn.GroupNorm(2, 8)):
        assert not fused_step_supported(x, x, norm)
        plan = plan_fused_step(True, x, x, norm)
        assert plan.path == PYTORCH
        assert type(norm).__name__ in plan.reason
    assert not fused_step_supported(x.double(), x.double(), bn)
    assert not fused_step_supported(x, x.half(), bn)
    assert not fused_step_supported(x[..., ::2], x[..., ::2], bn)
    # the gates: fused unless the step says why not
    assert plan_fused_step(True, x, x, bn, lambda: '').fuse_gates
    plan = plan_fused_step(True, x, x, bn, lambda: 'a Recorder')
    assert not plan.fuse_gates and plan.gates_reason == 'a Recorder'
    assert plan.fuses_activation
    with pytest.raises(ValueError, match='fused must be one of'):
        check_fused_mode('yes')


def test_fused_step_rejects_uncovered_inputs():
    x = torch.zeros(1, 4, 3, 3)
    with pytest.raises(ValueError, match='PyTorch path'):
        fused_light_step(x, x, TinyGates(4), [], [], nn.GroupNorm(2, 4))


def test_epilogue_op_and_fake(interpreted_kernels):
    """The epilogue op alone against PyTorch, and its fake implementation
    against the kernels (shapes, strides, dtypes), as
    ``torch.library.opcheck`` checks them."""
    from mmdla.ops.dla_light_ops import epilogue
    torch.manual_seed(2)
    n, c, h, w = 2, 5, 4, 3
    x, r = (
        torch.randn(n, c, h, w).to(memory_format=torch.channels_last)
        for _ in range(2))
    kx, kr = torch.randn(n, 9, c), torch.randn(n, 9, c)  # tap-major
    alpha, beta, scale = torch.randn(c), torch.randn(c), torch.tensor(
        [0.5, 2.])
    inputs = (x, r, kx, kr, alpha, beta, scale, False)
    torch.library.opcheck(
        epilogue, inputs, test_utils=('test_schema', 'test_faketensor'))

    def conv(t, k):
        return F.conv2d(
            t.reshape(1, n * c, h, w),
            k.transpose(1, 2).reshape(n * c, 1, 3, 3),
            padding=1,
            groups=n * c).view(n, c, h, w)

    o = conv(x, kx) + conv(r, kr)
    want = x + scale.view(n, 1, 1, 1) * (
        o * alpha.view(c, 1, 1) + beta.view(c, 1, 1))
    torch.testing.assert_close(epilogue(*inputs), want)


def run_step(x, r, training=True, seed=3):
    """Outputs, gradients and running statistics of one fused step with
    seeded gates, state and norm."""
    torch.manual_seed(seed)
    n, c = x.shape[:2]
    gates = TinyGates(c)
    state = torch.randn(n, c, requires_grad=True)
    norm = make_norm(c, training)
    x, r = x.detach().requires_grad_(), r.detach().requires_grad_()
    y, (new_state, ) = fused_light_step(x, r, gates, [state],
                                        gates.parameters(), norm,
                                        torch.tensor([2.0, 0.0, 1.0])[:n])
    grads = torch.autograd.grad(
        (y, new_state),
        [x, r, state, norm.weight, norm.bias, *gates.parameters()],
        (torch.ones_like(y), torch.ones_like(new_state)))
    return [y, new_state, *grads, norm.running_mean, norm.running_var]


@pytest.mark.parametrize('training', [True, False])
def test_fused_step_is_deterministic(interpreted_kernels, training):
    """Two identical steps give bitwise-equal outputs, gradients and running
    statistics, also under ``torch.use_deterministic_algorithms``."""
    torch.manual_seed(0)
    x = torch.randn(3, 20, 12, 13).to(memory_format=torch.channels_last)
    r = torch.randn(3, 20, 12, 13).to(memory_format=torch.channels_last)
    first = run_step(x, r, training)
    torch.use_deterministic_algorithms(True)
    try:
        second = run_step(x, r, training)
    finally:
        torch.use_deterministic_algorithms(False)
    for got, want in zip(second, first):
        assert torch.equal(got, want)


def test_reductions_own_their_outputs(interpreted_kernels, monkeypatch):
    """The kernels reduce without atomics: each program stores its partial
    sums once and the consumers add them in a fixed order. Cutting the
    positions into other splits changes only the summation order."""
    import inspect

    from mmdla.ops import dla_light_kernels, dla_light_tiles
    assert 'tl.atomic_' not in inspect.getsource(dla_light_kernels)
    torch.manual_seed(0)
    x = torch.randn(2, 6, 17, 16)
    r = torch.randn(2, 6, 17, 16)
    configs = (dla_light_tiles.tile_config(x),
               dla_light_tiles.reduction_tile_config(x))
    # one tile a program: 272 positions in tiles of 64 and 32
    assert [dla_light_tiles.position_splits(x, cfg)
            for cfg in configs] == [(5, 1), (9, 1)]
    many_splits = run_step(x, r)
    monkeypatch.setattr(dla_light_tiles, 'TARGET_PROGRAMS', 1)
    assert [dla_light_tiles.position_splits(x, cfg)
            for cfg in configs] == [(1, 5), (1, 9)]
    one_split = run_step(x, r)
    for got, want in zip(one_split, many_splits):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
