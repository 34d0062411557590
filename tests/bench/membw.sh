#!/usr/bin/env bash
# Memory bandwidth of this machine (read-only and copy, 1 and 2 threads,
# buffers of 1 GiB or 4x the L3, median of 7): the denominator of the
# memory-bandwidth floor. MEMBW_MIB and MEMBW_THREADS override.
set -euo pipefail
cd "${QB_ROOT:-.}"
args=(-r 7 -t "${MEMBW_THREADS:-1,2}")
[ -n "${MEMBW_MIB:-}" ] && args+=(-s "$MEMBW_MIB")
echo "# machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cpus; commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
echo "# command: build/bench/membw ${args[*]}"
build/bench/membw "${args[@]}"
