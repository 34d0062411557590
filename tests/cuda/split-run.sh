#!/usr/bin/env bash
# The first GPU run of the split tensor-core GEMV (R -(rows + 32 S): each row
# over S blocks, the last adding their sums; at d625b9d among the tuners'
# choices by default, QB_CUDA_GEMV_SPLIT=0 leaving it out) and of Q8_0's
# tensor-core code 4 steps ahead (then the knob QB_CUDA_MMA_Q8_DEEP=1).
# data/results/h100/split-run-d625b9d holds this run; since, the split is
# off by default (QB_CUDA_GEMV_SPLIT=1) and Q8_0 runs 4 steps ahead, so the
# knobs below are historical. From a folder staged by
#   STAGE_TARGETS="build/tests/test_cuda build/bench/cuda_decode build/bench/cuda_vs_cpu \
#     build/bench/cuda_ceilings" AB_KNOBS="nosplit:QB_CUDA_GEMV_SPLIT=0 q8d:QB_CUDA_MMA_Q8_DEEP=1" \
#     EXTRA_FILES=tests/cuda/split-run.sh bash tests/cuda/stage.sh
# with models/ holding qb-gpt2-10m's GGUFs and s256-q4_k.gguf, as for
# first-run.sh (whose header says how they are made), instead of qb-gpt2-10m.
# Phases, each writing to $OUT as it goes:
# - check (~3 min): the kernel tests (R -72, -144 and -272 among them), GPU
#   vs CPU on every tensor-core type with the split forced (8 rows over 2
#   blocks, 16 over 4 and over 8: on 160-wide rows some blocks have no step)
#   and Q8_0 4 steps ahead, tuned and forced;
# - ab: decode with and without the split, and with Q8_0 4 steps ahead,
#   interleaved (run-device.sh ab), gpt2-xl's 4-bit types and q8_0;
# - ab-small: with and without the split, gpt2-large's, gpt2-medium's and gpt2's;
# - detail: each GEMV shape alone at every choice (cuda_ceilings), Q8_0 with
#   both depths, and the graph tuner's picks;
# - matrix: the decode matrix with the defaults (run-device.sh decode).
set -u
cd "$(dirname "$0")"
. ./calls.sh
export VS_ONE_FILE=1 # (few files: the device tool returns at most 8)
for phase in ${*:-check}; do
  case $phase in
    check)
      kernel_tests
      vs_models -72 -144 -272
      for R in 0 -8 -16 -144; do
        QB_CUDA_MMA_Q8_DEEP=1 QB_CUDA_GEMV_R=$R vs q8d-r$R -m models/qb-gpt2-10m-q8_0.gguf
      done ;;
    ab)
      ab split-xl "-m gpt2-xl -w q4_0,q4_k,iq4_nl -n 128 -r 2" cuda_decode_nosplit
      ab q8d "-m gpt2-xl,gpt2-large -w q8_0 -n 128 -r 2" cuda_decode_q8d ;;
    ab-small)
      ab split-small "-m gpt2-large,gpt2-medium,gpt2 -w q4_0,q4_k -n 128 -r 2" cuda_decode_nosplit ;;
    detail)
      echo "== gemv alone $(date +%T)"
      timeout 120 ./bin/cuda_ceilings -q q4_0 q8_0 q4_k >"$OUT/ceilings.tsv" 2>&1; echo "ceilings rc=$?"
      QB_CUDA_MMA_Q8_DEEP=1 timeout 60 ./bin/cuda_ceilings -q q8_0 | grep '^gemv' | sed 's/^gemv/gemv-q8d/' >>"$OUT/ceilings.tsv"
      grep "^gemv" "$OUT/ceilings.tsv" | awk -F'\t' '$4 < 0 || $4 == 2 || $4 == 4' | cut -f1-4,6,8
      echo "== graph tuner's picks $(date +%T)"
      QB_CUDA_GRAPH_TUNE=2 timeout 100 ./bin/cuda_decode -m gpt2-xl,gpt2-large -w q4_0,q4_k -n 64 -r 1 >"$OUT/tune.tsv" 2>"$OUT/tune.err"
      echo "tune rc=$?"; grep "graph tune" "$OUT/tune.err" | head -40 ;;
    matrix)
      DECODE_TIMEOUT=400 ./run-device.sh decode | grep -v '^#' ;;
  esac
done
echo "== done $(date +%T)"
pack "$@"
