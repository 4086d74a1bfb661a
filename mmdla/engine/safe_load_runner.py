"""MMEngine's runner, loading its checkpoints with mmdla's scoped allowlist.

A config that names it (``runner_type = 'mmdla.SafeLoadRunner'``, as
mmdla's configs do) resumes and evaluates runner checkpoints on torch >= 2.6
under any tool that builds the runner from the config: mmdla's, and
MMDetection's or MMPretrain's ``tools/train.py`` and ``tools/test.py``
(which build ``RUNNERS.build(cfg)`` where a config has a ``runner_type``).
Its loads read the message hub of a checkpoint and run no code of the file
(:mod:`mmdla.utils.checkpoint_allowlist`); every other
``torch.load`` of the process keeps PyTorch's own allowlist.
"""
from mmengine.runner import Runner

from mmdla.registry import RUNNERS
from mmdla.utils import runner_checkpoint_loading


@RUNNERS.register_module()
class SafeLoadRunner(Runner):
    """:class:`~mmengine.runner.Runner` whose ``load_from`` and resume
    (``load_or_resume``, run by ``train``, ``val`` and ``test``) load
    within :func:`~mmdla.utils.runner_checkpoint_loading`."""

    def load_or_resume(self) -> None:
        with runner_checkpoint_loading():
            super().load_or_resume()
