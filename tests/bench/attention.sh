#!/usr/bin/env bash
# CPU attention (prefill 512 tokens, decode at 511) and GELU speed, AVX2 next
# to the scalar twin, 1 and 2 threads.
set -euo pipefail
cd "${QB_ROOT:-.}"
echo "# machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cpus; commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
echo "# command: build/bench/attention -t ${ATTN_THREADS:-1,2}; gflops column is Gelem/s for gelu"
build/bench/attention -t "${ATTN_THREADS:-1,2}"
