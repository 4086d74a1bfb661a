#!/usr/bin/env bash
# Install MMCV with its compiled ops into the environment of a Python.
#
# Usage: bash tools/install_mmcv.sh [PYTHON]      (default: python)
#
# The version comes from requirements/mmcv.txt (2.1.0, the newest release that
# MMDetection 3.x accepts). Run it after PyTorch, numpy and "setuptools<70".
#
# Why a script and not "pip install mmcv":
# - OpenMMLab publishes no MMCV wheels for torch >= 2.5, so MMCV is compiled
#   from its source distribution (about 15 minutes on 2 cores).
# - The build must see the installed PyTorch, hence --no-build-isolation;
#   with isolation MMCV silently builds without its ops ("No module named
#   'mmcv._ext'").
# - MMCV's setup.py imports pkg_resources, hence "setuptools<70" in the
#   environment (requirements/build.txt).
# - MMCV 2.1.0 compiles with -std=c++17, but the headers of recent PyTorch
#   (2.14 among them) stop with "C++20 or later compatible compiler is
#   required"; when the installed headers say so, we patch the flag to c++20.
# - pip does not cache wheels built from a local folder, so the wheel is kept
#   in $MMDLA_WHEEL_CACHE (default: ${XDG_CACHE_HOME:-~/.cache}/mmdla/wheels),
#   in a folder named after the PyTorch version and CPU/CUDA variant. Later
#   installs against the same PyTorch take seconds.
#
# Environment: MAX_JOBS (parallel compile jobs, default: number of cores),
# FORCE_CUDA=1 (build the CUDA ops without a visible GPU, needs nvcc).
set -euo pipefail

PYTHON=${1:-python}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MMCV_VERSION=$(sed -n 's/^mmcv==\([0-9.]*\).*/\1/p' "$ROOT/requirements/mmcv.txt")
if [[ -z "$MMCV_VERSION" ]]; then
    echo "error: requirements/mmcv.txt must pin mmcv==<version>" >&2
    exit 1
fi

# Succeeds when the wanted MMCV is installed and its compiled ops load.
mmcv_ops_work() {
    "$PYTHON" - "$MMCV_VERSION" <<'EOF' 2>/dev/null
import sys

import mmcv
import mmcv._ext  # noqa: F401
from mmcv.ops import nms  # noqa: F401

sys.exit(0 if mmcv.__version__ == sys.argv[1] else 1)
EOF
}

if mmcv_ops_work; then
    echo "mmcv $MMCV_VERSION with compiled ops is already installed."
    exit 0
fi

# Everything the wheel depends on: PyTorch version, CPU or CUDA ops, Python.
TORCH_INFO=$("$PYTHON" - <<'EOF'
import os
import sys

import torch

with_cuda = torch.cuda.is_available() or os.getenv('FORCE_CUDA') == '1'
variant = 'cu' + torch.version.cuda.replace('.', '') if with_cuda else 'cpu'
include_dir = os.path.join(os.path.dirname(torch.__file__), 'include')
print(torch.__version__.split('+')[0], variant,
      f'cp{sys.version_info.major}{sys.version_info.minor}', include_dir)
EOF
) || { echo "error: install PyTorch before MMCV" >&2; exit 1; }
read -r TORCH_VERSION VARIANT PY_TAG TORCH_INCLUDE <<< "$TORCH_INFO"
CACHE_DIR="${MMDLA_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mmdla/wheels}/torch${TORCH_VERSION}-${VARIANT}"
shopt -s nullglob
CACHED=("$CACHE_DIR/mmcv-${MMCV_VERSION}-${PY_TAG}-"*.whl)
WHEEL=${CACHED[0]:-}

if [[ -z "$WHEEL" ]]; then
    BUILD_DIR=$(mktemp -d)
    trap 'rm -rf "$BUILD_DIR"' EXIT
    echo "Building mmcv $MMCV_VERSION ($VARIANT ops) for torch $TORCH_VERSION from source;" \
        "this takes about 15 minutes on 2 cores."
    "$PYTHON" -m pip download --quiet --no-deps --no-binary :all: \
        --no-build-isolation "mmcv==$MMCV_VERSION" -d "$BUILD_DIR"
    tar -xzf "$BUILD_DIR/mmcv-$MMCV_VERSION.tar.gz" -C "$BUILD_DIR"
    SOURCE_DIR="$BUILD_DIR/mmcv-$MMCV_VERSION"
    if grep -qs "C++20 or later" "$TORCH_INCLUDE/ATen/ATen.h"; then
        sed -i 's/-std=c++17/-std=c++20/g' "$SOURCE_DIR/setup.py"
    fi
    MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-$(nproc)}" "$PYTHON" -m pip wheel \
        --quiet --no-build-isolation --no-deps "$SOURCE_DIR" -w "$BUILD_DIR/dist"
    mkdir -p "$CACHE_DIR"
    BUILT=("$BUILD_DIR/dist/mmcv-${MMCV_VERSION}-"*.whl)
    # Copy under a temporary name, then rename: a half-written wheel never
    # looks like a cached one.
    PARTIAL=$(mktemp "$CACHE_DIR/.partial.XXXXXX")
    cp "${BUILT[0]}" "$PARTIAL"
    chmod 644 "$PARTIAL"
    WHEEL="$CACHE_DIR/$(basename "${BUILT[0]}")"
    mv "$PARTIAL" "$WHEEL"
fi

echo "Installing $WHEEL"
"$PYTHON" -m pip install --quiet --force-reinstall --no-deps "$WHEEL"
# MMCV's own dependencies (MMEngine is pinned earlier in requirements/).
"$PYTHON" -m pip install --quiet "$WHEEL"

if ! mmcv_ops_work; then
    echo "error: mmcv $MMCV_VERSION is installed but its compiled ops do not load:" >&2
    "$PYTHON" -c "import mmcv._ext" >&2 || true
    echo "Delete $WHEEL and rerun this script to rebuild it." >&2
    exit 1
fi
echo "mmcv $MMCV_VERSION with compiled ops is installed."
