#!/usr/bin/env bash
# Runs on the GPU machine from the staged folder (tests/cuda/stage.sh):
# machine description, the CUDA kernel tests, the ceilings and GEMV bench.
# Logs and TSVs go to $OUT. Usage: run-device.sh [tests] [ceilings] [...]
set -uo pipefail
cd "$(dirname "$0")"
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
cublas=$(find /usr/local/cuda*/lib64 /usr/local/cuda*/targets /opt -name 'libcublas.so.1*' 2>/dev/null | head -1)
export LD_LIBRARY_PATH=$PWD/lib:${cublas:+$(dirname "$cublas"):}${LD_LIBRARY_PATH:-}
{
  echo "# date: $(date -u +%FT%TZ)"
  echo "# gpu: $(nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv,noheader)"
  echo "# cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cpus"
  echo "# cuda: $(nvcc --version 2>/dev/null | tail -1); cublas: ${cublas:-not found}"
  echo "# kernel: $(uname -r); glibc: $(ldd --version | head -1)"
} | tee "$OUT/machine.txt"
steps=${*:-tests ceilings}
for s in $steps; do
  case $s in
    tests) timeout 300 ./bin/test_cuda >"$OUT/test_cuda.log" 2>&1; echo "test_cuda rc=$?"; grep -E '^not ok|^# seed|^1\.\.' "$OUT/test_cuda.log"; grep -c '^ok' "$OUT/test_cuda.log" ;;
    ceilings) timeout 400 ./bin/cuda_ceilings >"$OUT/ceilings.tsv" 2>"$OUT/ceilings.err"; echo "ceilings rc=$?"; cat "$OUT/ceilings.err" | tail -5 ;;
    *) echo "unknown step $s" ;;
  esac
done
