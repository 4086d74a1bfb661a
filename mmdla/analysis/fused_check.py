"""The fused DLA-L step checked on a device against a float64 reference.

Three copies of one DLA-L backbone run the same training step (forward, a
loss over every output, backward) on the same inputs: the fused step, the
PyTorch path, and the PyTorch path in float64 (the reference). Per tensor
(the outputs, every parameter's gradient, every running statistic) the
report gives each path's largest difference from the reference, relative
to the reference's largest magnitude: the fused step is as accurate as the
PyTorch path when its errors are of the same size (comparing the two paths
with each other alone says little where a small batch makes the norms'
gradients ill-conditioned). It also says whether two identical fused steps
agree bit for bit.
"""
import copy
from typing import Dict, List, Tuple

import torch
import torch.nn as nn

from mmdla.models import ResNetDLA
from .amp import amp_autocast


def _training_step(model: nn.Module, x: torch.Tensor,
                   amp: bool) -> List[torch.Tensor]:
    """Outputs, parameter gradients and buffers after one step of
    ``model`` on ``x``. The loss weighs every output element by a seeded
    random factor (a plain mean would give a constant output gradient,
    which a batch norm turns into zero gradients before it)."""
    model.zero_grad(set_to_none=True)
    with amp_autocast(x.device, amp):
        outputs = model(x)
    gen = torch.Generator(device='cpu').manual_seed(1)
    loss = sum((out.double() * torch.randn(
        out.shape, generator=gen, dtype=torch.float64).to(out.device)).mean()
               for out in outputs)
    loss.backward()
    grads = [
        p.grad if p.grad is not None else torch.zeros_like(p)
        for p in model.parameters()
    ]
    return [o.detach() for o in outputs] + grads + [
        b.detach().clone() for b in model.buffers()
    ]


def _names(model: nn.Module, num_outputs: int) -> List[str]:
    return ([f'output {i}' for i in range(num_outputs)] +
            [f'grad {name}' for name, _ in model.named_parameters()] +
            [name for name, _ in model.named_buffers()])


def _relative_errors(results: List[torch.Tensor],
                     reference: List[torch.Tensor]) -> List[float]:
    errors = []
    for got, want in zip(results, reference):
        if not want.is_floating_point():  # num_batches_tracked
            errors.append(float((got != want).any()))
            continue
        span = want.abs().max().clamp_min(1e-30)
        errors.append(((got.double() - want).abs().max() / span).item())
    return errors


def check_fused_step(depth: int, batch_size: int, shape: Tuple[int, int],
                     device: torch.device, amp: bool = False,
                     channels_last: bool = True,
                     **backbone_kwargs) -> Dict[str, object]:
    """Run the check.

    Returns:
        dict: ``errors``: tensor name -> ``(fused step error, PyTorch path
        error)`` against the float64 reference; ``deterministic``: whether
        two identical fused steps gave bitwise-equal results.
    """
    torch.manual_seed(0)
    pytorch_path = ResNetDLA(depth, fused=False, **backbone_kwargs).train()
    fused = copy.deepcopy(pytorch_path)
    for module in fused.modules():
        if hasattr(module, 'fused'):
            module.fused = True
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    models = [
        m.to(device, memory_format=fmt) for m in (
            copy.deepcopy(pytorch_path).double(), pytorch_path, fused,
            copy.deepcopy(fused))
    ]
    x = torch.randn(batch_size, 3, *shape).to(device, memory_format=fmt)
    reference = _training_step(models[0], x.double(), False)
    want, got, again = (_training_step(m, x, amp) for m in models[1:])
    names = _names(pytorch_path, len(pytorch_path.out_indices))
    errors = dict(
        zip(names,
            zip(_relative_errors(got, reference),
                _relative_errors(want, reference))))
    deterministic = all(torch.equal(a, b) for a, b in zip(got, again))
    return dict(errors=errors, deterministic=deterministic)
