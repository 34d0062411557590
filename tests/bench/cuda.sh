#!/usr/bin/env bash
# GPU ceilings (device copy bandwidth, cuBLAS F16 GEMM rate) and the batch-1
# GEMV's achieved bandwidth per weight type at gpt2-xl shapes, as a fraction
# of the copy ceiling. Prints "# skipped" on a machine without a CUDA device.
set -euo pipefail
cd "${QB_ROOT:-.}"
[ -x build/bench/cuda_ceilings ] || { echo "# skipped: built without CUDA"; exit 0; }
echo "# machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
echo "# command: build/bench/cuda_ceilings ${CUDA_BENCH_ARGS:-}"
build/bench/cuda_ceilings ${CUDA_BENCH_ARGS:-}
