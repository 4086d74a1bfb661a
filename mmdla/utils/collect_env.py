"""Report the software stack and the known incompatibilities it contains.

Run ``python tools/check_env.py`` or ``python -m mmdla.utils.collect_env``: it
prints the versions of PyTorch (with CUDA), MMCV (and whether its ops are
compiled, for the CPU only or with CUDA), MMEngine, MMDetection,
MMPretrain, MMSegmentation and mmdla, then every known incompatibility it
detects together with its fix, and exits with status 1 when there is one.
"""
import importlib
import importlib.metadata
import importlib.util
import sys
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from packaging.version import Version

#: Version pinned by ``requirements/mmcv.txt`` and built by
#: ``tools/install_mmcv.sh``; the newest MMCV that MMDetection 3.x accepts.
MMCV_VERSION = '2.1.0'
INSTALL_MMCV = ('bash tools/install_mmcv.sh (or `make setup`), which builds '
                f'mmcv=={MMCV_VERSION} from source with its ops')
#: Modules that ``mmseg.utils`` (and so every mmseg model) imports but that
#: MMSegmentation 1.x does not require.
MMSEG_UNDECLARED_IMPORTS = ('ftfy', 'regex')
INSTALL_SEG = 'pip install -r requirements/seg.txt'


@dataclass
class StackInfo:
    """Versions and state of the packages mmdla depends on.

    A version is ``None`` when the package is not installed; an ``*_error``
    field holds the message of a failed import; ``mmseg_missing`` names the
    modules of :data:`MMSEG_UNDECLARED_IMPORTS` that are not installed
    (checked only with MMSegmentation).
    """

    python: str
    torch: Optional[str] = None
    torch_cuda: Optional[str] = None
    cuda_available: bool = False
    torchvision: Optional[str] = None
    torchvision_error: Optional[str] = None
    numpy: Optional[str] = None
    setuptools: Optional[str] = None
    has_pkg_resources: bool = False
    mmcv: Optional[str] = None
    mmcv_ops_cuda: Optional[str] = None
    mmcv_ops_error: Optional[str] = None
    mmengine: Optional[str] = None
    mmdet: Optional[str] = None
    mmpretrain: Optional[str] = None
    mmseg: Optional[str] = None
    mmseg_missing: Tuple[str, ...] = ()
    mmdla: Optional[str] = None
    resume_fix: bool = False


@dataclass
class Incompatibility:
    """A known problem of the installed stack and how to fix it."""

    problem: str
    fix: str

    def __str__(self) -> str:
        return f'{self.problem}\n    fix: {self.fix}'


def _distribution_version(*names: str) -> Optional[str]:
    """Return the version of the first installed distribution of ``names``."""
    for name in names:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def _base_version(version: str) -> Version:
    """Parse ``version`` without its local part (``2.14.1+cpu`` -> 2.14.1)."""
    return Version(Version(version).base_version)


def probe_stack() -> StackInfo:
    """Inspect the running interpreter's packages.

    Returns:
        StackInfo: What is installed and whether it imports.
    """
    info = StackInfo(python=sys.version.split()[0])
    info.numpy = _distribution_version('numpy')
    info.setuptools = _distribution_version('setuptools')
    info.has_pkg_resources = (
        importlib.util.find_spec('pkg_resources') is not None)
    info.mmengine = _distribution_version('mmengine')
    info.mmdet = _distribution_version('mmdet')
    info.mmpretrain = _distribution_version('mmpretrain')
    info.mmseg = _distribution_version('mmsegmentation')
    if info.mmseg is not None:
        info.mmseg_missing = tuple(
            name for name in MMSEG_UNDECLARED_IMPORTS
            if importlib.util.find_spec(name) is None)

    try:
        import torch
    except ImportError:
        return info
    info.torch = torch.__version__
    info.torch_cuda = torch.version.cuda
    info.cuda_available = torch.cuda.is_available()

    info.torchvision = _distribution_version('torchvision')
    if info.torchvision is not None:
        try:
            importlib.import_module('torchvision')
        except (ImportError, RuntimeError) as error:
            info.torchvision_error = str(error).splitlines()[0]

    info.mmcv = _distribution_version('mmcv', 'mmcv-full', 'mmcv-lite')
    if info.mmcv is not None:
        try:
            ext = importlib.import_module('mmcv._ext')
            info.mmcv_ops_cuda = ext.get_compiling_cuda_version()
        except (ImportError, OSError) as error:
            info.mmcv_ops_error = str(error).splitlines()[0]

    try:
        import mmdla
        from .checkpoint_allowlist import runner_checkpoints_load
    except ImportError:
        return info
    info.mmdla = mmdla.__version__
    info.resume_fix = runner_checkpoints_load()
    return info


