#!/usr/bin/env bash
# Quantized matmul speed at gpt2-124M shapes: decode (weights from DRAM) and
# prefill (T=128), every weight type in both activation modes (f32 =
# weight-only, q8 = W8A8), 1 and 2 threads, with the ratio to F32 weights
# measured side by side in the same run.
set -euo pipefail
cd "${QB_ROOT:-.}"
echo "# machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cpus; commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
echo "# command: build/bench/qmatmul -t ${QMATMUL_THREADS:-1,2} -T 128"
build/bench/qmatmul -t "${QMATMUL_THREADS:-1,2}" -T 128
