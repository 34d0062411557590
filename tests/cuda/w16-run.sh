#!/usr/bin/env bash
# One device call after the review mend 798be22 (the 8-warp finish told its
# warp count), with two more tuner choices as knobs: 8 warps on every
# matrix (QB_CUDA_GEMV_WIDE=2) and 16 warps at 8 rows (QB_CUDA_GEMV_W16=1,
# R -1032; taken out after this run: it never won). From a folder staged by
#   STAGE_TARGETS="build/tests/test_cuda build/bench/cuda_decode build/bench/cuda_vs_cpu \
#     build/bench/cuda_ceilings" EXTRA_FILES=tests/cuda/w16-run.sh \
#     AB_KNOBS="nowide:QB_CUDA_GEMV_WIDE=0 wide2:QB_CUDA_GEMV_WIDE=2 w16:QB_CUDA_GEMV_W16=1" \
#     bash tests/cuda/stage.sh
# with models/ holding qb-gpt2-10m's q4_0, q4_1, q8_0 and iq4_nl GGUFs and
# s256-q4_k.gguf. Phases, each writing to $OUT as it goes:
# - check: the kernel tests; GPU vs CPU on those models tuned, and forced
#   at 8 warps (-520, the mend) and 16 (-1032);
# - alone: gpt2-xl's shapes alone at every choice (cuda_ceilings);
# - ab: decode, the defaults against each knob and without 8 warps, interleaved;
# - tune: the graph tuner's picks with both knobs on;
# - matrix: the decode matrix at the defaults (run-device.sh decode);
# - latency: decode with every layer on layer 0's weights (QB_CUDA_ONE_LAYER=1)
#   against the real step, 2 rounds interleaved: what the chain costs with
#   its weights in L2.
set -u
cd "$(dirname "$0")"
. ./calls.sh
export VS_ONE_FILE=1 # (few files: the device tool returns at most 8)
for phase in ${*:-check}; do
  echo "== $phase $(date +%T)"
  case $phase in
    check)
      kernel_tests
      vs_models -520 -1032 ;;
    alone)
      timeout 150 ./bin/cuda_ceilings -q q4_0 q4_k >"$OUT/ceilings.tsv" 2>&1
      echo "ceilings rc=$?"; grep "^gemv" "$OUT/ceilings.tsv" | grep 1600x6400 | cut -f2-4,6,8 ;;
    ab)
      ab xl "-m gpt2-xl -w q4_k,q4_0,iq4_nl,q8_0 -n 128 -r 2" "cuda_decode_nowide cuda_decode_wide2 cuda_decode_w16"
      ab large "-m gpt2-large,gpt2-medium -w q4_0,q4_k -n 128 -r 2" "cuda_decode_nowide cuda_decode_wide2 cuda_decode_w16" ;;
    tune)
      QB_CUDA_GEMV_WIDE=2 QB_CUDA_GEMV_W16=1 QB_CUDA_GRAPH_TUNE=2 timeout 120 ./bin/cuda_decode \
        -m gpt2-xl,gpt2-large,gpt2-medium -w q4_0,q4_k -n 64 -r 1 >"$OUT/tune.tsv" 2>"$OUT/tune.err"
      echo "tune rc=$?"; grep "graph tune" "$OUT/tune.err" | head -60 ;;
    matrix) DECODE_TIMEOUT=400 ./run-device.sh decode ;;
    latency) # the step with every layer on layer 0's weights (in L2 where a layer fits: the chain's
             # own latency, lm_head still from DRAM) against the real one, interleaved
      for r in 1 2; do
        for one in 0 1; do
          QB_CUDA_ONE_LAYER=$one timeout 100 ./bin/cuda_decode -m gpt2-xl,gpt2-medium,gpt2 -w f16,q8_0,q4_0 -n 128 -r 1 \
            >"$OUT/latency-one$one-$r.tsv" 2>"$OUT/latency-one$one-$r.err"
          echo "one_layer=$one round $r rc=$?"; grep -v '^#' "$OUT/latency-one$one-$r.tsv" | cut -f1-2,7,13-14
        done
      done ;;
  esac
done
echo "== done $(date +%T)"
pack "$@"
