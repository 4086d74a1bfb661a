"""The recorder keeps what the layer attention reports, only while active,
and what it keeps is what the layer attention computed."""
import torch
import torch.nn.functional as F

from mmdla.models import DLABaseStep, DLALightStep
from mmdla.models.layers.recorder import Recorder, report


def _block_inputs(channels=64, batch=3, size=5, seed=0):
    generator = torch.Generator().manual_seed(seed)
    x, shortcut = torch.randn(
        2, batch, channels, size, size, generator=generator)
    return x, shortcut


def test_report_keeps_nothing_without_an_active_recorder():
    module = torch.nn.Identity()
    recorder = Recorder()
    report(module, 'gate', torch.ones(2))
    with recorder:
        report(module, 'gate', torch.zeros(2))
    report(module, 'gate', torch.ones(2))
    kept = recorder.get(module, 'gate')
    assert len(kept) == 1 and torch.equal(kept[0], torch.zeros(2))
    assert recorder.get(module, 'other') == []


def test_the_innermost_recorder_records():
    module = torch.nn.Identity()
    with Recorder() as outer:
        with Recorder() as inner:
            report(module, 'gate', torch.ones(1))
        report(module, 'gate', torch.zeros(1))
    assert [t.item() for t in inner.get(module, 'gate')] == [1]
    assert [t.item() for t in outer.get(module, 'gate')] == [0]


def test_dla_light_step_reports_its_head_gates_and_update_gate():
    torch.manual_seed(0)
    step = DLALightStep(64, num_blocks=2, head_dim=16).eval()
    x, shortcut = _block_inputs()
    with torch.no_grad():
        expected_out, _ = step(0, x, shortcut, None)
        with Recorder() as recorder:
            out, _ = step(0, x, shortcut, None)
    torch.testing.assert_close(out, expected_out, rtol=0, atol=0)
    attention = step.attentions[0]
    (gates, ), (update, ) = (recorder.get(attention, 'head_gates'),
                             recorder.get(attention, 'update_gate'))
    # a_t = sigmoid(<q_g, k_g> / sqrt(d)), q and k 1-D convolutions of GAP(x)
    pooled = x.mean((2, 3))[:, None]
    k = attention.query_kernel.numel()
    q, key = (
        F.conv1d(pooled, kernel.view(1, 1, k), padding=k // 2).view(3, 4, 16)
        for kernel in (attention.query_kernel, attention.key_kernel))
    torch.testing.assert_close(gates, torch.sigmoid((q * key).sum(-1) / 4.0))
    # d_0 = cell(GAP(r), cell(GAP(x), zero state)).h
    cell = step.context_cell
    zeros = torch.zeros(3, 64)
    state = cell(x.mean((2, 3)), (zeros, zeros))
    torch.testing.assert_close(update, cell(shortcut.mean((2, 3)), state)[0])


def test_dla_base_step_reports_the_weights_it_attends_with():
    torch.manual_seed(0)
    step = DLABaseStep(64, num_blocks=3, head_dim=16).eval()
    carry = None
    with torch.no_grad(), Recorder() as recorder:
        for index in range(3):
            x, shortcut = _block_inputs(seed=index)
            _, carry = step(index, x, shortcut, carry)
    _, keys, values = carry
    (weights, ) = recorder.get(step.attentions[2], 'attention_weights')
    assert weights.shape == (3, 3, 4)  # [N, blocks so far, heads]
    torch.testing.assert_close(weights.sum(1), torch.ones(3, 4))
    # the attention of block 2 is the weighted sum of the values with them
    attention = step.attentions[2]
    query = attention.query_key(x.mean((2, 3)))[0]
    per_channel = weights.repeat_interleave(16, dim=2)[..., None, None]
    with torch.no_grad():
        torch.testing.assert_close(
            attention(query, keys, values), (values * per_channel).sum(1))
    # block 0 attends only to itself
    (first, ) = recorder.get(step.attentions[0], 'attention_weights')
    torch.testing.assert_close(first, torch.ones(3, 1, 4))
