#!/usr/bin/env bash
# CPU matmul speed at gpt2-124M shapes: decode GB/s and prefill GFLOP/s (T=128)
# for F32/F16/BF16 in both layouts, 1 and 2 threads, next to the scalar
# reference (ratio = scalar time / fast time, measured side by side).
set -euo pipefail
cd "${QB_ROOT:-.}"
echo "# machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cpus; commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
echo "# command: build/bench/matmul -t ${MATMUL_THREADS:-1,2} -T 128"
build/bench/matmul -t "${MATMUL_THREADS:-1,2}" -T 128
