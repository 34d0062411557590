#!/usr/bin/env bash
# The tensor-core GEMV's first GPU run (kernels/cuda/gemv_mma.cuh; off by
# default until it has one): from a folder staged by
#   STAGE_TARGETS="build/tests/test_cuda build/bench/cuda_decode build/bench/cuda_vs_cpu \
#     build/bench/cuda_ceilings bin/quantize" AB_KNOBS="mma:QB_CUDA_GEMV_MMA=1" \
#     EXTRA_FILES=tests/cuda/mma-check.sh bash tests/cuda/stage.sh
# checks the kernel tests (R -8 and -16 among them), GPU vs CPU on qb-gpt2-10m's
# Q4_0, Q8_0 and IQ4_NL GGUFs with it tuned in and forced, then times it:
# decode A/B (cuda_decode vs cuda_decode_mma, interleaved), each GEMV shape
# alone at every rows-per-block choice, the graph tuner's picks, a graph trace
# with and without it. Writes to $OUT as it goes.
set -u
cd "$(dirname "$0")"
export LD_LIBRARY_PATH=$PWD/lib:$(dirname "$(find /usr/local/cuda*/lib64 /usr/local/cuda*/targets /opt -name 'libcublas.so.1*' 2>/dev/null | head -1)"):${LD_LIBRARY_PATH:-}
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
echo "commit $(cat COMMIT)"
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem --format=csv | tee "$OUT/machine.txt"
T=$(nproc)
timeout 200 ./bin/test_cuda >"$OUT/test_cuda.log" 2>&1
echo "test_cuda rc=$? $(grep -c '^ok' "$OUT/test_cuda.log") ok, $(grep -c '^not ok' "$OUT/test_cuda.log") not ok"
grep '^not ok' "$OUT/test_cuda.log" | head -20
for ty in q8_0 iq4_nl; do
  ./bin/quantize models/qb-gpt2-10m models/qb-gpt2-10m-$ty.gguf --type $ty --embed $ty -q --report /dev/null >/dev/null 2>&1
done
for R in 0 -8 -16; do # 0: tuned, the tensor-core choice in
  for m in models/qb-gpt2-10m-q4_0.gguf models/qb-gpt2-10m-q8_0.gguf models/qb-gpt2-10m-iq4_nl.gguf; do
    if [ $R = 0 ]; then QB_CUDA_GEMV_MMA=1 timeout 60 ./bin/cuda_vs_cpu -m $m -t $T >>"$OUT/vs.txt" 2>&1
    else QB_CUDA_GEMV_R=$R timeout 60 ./bin/cuda_vs_cpu -m $m -t $T >>"$OUT/vs.txt" 2>&1; fi
    echo "vs R $R $m rc=$?"
  done
done
cut -f1-9 "$OUT/vs.txt"
echo "== ab $(date +%T)"
AB_ROUNDS=${AB_ROUNDS:-3} AB_ARGS="-m gpt2-xl,gpt2 -w q4_0,q8_0,iq4_nl -n 128 -r 2" ./run-device.sh ab 2>&1 | tail -3
awk -F'\t' 'NR==1 { for (i = 1; i <= NF; i++) c[$i] = i; next } $1 != "build" { k=$(c["model"])" "$(c["type"])" "$1; s[k]+=$(c["decode_tok_s"]); n[k]++ } END { for (k in s) printf "%s %.1f\n", k, s[k]/n[k] }' "$OUT/ab.tsv" | sort
echo "== gemv alone $(date +%T)"
timeout 100 ./bin/cuda_ceilings -q q4_0 q8_0 iq4_nl >"$OUT/ceilings.tsv" 2>&1; echo "ceilings rc=$?"
grep "^gemv" "$OUT/ceilings.tsv" | cut -f2-8
echo "== graph tuner's picks $(date +%T)"
QB_CUDA_GEMV_MMA=1 QB_CUDA_GRAPH_TUNE=2 timeout 100 ./bin/cuda_decode -m gpt2-xl,gpt2 -w q4_0,q8_0 -n 64 -r 1 >"$OUT/tune.tsv" 2>"$OUT/tune.err"
echo "tune rc=$?"; grep "graph tune" "$OUT/tune.err" | head -40
echo "== gtrace $(date +%T)"
GTRACE_KNOBS="GEMV_MMA=1;-" GTRACE_ARGS="-m gpt2-xl -w q4_0 -n 32 -r 1" TRACE_TIMEOUT=60 ./run-device.sh gtrace 2>&1 | tail -30
echo "== done $(date +%T)"
