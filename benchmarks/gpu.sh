#!/usr/bin/env bash
# The trainer's GPU figures in one run (issue: trainer speed): the chunked loss's memory and time,
# llama-1b against transformers plain and compiled with a profiler trace, llama-7b alone, and the
# CUDA test. Written for a borrowed GPU machine with a fixed time budget: each step has its own
# timeout, a failed step does not stop the others, and everything lands under OUT.
#
#   OUT=/tmp/gpu bash benchmarks/gpu.sh           # on the GPU machine, from the repository root
#   QUICK=1 OUT=/tmp/gpu bash benchmarks/gpu.sh   # the smoke run (also what the CPU can check)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:?set OUT to the folder for the results}
PY=${PY:-python3}
export PYTHONPATH=.${PYTHONPATH:+:$PYTHONPATH}
mkdir -p "$OUT"
status=0

step() {  # step NAME SECONDS COMMAND...: run, log, time it; remember a failure
    local name=$1 limit=$2
    shift 2
    echo "== $name ($(date -u +%T), limit ${limit}s)" | tee -a "$OUT/steps.log"
    local started=$SECONDS
    timeout "$limit" "$@" >"$OUT/$name.log" 2>&1
    local rc=$?
    echo "   exit $rc after $((SECONDS - started)) s" | tee -a "$OUT/steps.log"
    tail -n 25 "$OUT/$name.log"
    [ "$rc" -eq 0 ] || status=1
}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv >"$OUT/gpu.csv" 2>&1
"$PY" -c "import torch; print(torch.__version__, torch.cuda.is_available())" >>"$OUT/gpu.csv" 2>&1

if [ -n "${QUICK:-}" ]; then
    step loss 300 "$PY" -m benchmarks.loss --rows 512 --dim 64 --vocab 1000 --steps 1 \
        --out "$OUT/loss.json"
    step train 300 "$PY" -m benchmarks.train --quick --model llama-tiny --profile "$OUT/profiles" \
        --out "$OUT/train.json"
else
    step loss 120 "$PY" -m benchmarks.loss --out "$OUT/loss.json"
    step train-1b 300 "$PY" -m benchmarks.train --model llama-1b --peer_compile \
        --profile "$OUT/profiles" --out "$OUT/train.json"
    step train-7b 240 "$PY" -m benchmarks.train --model llama-7b --micro_batch 2 --accum 2 \
        --no_peer --rounds 1 --out "$OUT/train-7b.json"
    if "$PY" -c "import pytest" 2>/dev/null; then
        step test-cuda 120 "$PY" -m pytest -q -m gpu tests/test_train.py tests/test_loss.py
    fi
fi
exit $status
