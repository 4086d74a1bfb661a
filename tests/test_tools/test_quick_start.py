"""The quick start tells the user to activate the environment that `make`
sets up before running the commands of the README."""
import os.path as osp
import re
import shutil
import subprocess
import sys

import pytest


def test_readme_activates_venv_before_running_tools(repo_root):
    with open(osp.join(repo_root, 'README.md')) as f:
        readme = f.read()
    commands = [
        line.strip()
        for block in re.findall(r'```bash\n(.*?)```', readme, re.DOTALL)
        for line in block.splitlines()
    ]
    tools = [
        i for i, line in enumerate(commands)
        if re.match(r'(python tools/|tools/\w+\.sh)', line)
    ]
    activate = commands.index('source .venv/bin/activate')
    assert tools and activate < tools[0]
    quick_start = readme[readme.index('## Quick start'):readme.
                         index('## Installation')]
    assert 'source .venv/bin/activate' in quick_start


@pytest.mark.skipif(shutil.which('make') is None, reason='needs make')
def test_make_setup_ends_by_naming_the_activate_command(
        repo_root, tmp_path, run_tool):
    venv = tmp_path / 'venv'
    subprocess.run([sys.executable, '-m', 'venv', '--without-pip',
                    str(venv)],
                   check=True)
    # -n prints the recipe of the (not yet stamped) set-up without running it
    result = run_tool(['make', '-n', 'setup', f'VIRTUAL_ENV={venv}'],
                      cwd=repo_root)
    assert result.returncode == 0, result.stdout
    last_lines = result.stdout.strip().splitlines()[-2:]
    assert f'source {venv}/bin/activate' in ' '.join(last_lines)
