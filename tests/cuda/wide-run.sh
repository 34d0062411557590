#!/usr/bin/env bash
# The first GPU run of the tensor-core GEMV with 8 warps a block on matrices
# of under two blocks an SM (QB_CUDA_GEMV_WIDE=1, an experiment: gpt2-xl's
# 1600 x 6400 MLP output projection). From a folder staged by
#   STAGE_TARGETS="build/tests/test_cuda build/bench/cuda_decode build/bench/cuda_vs_cpu \
#     build/bench/cuda_ceilings" AB_KNOBS="wide:QB_CUDA_GEMV_WIDE=1" \
#     EXTRA_FILES=tests/cuda/wide-run.sh bash tests/cuda/stage.sh
# with models/ as for split-run.sh. Phases, each writing to $OUT as it goes:
# - check: the kernel tests with it, GPU vs CPU on qb-gpt2-10m's q4_0, q8_0
#   and iq4_nl GGUFs and s256-q4_k with it, tuned and forced at -8 and -16
#   (every matrix of those models makes under two blocks an SM);
# - alone: gpt2-xl's shapes alone at every choice with it (cuda_ceilings);
# - ab: decode with and without it, interleaved, gpt2-xl and gpt2-large;
# - choice: at the next commit, where 8 warps is one more choice for the
#   tuners (R -(rows + 512)): the kernel tests, GPU vs CPU, the graph
#   tuner's picks and decode with and without that choice (cuda_decode_nowide).
set -u
cd "$(dirname "$0")"
. ./calls.sh
export VS_ONE_FILE=1 # (few files: the device tool returns at most 8)
for phase in ${*:-check}; do
  case $phase in
    check)
      QB_CUDA_GEMV_WIDE=1 kernel_tests
      for m in models/qb-gpt2-10m-{q4_0,q8_0,iq4_nl}.gguf models/s256-q4_k.gguf; do
        l=$(basename $m .gguf)
        for R in 0 -8 -16; do QB_CUDA_GEMV_WIDE=1 QB_CUDA_GEMV_R=$R vs wide-r$R-$l -m $m; done
      done ;;
    alone)
      QB_CUDA_GEMV_WIDE=1 timeout 120 ./bin/cuda_ceilings -q q4_0 q8_0 q4_k >"$OUT/ceilings-wide.tsv" 2>&1
      echo "ceilings rc=$?"; grep "^gemv" "$OUT/ceilings-wide.tsv" | grep 1600x6400 | cut -f2-4,6,8 ;;
    choice) # (after b3a8d43: 8 warps one more choice for the tuners, on by default; staged with
            # AB_KNOBS="nowide:QB_CUDA_GEMV_WIDE=0")
      kernel_tests
      for m in models/qb-gpt2-10m-q4_0.gguf models/s256-q4_k.gguf; do vs choice-$(basename $m .gguf) -m $m; done
      QB_CUDA_GRAPH_TUNE=2 timeout 100 ./bin/cuda_decode -m gpt2-xl,gpt2-large -w q4_0,q4_k -n 64 -r 1 >"$OUT/tune.tsv" 2>"$OUT/tune.err"
      echo "tune rc=$?"; grep "graph tune" "$OUT/tune.err" | head -40
      ab choice-xl "-m gpt2-xl -w q4_k,q4_0,iq4_nl,q8_0 -n 128 -r 2" cuda_decode_nowide
      ab choice-large "-m gpt2-large,gpt2-medium -w q4_0,q4_k -n 128 -r 2" cuda_decode_nowide ;;
    ab)
      ab wide-xl "-m gpt2-xl -w q4_0,q4_k,iq4_nl,q8_0 -n 128 -r 2" cuda_decode_wide
      ab wide-large "-m gpt2-large -w q4_0,q4_k -n 128 -r 2" cuda_decode_wide ;;
  esac
done
echo "== done $(date +%T)"
pack "$@"
