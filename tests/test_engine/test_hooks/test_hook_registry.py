"""The hooks build by their scoped names from any OpenMMLab default scope,
as MMDetection's and MMPretrain's own tools (which import no mmdla) do."""
import sys

_HOOKS = ('AtomicCheckpointHook', 'FiniteLossHook', 'RandomStateHook',
          'ResumedConfigHook')

_SCRIPT = """
import sys
from mmengine.registry import HOOKS, DefaultScope
assert 'mmdla' not in sys.modules
for scope in ('mmdet', 'mmpretrain'):
    with DefaultScope.overwrite_default_scope(scope):
        for name in {names}:
            hook = HOOKS.build(dict(type='mmdla.' + name))
            print(scope, type(hook).__module__, type(hook).__name__)
"""


def test_upstream_default_scopes_build_the_hooks(tmp_path, run_tool):
    result = run_tool([sys.executable, '-c',
                       _SCRIPT.format(names=_HOOKS)],
                      cwd=str(tmp_path))
    assert result.returncode == 0, result.stdout
    built = result.stdout.splitlines()
    for scope in ('mmdet', 'mmpretrain'):
        for name in _HOOKS:
            assert any(
                line.startswith(f'{scope} mmdla.engine.hooks.')
                and line.endswith(f' {name}') for line in built), name
