#!/usr/bin/env bash
# The GPU table of the README in one run, on one CUDA device:
#   tools/analysis_tools/gpu_table.sh [benchmark_backbone.py arguments...]
# 0. the fused step against a float64 reference and the PyTorch path, and
#    its determinism (check_fused_step.py), classifier and detection shapes;
# 1. classifier (ResNet-50, bf16 autocast, channels_last, training batch 128,
#    inference batch 256, 224 x 224), eager: training, inference and peak
#    training memory of torchvision's ResNet-50 and DLA-L with
#    fused=auto,true,false, then a profile of their training steps;
# 2. the same compiled: DLA-L with the PyTorch path (fused=false, what
#    auto compiles to) and the traceable fused step (fused=true);
# 3. the detection backbone step (batch 2, 800 x 1216, frozen_stages=1,
#    norm_eval=True, four outputs), fp32 and bf16 autocast;
# 4. every custom op at the real shapes (benchmark_kernels.py).
# Needs only torch, torchvision and Triton with MMEngine and mmcv-lite on
# PYTHONPATH (README: "Measuring on a GPU"). ROUNDS and ITERS set the timed
# rounds and steps per round; the extra arguments go to every
# benchmark_backbone.py run. A failed part is reported and the others run;
# the exit status is that of the last failure.

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PYTHON=${PYTHON:-python}
ROUNDS=${ROUNDS:-5}
ITERS=${ITERS:-10}
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
STATUS=0

part() {
    # part TITLE COMMAND...: print the title, run the command, note a failure
    local title=$1
    shift
    printf '\n## %s\n\n' "$title"
    "$@" || { STATUS=$?; echo "FAILED ($STATUS): $*"; }
}

backbone() {
    $PYTHON "$ROOT/tools/analysis_tools/benchmark_backbone.py" --device cuda \
        --depth 50 --rounds "$ROUNDS" --iters "$ITERS" "$@"
}

check() {
    $PYTHON "$ROOT/tools/analysis_tools/check_fused_step.py" --device cuda "$@"
}
part 'Accuracy and determinism, classifier' check --batch-size 8 --shape 224
part 'Accuracy and determinism, classifier, bf16 autocast' check \
    --batch-size 8 --shape 224 --amp
part 'Accuracy and determinism, detection' check --batch-size 2 \
    --shape 800 1216 --frozen-stages 1 --norm-eval
CLS=(--amp --channels-last --batch-size 128 --infer-batch-size 256 --shape 224)
part 'Classifier, eager' backbone "${CLS[@]}" --fused auto,true,false \
    --profile "${@}"
part 'Classifier, torch.compile' backbone "${CLS[@]}" --fused false,true \
    --compile "${@}"
part 'Detection backbone step, fp32' backbone --preset detection \
    --fused auto,true,false "${@}"
part 'Detection backbone step, bf16 autocast' backbone --preset detection \
    --fused auto,true,false --amp "${@}"
part 'Custom ops' $PYTHON "$ROOT/tools/analysis_tools/benchmark_kernels.py" \
    --device cuda
exit $STATUS
