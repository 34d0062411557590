#!/usr/bin/env bash
# Memory bandwidth of this machine (read-only and copy, 1 and 2 threads,
# 1 GiB buffers, median of 7): the denominator of the memory-bandwidth floor.
set -euo pipefail
cd "${QB_ROOT:-.}"
echo "# machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cpus; commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
echo "# command: build/bench/membw -s ${MEMBW_MIB:-1024} -r 7 -t ${MEMBW_THREADS:-1,2}"
build/bench/membw -s "${MEMBW_MIB:-1024}" -r 7 -t "${MEMBW_THREADS:-1,2}"