def _mmcv_ops_summary(info: StackInfo) -> str:
    """Describe the compiled MMCV ops in words."""
    if info.mmcv is None:
        return 'n/a'
    if info.mmcv_ops_error is not None:
        return f'NOT compiled ({info.mmcv_ops_error})'
    if info.mmcv_ops_cuda in (None, 'not available'):
        return 'compiled, CPU only'
    return f'compiled, CPU and CUDA {info.mmcv_ops_cuda}'


def collect_env(info: Optional[StackInfo] = None) -> Dict[str, str]:
    """Collect the versions of the stack as printable name/value pairs.

    Args:
        info (StackInfo, optional): The stack to describe. Defaults to the
            running interpreter's, see :func:`probe_stack`.

    Returns:
        dict: Ordered ``{name: value}``; absent packages read
        ``not installed``.
    """
    info = probe_stack() if info is None else info

    def show(version: Optional[str]) -> str:
        return 'not installed' if version is None else version

    pkg_resources = 'present' if info.has_pkg_resources else 'MISSING'
    torchvision = show(info.torchvision)
    if info.torchvision_error is not None:
        torchvision += f' (import fails: {info.torchvision_error})'
    mmseg = show(info.mmseg)
    if info.mmseg_missing:
        missing = ', '.join(info.mmseg_missing)
        mmseg += f' (models fail to import: no {missing})'
    return {
        'Python': info.python,
        'PyTorch': show(info.torch),
        'PyTorch CUDA': info.torch_cuda or 'none (CPU build)',
        'CUDA available': str(info.cuda_available),
        'TorchVision': torchvision,
        'NumPy': show(info.numpy),
        'setuptools':
        f'{show(info.setuptools)} (pkg_resources {pkg_resources})',
        'MMCV': show(info.mmcv),
        'MMCV ops': _mmcv_ops_summary(info),
        'MMEngine': show(info.mmengine),
        'MMDetection': show(info.mmdet),
        'MMPretrain': show(info.mmpretrain),
        'MMSegmentation': mmseg,
        'mmdla': show(info.mmdla),
        'mmdla resume fix': 'active' if info.resume_fix else 'inactive',
    }


def _check_torchvision(info: StackInfo) -> List[Incompatibility]:
    if info.torch is None:
        return [
            Incompatibility('PyTorch is not installed.',
                            'pip install -r requirements/runtime.txt')
        ]
    torch_version = _base_version(info.torch)
    expected = f'0.{torch_version.minor + 15}'
    if info.torchvision is None:
        return [
            Incompatibility(
                'TorchVision is not installed (MMPretrain and MMDetection '
                'import it).', f'pip install "torchvision=={expected}.*"')
        ]
    problems = []
    torchvision_version = _base_version(info.torchvision)
    if (torch_version.major == 2
            and torchvision_version.minor != torch_version.minor + 15):
        problems.append(
            Incompatibility(
                f'TorchVision {info.torchvision} does not match PyTorch '
                f'{info.torch} (expected {expected}.x); its compiled ops '
                'such as torchvision::nms fail to load.',
                f'pip install "torchvision=={expected}.*"'))
    elif info.torchvision_error is not None:
        problems.append(
            Incompatibility(
                f'TorchVision fails to import: {info.torchvision_error}',
                'reinstall PyTorch and TorchVision from the same index, '
                'e.g. pip install -r requirements/runtime.txt'))
    return problems


