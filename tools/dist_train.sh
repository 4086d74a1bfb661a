#!/usr/bin/env bash
# Distributed training on one or several nodes with torchrun.
#   tools/dist_train.sh CONFIG GPUS [train.py arguments...]
# GPUS is the number of processes per node; without a GPU they run on the
# CPU with the gloo backend. Multi-node: set NNODES, NODE_RANK, MASTER_ADDR
# and PORT on every node. MAX_RESTARTS=N lets torchrun restart the processes
# up to N times after one fails; a restarted group resumes from the latest
# checkpoint of the work dir. On SIGTERM or SIGUSR1 the processes save the
# iteration they are at and the script exits with status 75 (README: "On a
# cluster: preemption and restarts").

source "$(dirname "$0")/launch_checks.sh"
[ $# -ge 2 ] || usage_error 'CONFIG and GPUS are needed'
require_count GPUS "$2"

CONFIG=$1
GPUS=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
MAX_RESTARTS=${MAX_RESTARTS:-0}
PYTHON=${PYTHON:-python}
require_count_or_zero MAX_RESTARTS "$MAX_RESTARTS"
require_torch

# exec: the signals sent to this script reach torchrun, which passes them on
PYTHONPATH="$(dirname "$0")/..":$PYTHONPATH \
exec "$PYTHON" -m mmdla.engine.torchrun \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$GPUS" \
    --master_port="$PORT" \
    --max-restarts="$MAX_RESTARTS" \
    --signals-to-handle=SIGTERM,SIGINT,SIGHUP,SIGQUIT,SIGUSR1 \
    "$(dirname "$0")/train.py" \
    "$CONFIG" \
    --launcher pytorch "${@:3}"
