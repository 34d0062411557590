#!/usr/bin/env bash
# The first GPU run of two knobs that passed on the CPU emulator only: the
# tensor-core GEMV (QB_CUDA_GEMV_MMA=1, kernels/cuda/gemv_mma.cuh) and the
# replayed attention's grid trimmed to the position (QB_CUDA_ATTN_GRID=1,
# attention.cu); both on by default since (data/results/h100/first-run-bbb0b08
# holds this run). From a folder staged by
#   STAGE_TARGETS="build/tests/test_cuda build/bench/cuda_decode build/bench/cuda_vs_cpu \
#     build/bench/cuda_ceilings bin/quantize" AB_KNOBS="mma:QB_CUDA_GEMV_MMA=1 ag:QB_CUDA_ATTN_GRID=1" \
#     EXTRA_FILES=tests/cuda/first-run.sh bash tests/cuda/stage.sh
# with models/ holding, instead of qb-gpt2-10m itself (under the carry limit),
# its GGUFs qb-gpt2-10m-T.gguf (T = q4_0, q4_1, q8_0, iq4_nl; quantize --type
# T --embed T) and s256-q4_k.gguf, a synthetic 2-layer, 256-wide model for
# Q4_K, whose rows must be whole 256s (fetch --synthetic gpt2 --n-layer 2
# --n-embd 256 --n-head 4 --n-ctx 512 --dtype f16 --no-tokenizer, then
# qb-gpt2-10m's vocab.json and merges.txt, quantize --type q4_k --embed q4_k).
# Phases, each writing to $OUT as it goes:
# - check (~3 min): the kernel tests (R -8 and -16 among them; the eager
#   attention launches only the position's chunks), GPU vs CPU: qb-gpt2-10m's
#   Q4_0, Q4_1, Q8_0 and IQ4_NL GGUFs and models/s256-q4_k.gguf (a synthetic
#   2-layer, 256-wide model: Q4_K needs rows of 256) with the tensor cores
#   tuned in and forced; Q8_0 and Q4_0 with the trimmed grid, whole heads and
#   split chunks past 64 keys;
# - ab-mma: gpt2-xl decode, Q4_0, Q8_0 and Q4_K, cuda_decode vs cuda_decode_mma, interleaved;
# - ab-ag: gpt2-xl and gpt2 F16 decode, cuda_decode vs cuda_decode_ag;
# - detail: each GEMV shape alone at every rows-per-block choice, the graph
#   tuner's picks, graph traces with and without each knob.
set -u
cd "$(dirname "$0")"
. ./calls.sh
for phase in ${*:-check}; do
  case $phase in
    check)
      kernel_tests
      for m in models/qb-gpt2-10m-{q4_0,q4_1,q8_0,iq4_nl}.gguf models/s256-q4_k.gguf; do
        l=$(basename $m .gguf)
        QB_CUDA_GEMV_MMA=1 vs mma-$l -m $m
        QB_CUDA_GEMV_R=-8 vs r-8-$l -m $m
        QB_CUDA_GEMV_R=-16 vs r-16-$l -m $m
      done
      vs base-s256-q4_k -m models/s256-q4_k.gguf
      QB_CUDA_ATTN_GRID=1 vs ag-q8_0 -m models/qb-gpt2-10m-q8_0.gguf -n 150
      QB_CUDA_ATTN_GRID=1 vs ag-q4_0 -m models/qb-gpt2-10m-q4_0.gguf -n 150
      QB_CUDA_ATTN_GRID=1 QB_CUDA_ATTN_WHOLE=0 vs ag-split-q8_0 -m models/qb-gpt2-10m-q8_0.gguf -n 150
      QB_CUDA_ATTN_WHOLE=0 vs split-q8_0 -m models/qb-gpt2-10m-q8_0.gguf -n 150
      vs base-q8_0 -m models/qb-gpt2-10m-q8_0.gguf -n 150 ;;
    ab-mma) ab mma "-m gpt2-xl -w q4_0,q8_0,q4_k -n 128 -r 2" cuda_decode_mma ;;
    ab-ag) ab ag "-m gpt2-xl,gpt2 -w f16 -n 128 -r 2" cuda_decode_ag ;;
    detail)
      echo "== gemv alone $(date +%T)"
      timeout 100 ./bin/cuda_ceilings -q q4_0 q8_0 q4_k >"$OUT/ceilings.tsv" 2>&1; echo "ceilings rc=$?"
      grep "^gemv" "$OUT/ceilings.tsv" | cut -f2-8
      echo "== graph tuner's picks $(date +%T)"
      QB_CUDA_GEMV_MMA=1 QB_CUDA_GRAPH_TUNE=2 timeout 100 ./bin/cuda_decode -m gpt2-xl,gpt2 -w q4_0,q8_0 -n 64 -r 1 >"$OUT/tune.tsv" 2>"$OUT/tune.err"
      echo "tune rc=$?"; grep "graph tune" "$OUT/tune.err" | head -40
      echo "== gtrace $(date +%T)"
      GTRACE_KNOBS="GEMV_MMA=1;ATTN_GRID=1;-" GTRACE_ARGS="-m gpt2-xl -w q4_0 -n 32 -r 1" TRACE_TIMEOUT=60 ./run-device.sh gtrace 2>&1 | tail -40 ;;
  esac
done
echo "== done $(date +%T)"
