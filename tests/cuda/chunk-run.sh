#!/usr/bin/env bash
# One device call for the decode attention's wide chunks (session 28): past
# the keys one block takes whole (256 for heads of 64 at 512 threads), each
# chunk is that many keys by the whole path's code, not 64 by the split's.
# From a folder staged by
#   STAGE_TARGETS="build/tests/test_cuda build/bench/cuda_decode build/bench/cuda_vs_cpu bin/generate" \
#     EXTRA_FILES=tests/cuda/chunk-run.sh AB_OLD=<main before it> bash tests/cuda/stage.sh
# with data/wiki.test.raw, models/qb-gpt2-10m-q4_0.gguf and qb-gpt2-10m's
# tokenizer files (models/qb-gpt2-10m/{vocab.json,merges.txt}). Phases:
# - check: the kernel tests; GPU vs CPU past 256 keys: the synthetic gpt2
#   124M (heads of 64, written here by transformers) and qb-gpt2-10m's q4_0
#   GGUF at 128 threads (heads of 32: chunks of 128 keys), each on a prompt
#   of ~440 tokens of wiki.test.raw, and generate's text on CPU and GPU;
# - ab: decode at 440..487 keys (wide chunks now, 64-key chunks before),
#   200..247 (whole, unchanged) and 16..143 (whole), against AB_OLD's build
#   and any other bin/cuda_decode_* staged beside it;
# - drop: what the attention costs in the chain at 440..487 keys.
set -u
cd "$(dirname "$0")"
. ./calls.sh
export VS_ONE_FILE=1 # (few files: the device tool returns at most 8)
head -c 2200 data/wiki.test.raw | tail -c 2000 >/tmp/long.txt
for phase in ${*:-check}; do
  echo "== $phase $(date +%T)"
  case $phase in
    check)
      kernel_tests
      # The synthetic gpt2 124M in F16 (its tokenizer files from qb-gpt2-10m's
      # folder; qb-gpt2-10m's weights are not staged).
      M=/tmp/models; mkdir -p $M
      [ -d $M/gpt2-f16 ] || timeout 200 python3 make_models.py models/qb-gpt2-10m $M gpt2-f16 \
        >"$OUT/make_models.log" 2>&1 || echo "synthetic gpt2 failed"
      vs long-gpt2-f16 -m $M/gpt2-f16 -p "$(cat /tmp/long.txt)"
      QB_CUDA_ATT_THREADS=128 vs long-10m-q4_0-t128 -m models/qb-gpt2-10m-q4_0.gguf -p "$(cat /tmp/long.txt)"
      vs long-10m-q4_0 -m models/qb-gpt2-10m-q4_0.gguf -p "$(cat /tmp/long.txt)"
      for d in $M/gpt2-f16 models/qb-gpt2-10m-q4_0.gguf; do
        for dev in cpu cuda; do
          timeout 120 ./bin/generate -m $d -p "$(cat /tmp/long.txt)" -n 50 --ignore-eos -t $T --device $dev \
            2>/dev/null >/tmp/gen-$dev.txt
        done
        cmp -s /tmp/gen-cpu.txt /tmp/gen-cuda.txt && echo "generate $(basename $d): same text on CPU and GPU" ||
          { echo "generate $(basename $d): TEXT DIFFERS"; diff /tmp/gen-cpu.txt /tmp/gen-cuda.txt | head -5; }
      done ;;
    ab)
      bins=$(cd bin && echo cuda_decode_*)
      ab long "-m gpt2-xl,gpt2 -w f16,q4_0 -p 440 -n 48 -r 2" "$bins"
      ab mid "-m gpt2-xl,gpt2 -w f16,q4_0 -p 200 -n 48 -r 2" "$bins"
      ab short "-m gpt2-xl,gpt2 -w f16,q4_0 -p 16 -n 128 -r 2" "$bins" ;;
    drop)
      OUT=$OUT DROP_SETS=attention DROP_ARGS="-m gpt2-xl,gpt2 -w f16,q4_0 -p 440 -n 48 -r 2" ./run-device.sh drop |
        grep -v '^#' ;;
  esac
done
