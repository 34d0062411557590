#!/usr/bin/env bash
# One device call: does where the decode step's buffers lie move its speed?
# Two builds whose decode step was the same decoded 2-11 % apart in one call
# (data/results/h100/prefill-onegemm-72c065e): the newer one's larger
# prompt-pass scratch moved every buffer the first decode step allocates after
# it (the layernorm statistics slots, the folded layernorm's vectors, the
# graph), and its code differed too. Here one binary runs with device memory
# held in front of those buffers (QB_CUDA_PAD_STEP) or in front of everything
# (QB_CUDA_PAD_OPEN, weights and activations included), so only the placement
# changes. From a folder staged by
#   STAGE_TARGETS="build/bench/cuda_decode build/bench/cuda_vs_cpu" EXTRA_FILES=tests/cuda/pad-run.sh \
#     AB_KNOBS="s256:QB_CUDA_PAD_STEP=256 s4k:QB_CUDA_PAD_STEP=4096 s64k:QB_CUDA_PAD_STEP=65536 \
#       s1m:QB_CUDA_PAD_STEP=1052672 s8m:QB_CUDA_PAD_STEP=8388608 o4k:QB_CUDA_PAD_OPEN=4096 \
#       o2m:QB_CUDA_PAD_OPEN=2101248" PACK=... PACK_EXCLUDE=model.safetensors bash tests/cuda/stage.sh
# (models/qb-gpt2-10m-q4_0.gguf is staged by stage.sh). Phases, each writing
# to $OUT as it goes:
# - check: GPU vs CPU on the q4_0 GGUF without a pad and with three (the same
#   error and tokens expected: a pad moves buffers, not arithmetic), and a
#   bad value refused with one line;
# - ab: decode, every pad against none, interleaved (gpt2-xl and gpt2, f16
#   and q4_0); a spread beyond the rounds' says placement matters;
# - gtrace: the graph traced without a pad and with two, to see which op moves.
set -u
cd "$(dirname "$0")"
. ./calls.sh
export VS_ONE_FILE=1 # (few files: the device tool returns at most 8)
for phase in ${*:-check ab}; do
  echo "== $phase $(date +%T)"
  case $phase in
    check)
      m=models/qb-gpt2-10m-q4_0.gguf
      vs none -m $m
      QB_CUDA_PAD_STEP=4096 vs step4k -m $m
      QB_CUDA_PAD_STEP=8388608 vs step8m -m $m
      QB_CUDA_PAD_OPEN=2101248 vs open2m -m $m
      QB_CUDA_PAD_STEP=-1 timeout 60 ./bin/cuda_vs_cpu -m $m -t $T >/tmp/bad.txt 2>&1
      echo "bad pad rc=$? (1 expected): $(tail -1 /tmp/bad.txt)" ;;
    ab)
      ab pad "-m gpt2-xl,gpt2 -w f16,q4_0 -p 16 -n 128 -r 1" "$(cd bin && echo cuda_decode_*)" ;;
    gtrace)
      OUT=$OUT GTRACE_KNOBS="-;PAD_STEP=4096;PAD_OPEN=2101248" GTRACE_ARGS="-m gpt2-xl,gpt2 -w f16,q4_0 -n 32 -r 1" \
        ./run-device.sh gtrace | grep -v '^#' | grep -E "gtrace|step|attn|qkv|proj|fc" | head -80 ;;
  esac
done
echo "== done $(date +%T)"
pack "$@"
