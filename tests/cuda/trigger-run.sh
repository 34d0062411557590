#!/usr/bin/env bash
# One device call (session 29): when the decode chain's kernels let the next
# one launch (programmatic dependent launch). By default every kernel triggers
# at its start, so the next kernel's blocks load their first weights while it
# runs; the attention's body (2.9 us on gpt2-xl f16 at 16..47 keys, 1.9 on
# q4_0, whose proj and fc weigh a quarter) may be waiting behind those loads.
# From a folder staged by
#   STAGE_TARGETS="build/tests/test_cuda build/bench/cuda_decode build/bench/cuda_vs_cpu" \
#   EXTRA_FILES=tests/cuda/trigger-run.sh \
#   AB_KNOBS="aw:QB_CUDA_ATTN_TRIGGER=wait ae:QB_CUDA_ATTN_TRIGGER=end gp:QB_CUDA_GEMV_TRIGGER=proj \
#     gw:QB_CUDA_GEMV_TRIGGER=wait" bash tests/cuda/stage.sh
# with models/qb-gpt2-10m-q4_0.gguf and qb-gpt2-10m's tokenizer files (its
# weights need not travel).
# Phases:
# - check: the kernel tests (and with QB_CUDA_ATTN_WHOLE=0); GPU vs CPU on qb-gpt2-10m's q4_0 GGUF under each
#   knob (a trigger moves no result: griddepcontrol.wait still waits for the
#   whole kernel before);
# - ab: decode (prompt 16, 128 new) under each knob, interleaved;
# - gtrace: the replayed graph traced under the default and two knobs.
set -u
cd "$(dirname "$0")"
. ./calls.sh
# both_tests: the kernel tests as they are (test_cuda-default.log) and with 64-key
# chunks (QB_CUDA_ATTN_WHOLE=0: 313 for the 20000-key case; test_cuda.log).
both_tests() {
  kernel_tests
  mv "$OUT/test_cuda.log" "$OUT/test_cuda-default.log"
  QB_CUDA_ATTN_WHOLE=0 kernel_tests
}
for phase in ${*:-ab}; do
  echo "== $phase $(date +%T)"
  case $phase in
    check)
      both_tests
      for k in - ATTN_TRIGGER=wait ATTN_TRIGGER=end GEMV_TRIGGER=wait GEMV_TRIGGER=proj; do
        ( [ $k = - ] || export "QB_CUDA_$k"; vs "10m-q4_0-$k" -m models/qb-gpt2-10m-q4_0.gguf )
      done ;;
    ab)
      bins=$(cd bin && echo cuda_decode_*)
      AB_ROUNDS=2 ab short "-m gpt2-xl,gpt2 -w f16,q4_0 -p 16 -n 128 -r 1" "$bins" ;;
    gtrace)
      GTRACE_KNOBS="-;ATTN_TRIGGER=wait;GEMV_TRIGGER=proj" \
        GTRACE_ARGS="-m gpt2-xl,gpt2 -w f16,q4_0 -p 16 -n 32 -r 1" ./run-device.sh gtrace |
        grep -E '^gtrace|^#|^name|^qkv|^attn|^proj' ;;
    # Second call (after the first's results; staged with TRACE_PRODUCT=1, bin/ppl,
    # AB_KNOBS="aw:QB_CUDA_ATTN_TRIGGER=wait" and data/wiki.test.raw):
    verify) # the kernel tests; the prompt pass's attention (cuBLAS, P scaled by 2^14) against the CPU
      both_tests
      M=/tmp/models; mkdir -p $M
      [ -d $M/gpt2-f16 ] || timeout 200 python3 make_models.py models/qb-gpt2-10m $M gpt2-f16 \
        >"$OUT/make_models.log" 2>&1 || echo "synthetic gpt2 failed"
      vs gpt2-f16 -m $M/gpt2-f16
      vs 10m-q4_0 -m models/qb-gpt2-10m-q4_0.gguf
      head -c 250000 data/wiki.test.raw >/tmp/w250.txt
      for dev in cpu cuda; do
        timeout 120 ./bin/ppl -m models/qb-gpt2-10m-q4_0.gguf -f /tmp/w250.txt --ctx 512 -t $T --device $dev -q |
          tee -a "$OUT/ppl.tsv" | cut -f1-3,10,11
      done ;;
    prod) # where the attention's body goes: the graph traced with product stamps
      GTRACE_BIN=cuda_decode_prod GTRACE_KNOBS="-" GTRACE_ARGS="-m gpt2-xl,gpt2 -w f16 -p 16 -n 32 -r 1" \
        ./run-device.sh gtrace | grep -E '^gtrace|^#|^name|^qkv|^attn|^proj' ;;
    ab2) # ATTN_TRIGGER=wait again, three rounds
      AB_ROUNDS=3 ab aw "-m gpt2-xl,gpt2 -w f16 -p 16 -n 128 -r 1" cuda_decode_aw ;;
    # Session 30. merge: staged with data/results/h100/attn-dac30a2/merge-every-thread.patch
    # applied and AB_OLD=HEAD (the whole path's merge by every thread against the committed one).
    merge)
      AB_ROUNDS=4 ab merge "-m gpt2-xl,gpt2 -w f16,q4_0 -p 16 -n 128 -r 1" "cuda_decode_old cuda_decode_aw" ;;
    # prod2, ab3: as the second call's, on main's merge; ATTN_TRIGGER=wait on every weight type.
    prod2)
      GTRACE_BIN=cuda_decode_prod GTRACE_KNOBS="-;ATTN_TRIGGER=wait" \
        GTRACE_ARGS="-m gpt2-xl,gpt2 -w f16,q4_0 -p 16 -n 32 -r 1" ./run-device.sh gtrace |
        grep -E '^gtrace|^#|^name|^qkv|^attn|^proj' ;;
    ab3)
      AB_ROUNDS=3 ab aw-all "-m gpt2-xl,gpt2 -w f32,f16,bf16,q8_0,q4_0,q4_k,iq4_nl -p 16 -n 128 -r 1" cuda_decode_aw ;;
    # Sessions 31-33: pfcheck, pfab and pftrace measured QB_CUDA_ATTN_PF (the decode attention sending
    # the next GEMVs' weights towards L2); it lost everywhere and is gone (data/results/h100/ab-attn-pf-12d59e0).
  esac
done
pack "$@"