def _check_mmcv(info: StackInfo) -> List[Incompatibility]:
    if info.mmcv is None:
        return [Incompatibility('MMCV is not installed.', INSTALL_MMCV)]
    problems = []
    mmcv_version = _base_version(info.mmcv)
    if mmcv_version < Version('2.0.0'):
        problems.append(
            Incompatibility(
                f'MMCV {info.mmcv} is an OpenMMLab 1.x release; mmdla needs '
                'MMCV 2.x.', INSTALL_MMCV))
    elif mmcv_version >= Version('2.2.0'):
        # releases that assert mmcv < 2.2.0 on import
        rejecting = [
            f'{name} {version}'
            for name, version, first_accepting in (
                ('MMDetection', info.mmdet, '3.4.0'),
                ('MMSegmentation', info.mmseg, '1.3.0'))
            if version is not None
            and _base_version(version) < Version(first_accepting)
        ]
        if rejecting:
            problems.append(
                Incompatibility(
                    f'MMCV {info.mmcv} is too new for '
                    f'{" and ".join(rejecting)}, which assert'
                    f'{"s" if len(rejecting) == 1 else ""} mmcv < 2.2.0 on '
                    'import.', INSTALL_MMCV))
    if info.mmcv_ops_error is not None:
        problems.append(
            Incompatibility(
                f'MMCV has no usable compiled ops ({info.mmcv_ops_error}); '
                'Faster/Mask R-CNN need mmcv.ops. A build without '
                '--no-build-isolation cannot see PyTorch and silently skips '
                'the ops; a build against another PyTorch fails to load.',
                INSTALL_MMCV))
    return problems


def _check_mmengine(info: StackInfo) -> List[Incompatibility]:
    if info.mmengine is None:
        return [
            Incompatibility('MMEngine is not installed.',
                            'pip install -r requirements/runtime.txt')
        ]
    problems = []
    mmengine_version = _base_version(info.mmengine)
    if not Version('0.10.0') <= mmengine_version < Version('0.11.0'):
        problems.append(
            Incompatibility(
                f'MMEngine {info.mmengine} is outside the supported range '
                '>=0.10,<0.11.', 'pip install -r requirements/runtime.txt'))
    if (info.torch is not None
            and _base_version(info.torch) >= Version('2.6.0')
            and mmengine_version <= Version('0.10.7') and not info.resume_fix):
        problems.append(
            Incompatibility(
                f'PyTorch {info.torch} loads checkpoints with '
                f'weights_only=True and MMEngine {info.mmengine} does not '
                'allow its own classes, so resuming a run fails with '
                '"Weights only load failed ... HistoryBuffer".',
                "load within mmdla.utils.runner_checkpoint_loading() (our "
                'tools do)'))
    return problems


def _check_setuptools(info: StackInfo) -> List[Incompatibility]:
    if info.has_pkg_resources:
        return []
    return [
        Incompatibility(
            f'setuptools {info.setuptools} has no pkg_resources, which '
            'MMEngine needs to resolve mmdet::/mmpretrain:: config bases and '
            "MMCV's setup.py needs to build.",
            'pip install "setuptools<70" (after PyTorch, which pulls a newer '
            'one; the resulting pip conflict warning is harmless)')
    ]


def _check_mmseg(info: StackInfo) -> List[Incompatibility]:
    if not info.mmseg_missing:
        return []
    missing = ' and '.join(info.mmseg_missing)
    return [
        Incompatibility(
            f'MMSegmentation {info.mmseg} imports {missing} (mmseg.utils), '
            'which it does not require: building any mmseg model fails with '
            f'"No module named \'{info.mmseg_missing[0]}\'".', INSTALL_SEG)
    ]


def find_incompatibilities(
        info: Optional[StackInfo] = None) -> List[Incompatibility]:
    """Detect the known incompatibilities of the OpenMMLab 2.x stack.

    Args:
        info (StackInfo, optional): The stack to check. Defaults to the
            running interpreter's, see :func:`probe_stack`.

    Returns:
        list[Incompatibility]: Each problem found with its fix; empty when
        the stack is sound.
    """
    info = probe_stack() if info is None else info
    return (_check_torchvision(info) + _check_setuptools(info) +
            _check_mmcv(info) + _check_mmengine(info) + _check_mmseg(info))


def format_report(info: StackInfo) -> str:
    """Render the versions and incompatibilities of ``info`` as text."""
    env = collect_env(info)
    width = max(len(name) for name in env)
    lines = [f'{name:<{width}} : {value}' for name, value in env.items()]
    problems = find_incompatibilities(info)
    if problems:
        lines.append(f'\n{len(problems)} known incompatibility(ies):')
        lines.extend(f'  - {problem}' for problem in problems)
    else:
        lines.append('\nNo known incompatibility found.')
    return '\n'.join(lines)


def main() -> int:
    """Print the report; return 1 when an incompatibility was found."""
    info = probe_stack()
    print(format_report(info))
    return 1 if find_incompatibilities(info) else 0


if __name__ == '__main__':
    sys.exit(main())
