"""The bfloat16 mixed precision that ``--amp`` (see
:func:`mmdla.engine.cli.add_amp_argument`) turns on in the analysis tools."""
import torch


def amp_autocast(device: torch.device, enabled: bool) -> torch.autocast:
    """The autocast context of ``--amp`` on ``device``."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled)
