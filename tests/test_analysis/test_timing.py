"""mmdla.analysis.timing: mean seconds per call (on a fake clock)."""
import pytest
import torch

from mmdla.analysis import time_per_call, timing


def test_time_per_call_times_only_the_calls_after_warmup(monkeypatch):
    clock = [0.0]
    monkeypatch.setattr(timing.time, 'perf_counter', lambda: clock[0])
    calls = []

    def step():  # the n-th call takes n seconds of the fake clock
        calls.append(1)
        clock[0] += len(calls)

    seconds = time_per_call(
        step, iters=3, warmup=2, device=torch.device('cpu'))
    assert len(calls) == 5
    assert seconds == pytest.approx((3 + 4 + 5) / 3)
    with pytest.raises(ValueError, match='iters'):
        time_per_call(lambda: None, 0, 0, torch.device('cpu'))
