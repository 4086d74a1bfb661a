"""mmdla.analysis.memory: peak tensor memory of a step."""
import torch

from mmdla.analysis import peak_memory


def test_peak_memory_on_cpu_sees_live_tensors():
    mib = 2**20

    def step():
        first = torch.ones(mib // 4)  # 1 MiB of float32
        second = torch.ones(2 * mib // 4)  # 2 MiB, while the first lives
        return first.sum() + second.sum()

    peak = peak_memory(step, torch.device('cpu'), lambda: 5 * mib)
    assert 8 * mib <= peak < 16 * mib
