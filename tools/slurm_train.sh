#!/usr/bin/env bash
# Training on a Slurm cluster.
#   [GPUS=16] tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [train.py arguments...]
# GPUS: total processes (default 8), GPUS_PER_NODE (default 8),
# CPUS_PER_TASK (default 5), SRUN_ARGS: extra srun arguments.
# Preemption (README: "On a cluster: preemption and restarts"): on SIGTERM or
# SIGUSR1 the processes save the iteration they are at and exit with status
# 75. SIGNAL_AHEAD=120 has Slurm send SIGUSR1 120 seconds before the time
# limit (srun --signal=USR1@120). REQUEUE=1, inside an sbatch job, requeues
# the job after such a stop (scontrol requeue); the requeued job resumes from
# the checkpoint by itself.

source "$(dirname "$0")/launch_checks.sh"
[ $# -ge 4 ] || usage_error 'PARTITION, JOB_NAME, CONFIG and WORK_DIR are needed'

PARTITION=$1
JOB_NAME=$2
CONFIG=$3
WORK_DIR=$4
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-""}
PYTHON=${PYTHON:-python}
EXIT_STOPPED=75
require_count GPUS "$GPUS"
require_count GPUS_PER_NODE "$GPUS_PER_NODE"
SIGNAL_ARGS=()
if [ -n "${SIGNAL_AHEAD:-}" ]; then
    require_count SIGNAL_AHEAD "$SIGNAL_AHEAD"
    SIGNAL_ARGS=(--signal="USR1@$SIGNAL_AHEAD")
fi
require_torch

# a signal to this script waits for the training to save and stop
trap 'echo "slurm_train.sh: stop signal; the training saves and stops" >&2' \
    TERM USR1

set -x
# SRUN_ARGS is split into words on purpose: it holds several srun options
# shellcheck disable=SC2086
PYTHONPATH="$(dirname "$0")/..":$PYTHONPATH \
srun -p "$PARTITION" \
    --job-name="$JOB_NAME" \
    --gres=gpu:"$GPUS_PER_NODE" \
    --ntasks="$GPUS" \
    --ntasks-per-node="$GPUS_PER_NODE" \
    --cpus-per-task="$CPUS_PER_TASK" \
    --kill-on-bad-exit=1 \
    "${SIGNAL_ARGS[@]}" \
    ${SRUN_ARGS} \
    "$PYTHON" -u "$(dirname "$0")/train.py" "$CONFIG" --work-dir="$WORK_DIR" \
    --launcher=slurm "${@:5}"
STATUS=$?
set +x

if [ "$STATUS" -eq "$EXIT_STOPPED" ] && [ "${REQUEUE:-0}" = 1 ]; then
    if [ -z "${SLURM_JOB_ID:-}" ]; then
        echo "slurm_train.sh: REQUEUE=1 needs an sbatch job; resume with" \
            "the same command and --resume" >&2
    else
        echo "slurm_train.sh: requeueing job $SLURM_JOB_ID; it resumes" \
            "from the checkpoint just saved" >&2
        scontrol requeue "$SLURM_JOB_ID"
    fi
fi
exit "$STATUS"
