"""The environment report and its incompatibility checks (check_env.py)."""
import dataclasses
import re
import sys
from pathlib import Path
from typing import List

import mmcv
import mmengine
import mmseg
import pytest
import torch

import mmdla
from mmdla.utils.collect_env import (StackInfo, collect_env,
                                     find_incompatibilities, format_report,
                                     probe_stack)

#: The verified stack of requirements/, as probe_stack() describes it.
VERIFIED = StackInfo(
    python='3.11.7',
    torch='2.14.1+cpu',
    torchvision='0.29.1',
    numpy='2.4.6',
    setuptools='69.5.1',
    has_pkg_resources=True,
    mmcv='2.1.0',
    mmcv_ops_cuda='not available',
    mmengine='0.10.7',
    mmdet='3.3.0',
    mmpretrain='1.2.0',
    mmseg='1.2.2',
    mmdla='0.1.0',
    resume_fix=True)


def problems_of(**changes) -> List[str]:
    """Return the incompatibility texts of the verified stack with changes."""
    info = dataclasses.replace(VERIFIED, **changes)
    return [str(problem) for problem in find_incompatibilities(info)]


def test_probe_reports_the_running_stack() -> None:
    info = probe_stack()
    assert info.torch == torch.__version__
    assert info.mmcv == mmcv.__version__
    assert info.mmengine == mmengine.__version__
    assert info.mmseg == mmseg.__version__
    assert info.mmseg_missing == ()
    assert info.mmdla == mmdla.__version__
    assert info.resume_fix


def test_installed_stack_has_no_known_incompatibility() -> None:
    assert find_incompatibilities() == []


def test_collect_env_names_every_package() -> None:
    env = collect_env(VERIFIED)
    assert env['PyTorch'] == '2.14.1+cpu'
    assert env['MMCV'] == '2.1.0'
    assert env['MMCV ops'] == 'compiled, CPU only'
    assert env['MMEngine'] == '0.10.7'
    assert env['MMDetection'] == '3.3.0'
    assert env['MMPretrain'] == '1.2.0'
    assert env['MMSegmentation'] == '1.2.2'
    assert env['mmdla'] == '0.1.0'
    assert env['mmdla resume fix'] == 'active'
    cuda_ops = collect_env(dataclasses.replace(VERIFIED, mmcv_ops_cuda='12.1'))
    assert cuda_ops['MMCV ops'] == 'compiled, CPU and CUDA 12.1'
    absent = collect_env(dataclasses.replace(VERIFIED, mmdet=None))
    assert absent['MMDetection'] == 'not installed'
    broken = collect_env(
        dataclasses.replace(VERIFIED, mmseg_missing=('ftfy', 'regex')))
    assert broken['MMSegmentation'] == (
        '1.2.2 (models fail to import: no ftfy, regex)')


def test_verified_stack_is_sound() -> None:
    assert problems_of() == []


@pytest.mark.parametrize(
    'changes, problem, fix', [
        (dict(mmcv='2.2.0'),
         'too new for MMDetection 3.3.0 and MMSegmentation 1.2.2',
         'mmcv==2.1.0'),
        (dict(mmcv='2.2.0', mmdet=None),
         'too new for MMSegmentation 1.2.2, which asserts', 'mmcv==2.1.0'),
        (dict(mmseg_missing=('ftfy', )),
         "MMSegmentation 1.2.2 imports ftfy (mmseg.utils)",
         'requirements/seg.txt'),
        (dict(mmcv=None), 'MMCV is not installed', 'install_mmcv.sh'),
        (dict(mmcv_ops_error="No module named 'mmcv._ext'"),
         'no usable compiled ops', 'install_mmcv.sh'),
        (dict(setuptools='84.2.1',
              has_pkg_resources=False), 'no pkg_resources', 'setuptools<70'),
        (dict(resume_fix=False), 'HistoryBuffer',
         'runner_checkpoint_loading'),
        (dict(torchvision='0.28.0'), 'does not match PyTorch',
         'torchvision==0.29.*'),
        (dict(torchvision_error='operator torchvision::nms does not exist'),
         'fails to import', 'requirements/runtime.txt'),
        (dict(mmengine='0.9.1'), 'outside the supported range',
         'requirements/runtime.txt'),
    ],
    ids=[
        'mmcv-too-new', 'mmcv-too-new-for-mmseg', 'mmseg-without-ftfy',
        'mmcv-missing', 'mmcv-without-ops', 'no-pkg-resources',
        'resume-unpatched', 'torchvision-mismatch', 'torchvision-broken',
        'mmengine-old'
    ])
def test_each_known_incompatibility_is_named_with_its_fix(
        changes: dict, problem: str, fix: str) -> None:
    problems = problems_of(**changes)
    assert len(problems) == 1, problems
    assert problem in problems[0]
    assert 'fix: ' in problems[0] and fix in problems[0]


def test_new_mmcv_is_fine_without_mmdet_and_mmseg() -> None:
    assert problems_of(mmcv='2.2.0', mmdet=None, mmseg=None) == []


def test_resume_fix_is_not_needed_before_torch_2_6() -> None:
    assert problems_of(
        torch='2.5.1', torchvision='0.20.1', resume_fix=False) == []


def test_report_lists_problems() -> None:
    broken = dataclasses.replace(VERIFIED, mmcv='2.2.0')
    report = format_report(broken)
    assert re.search(r'^MMCV +: 2\.2\.0$', report, re.MULTILINE)
    assert '1 known incompatibility' in report
    assert 'No known incompatibility' in format_report(VERIFIED)


def test_check_env_tool_exits_cleanly_on_this_stack(repo_root,
                                                    run_tool) -> None:
    result = run_tool(
        [sys.executable,
         str(Path(repo_root) / 'tools' / 'check_env.py')],
        cwd=repo_root)
    assert result.returncode == 0, result.stdout
    assert 'MMCV ops' in result.stdout
    assert 'No known incompatibility found.' in result.stdout
