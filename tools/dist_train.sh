#!/usr/bin/env bash
# Distributed training on one or several nodes with torchrun.
#   tools/dist_train.sh CONFIG GPUS [train.py arguments...]
# GPUS is the number of processes per node; without a GPU they run on the
# CPU with the gloo backend. Multi-node: set NNODES, NODE_RANK, MASTER_ADDR
# and PORT on every node.

source "$(dirname "$0")/launch_checks.sh"
[ $# -ge 2 ] || usage_error 'CONFIG and GPUS are needed'
require_count GPUS "$2"

CONFIG=$1
GPUS=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
PYTHON=${PYTHON:-python}
require_torch

PYTHONPATH="$(dirname $0)/..":$PYTHONPATH \
$PYTHON -m torch.distributed.run \
    --nnodes=$NNODES \
    --node_rank=$NODE_RANK \
    --master_addr=$MASTER_ADDR \
    --nproc_per_node=$GPUS \
    --master_port=$PORT \
    $(dirname "$0")/train.py \
    $CONFIG \
    --launcher pytorch ${@:3}
