"""The fused DLA-L step, bit for bit: its outputs, every gradient and the
norms' running statistics after one step, pinned as SHA-256 digests.

The digests in ``tests/data/golden/fused_step.json`` were written by this
module run as a script (``TRITON_INTERPRET=1 python
tests/test_ops/test_fused_step_golden.py``) before the fused step's code
was reorganised; a change that is meant to keep the step's behaviour keeps
every digest. The tests of :mod:`test_dla_light_step` and
:mod:`test_fused_dla_stage` check the same step against PyTorch within a
tolerance; these check that nothing moved at all.

Covered, with the kernels in Triton's interpreter: a DLA-L stage in eager
mode (block output formed in the step) with the gates in fused kernels and
in PyTorch, in fp32 and under bf16 autocast, NCHW and channels_last, with
training and eval norms; the step alone without the block output; and the
stage compiled (``aot_eager``), which takes the step's traceable form.
"""
import hashlib
import json
import os
from pathlib import Path
from typing import Dict, List

import pytest
import torch

from mmdla.models import ResNetDLACifar

GOLDEN = Path(__file__).parents[1] / 'data' / 'golden' / 'fused_step.json'

# name: (dtype, channels_last, training, gates in fused kernels, compiled)
CASES = {
    'fp32-nchw-train': (torch.float32, False, True, True, False),
    'fp32-nchw-eval': (torch.float32, False, False, True, False),
    'fp32-cl-train': (torch.float32, True, True, True, False),
    'fp32-cl-eval': (torch.float32, True, False, True, False),
    'bf16-nchw-train': (torch.bfloat16, False, True, True, False),
    'bf16-nchw-eval': (torch.bfloat16, False, False, True, False),
    'bf16-cl-train': (torch.bfloat16, True, True, True, False),
    'bf16-cl-eval': (torch.bfloat16, True, False, True, False),
    'fp32-cl-train-torch-gates': (torch.float32, True, True, False, False),
    'bf16-nchw-eval-torch-gates': (torch.bfloat16, False, False, False,
                                   False),
    'compiled-fp32-nchw-train': (torch.float32, False, True, True, True),
    'compiled-fp32-cl-eval': (torch.float32, True, False, True, True),
}
# name: (dtype, channels_last, training)
STEP_CASES = {
    'step-fp32-cl-train': (torch.float32, True, True),
    'step-bf16-nchw-eval': (torch.bfloat16, False, False),
}


def digest(t: torch.Tensor) -> str:
    """``dtype shape sha256`` of the tensor's values."""
    t = t.detach().contiguous()
    data = t.reshape(-1).view(torch.uint8)
    return (f'{str(t.dtype)[6:]} {list(t.shape)} '
            f'{hashlib.sha256(data.numpy().tobytes()).hexdigest()}')


def scrambled(stage: torch.nn.Module) -> torch.nn.Module:
    """``stage`` with every norm's affine map and running statistics drawn
    away from their defaults, so that each one shows in the results."""
    with torch.no_grad():
        for module in stage.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5)
                module.bias.normal_()
                module.running_mean.normal_()
                module.running_var.uniform_(0.5, 2.0)
    return stage


def stage_results(dtype: torch.dtype, channels_last: bool, training: bool,
                  fused_gates: bool, compiled: bool) -> Dict[str, str]:
    """Digests of one forward and backward of a DLA-L stage (layer2 of a
    CIFAR ResNet-20: 16 -> 32 channels, stride 2, 3 blocks, DropPath)."""
    torch.manual_seed(0)
    stage = ResNetDLACifar(
        depth=20,
        block='basic',
        drop_path_rate=0.5,
        fused=True,
        legacy_batch0_context=not fused_gates).layer2
    stage = scrambled(stage).train(training)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    x = torch.randn(2, 16, 9, 7).to(memory_format=fmt).requires_grad_()
    grad = torch.randn(2, 32, 5, 4).to(dtype)
    run = (torch.compile(stage, backend='aot_eager', fullgraph=True)
           if compiled else stage)
    torch.manual_seed(1)  # the DropPath draws
    with torch.autocast('cpu', torch.bfloat16,
                        enabled=dtype is torch.bfloat16):
        out = run(x)
    assert out.dtype == dtype
    names, params = zip(*stage.named_parameters())
    grads = torch.autograd.grad(out, [x, *params], grad)
    results = {'out': digest(out), 'grad x': digest(grads[0])}
    results.update(
        (f'grad {name}', digest(g)) for name, g in zip(names, grads[1:]))
    results.update(
        (name, digest(b)) for name, b in stage.named_buffers())
    return results


def step_results(dtype: torch.dtype, channels_last: bool,
                 training: bool) -> Dict[str, str]:
    """Digests of :func:`mmdla.ops.fused_light_step` called alone: ``x`` is
    the block output (not formed in the step), the kernels come from a
    ``kernels_fn`` of plain PyTorch, with a context state and a DropPath
    scale."""
    from mmdla.ops import fused_light_step
    torch.manual_seed(0)
    n, c = 3, 20
    value, update = torch.randn(2, c, 1, 3, 3).unbind(0)
    linear = torch.nn.Linear(2 * c, c)
    params = [value.requires_grad_(), update.requires_grad_(),
              *linear.parameters()]

    def kernels_fn(pooled, state):
        gate = torch.sigmoid(linear(pooled.flatten(1)) + state)
        kx = value.view(1, c, 3, 3) * gate[..., None, None]
        return kx, update.view(1, c, 3, 3).expand(n, c, 3, 3), gate * state

    norm = scrambled(torch.nn.BatchNorm2d(c)).train(training)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    x, r = (torch.randn(n, c, 12, 13).to(dtype, memory_format=fmt)
            .requires_grad_() for _ in range(2))
    state = torch.randn(n, c, requires_grad=True)
    y, (new_state, ) = fused_light_step(x, r, kernels_fn, [state], params,
                                        norm, torch.tensor([2.0, 0.0, 2.0]))
    leaves = [x, r, state, norm.weight, norm.bias, *params]
    grads = torch.autograd.grad(
        (y, new_state), leaves,
        (torch.randn(y.shape).to(dtype), torch.randn(n, c)))
    names = ['x', 'r', 'state', 'norm.weight', 'norm.bias', 'value',
             'update', 'linear.weight', 'linear.bias']
    results = {'y': digest(y), 'state': digest(new_state)}
    results.update(
        (f'grad {name}', digest(g)) for name, g in zip(names, grads))
    results.update((name, digest(b)) for name, b in norm.named_buffers())
    return results


def all_results(names: List[str]) -> Dict[str, Dict[str, str]]:
    results = {}
    for name in names:
        if name in CASES:
            results[name] = stage_results(*CASES[name])
        else:
            results[name] = step_results(*STEP_CASES[name])
    return results


@pytest.mark.parametrize('name', [*CASES, *STEP_CASES])
def test_fused_step_is_bitwise_unchanged(interpreted_kernels, name):
    want = json.loads(GOLDEN.read_text())[name]
    got = all_results([name])[name]
    moved = [key for key in want if got.get(key) != want[key]]
    assert got.keys() == want.keys()
    assert not moved, f'{name}: changed bits in {moved}'


if __name__ == '__main__':
    assert os.environ.get('TRITON_INTERPRET') == '1', (
        'run with TRITON_INTERPRET=1: the digests are those of the '
        "kernels in Triton's interpreter")
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    GOLDEN.write_text(
        json.dumps(all_results([*CASES, *STEP_CASES]), indent=1) + '\n')
    print(f'wrote {GOLDEN}')
