# Checks shared by the launch scripts (dist_*.sh, slurm_*.sh); sourced, not
# run. They stop with a usage line or a named problem instead of a traceback.

# usage_error MESSAGE: print the script's usage (its header comment lines
# starting with "#   ") and MESSAGE, and exit with status 2.
usage_error() {
    echo "error: $1" >&2
    sed -n 's/^#   /usage: /p' "$0" >&2
    exit 2
}

# require_count NAME VALUE: VALUE must be a positive integer.
require_count() {
    [[ "$2" =~ ^[1-9][0-9]*$ ]] || \
        usage_error "$1 must be a positive number of processes, got '$2'"
}

# require_count_or_zero NAME VALUE: VALUE must be 0 or a positive integer.
require_count_or_zero() {
    [[ "$2" =~ ^(0|[1-9][0-9]*)$ ]] || \
        usage_error "$1 must be 0 or a positive number, got '$2'"
}

# require_torch: the interpreter in $PYTHON must import torch, i.e. be the
# environment mmdla was installed into.
require_torch() {
    if "$PYTHON" -c 'import torch' >/dev/null 2>&1; then
        return
    fi
    local repo venv
    repo="$(cd "$(dirname "$0")/.." && pwd)"
    venv="$repo/.venv"
    echo "error: '$PYTHON' ($(command -v "$PYTHON" || echo 'not found'))" \
        "cannot import torch: the environment of mmdla is not active." >&2
    if [ -x "$venv/bin/python" ]; then
        echo "Activate it first: source $venv/bin/activate" \
            "(or set PYTHON=$venv/bin/python)." >&2
    else
        echo "Set it up with \`make setup\` in $repo, then:" \
            "source $venv/bin/activate (or set PYTHON to the python of" \
            "your own environment)." >&2
    fi
    exit 1
}
