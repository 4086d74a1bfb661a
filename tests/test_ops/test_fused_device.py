"""``fused=True`` on a device where the fused step's Triton kernels cannot
run is an error naming the option at the first forward pass, unless
``TRITON_INTERPRET=1`` runs them in Triton's interpreter."""
import pytest
import torch

from mmdla.models import ResNetDLACifar


def _models():
    """The same seeded DLA-L backbone with the fused step and without."""
    torch.manual_seed(0)
    fused = ResNetDLACifar(depth=20, fused=True).eval()
    torch.manual_seed(0)
    return fused, ResNetDLACifar(depth=20, fused=False).eval()


def test_fused_step_on_the_cpu_names_the_option(monkeypatch):
    monkeypatch.delenv('TRITON_INTERPRET', raising=False)
    fused, _ = _models()
    with pytest.raises(RuntimeError) as error:
        fused(torch.rand(1, 3, 8, 8))
    assert str(error.value) == (
        'fused=True (model.backbone.fused) runs the DLA-L step in Triton '
        'kernels, which need a CUDA GPU, but the input is on the cpu. Set '
        "fused='auto' (the fused step on the devices where it is measured "
        'faster, else the PyTorch path) or fused=False, e.g. --cfg-options '
        "model.backbone.fused=auto; to run the kernels on the CPU in Triton's "
        'interpreter (slow, for tests), set TRITON_INTERPRET=1.')


def test_fused_step_runs_on_the_cpu_in_the_interpreter(interpreted_kernels):
    fused, pytorch_path = _models()
    x = torch.rand(2, 3, 8, 8)
    with torch.no_grad():
        (got, ), (want, ) = fused(x), pytorch_path(x)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
