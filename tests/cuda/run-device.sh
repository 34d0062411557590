#!/usr/bin/env bash
# Runs on the GPU machine from the staged folder (tests/cuda/stage.sh). Steps
# (default: tests ceilings):
#   tests     the CUDA kernel tests (TAP log)
#   check     a candidate's quick check: the kernel tests with the folded layernorm on and off
#             (QB_CUDA_LN_FOLD=0), and GPU vs CPU on qb-gpt2-10m and its q4_0 GGUF (stage.sh
#             writes it) with the fold on and off (vs_fold.txt, vs_nofold.txt)
#   ceilings  copy bandwidth, cuBLAS F16 GEMM rate, GEMV per type vs copy bandwidth
#   chain     the GPU's own hand-over cost (bin/cuda_chain): a link of a chain of dependent
#             kernels, PDL or not, or waiting on flags instead of the previous kernel's end,
#             and a round of a grid barrier, with 0, 1600 or 6400 floats
#   mlp       the decode MLP as one kernel or two (bin/cuda_mlp): a chain of gpt2-xl's and
#             gpt2's layers, F16, Q8 and Q4 weights, partial sums by atomics or ordered
#   correct   GPU vs CPU on qb-gpt2-10m and a synthetic gpt2 124M (f32/f16/bf16
#             checkpoints written here by transformers): logits, greedy tokens, PPL
#   decode    the speed matrix (synthetic gpt2..gpt2-xl x types), cuda_decode
#   persistent  the decode step as one persistent kernel (QB_CUDA_STEP=persistent):
#             GPU vs CPU (qb-gpt2-10m, and the synthetic gpt2 f16 if 'correct' ran),
#             then cuda_decode per setting of the knobs (STEP_KNOBS: settings
#             separated by ';', each QB_CUDA_* suffixes like "STEP_BPS=2 STEP_R=1";
#             PREFETCH=1|2 is the graph's L2 prefetch; STEP_ACT=int8 runs the q8_0/q4_0
#             GEMVs W8A8 with dp4a, a what-if: its rows are not weight-only; STEP_EARLY=1
#             loads before the barrier; STEP_WORK=0 skips the ops' work, the step's fixed
#             cost; STEP_ARGS): decode_persistent_tok_s beside the graph's, repeats interleaved
#   trace     the persistent step traced (QB_CUDA_STEP_TRACE): per op name, what it
#             adds to a step, its barrier's latency, body and tail (trace_summary.py),
#             per setting of TRACE_KNOBS (as STEP_KNOBS; default: block mode R 4 and 8; warp mode),
#             TRACE_ARGS (default -m gpt2-xl,gpt2 -w f16,q4_0 -n 32 -r 1)
#   gtrace    the replayed graph traced (QB_CUDA_TRACE): per op name, what it adds to
#             a step, the kernel boundary's latency, how early its blocks began, body
#             and tail (trace_summary.py), per setting of GTRACE_KNOBS (as STEP_KNOBS,
#             "-" for none; default: none, and ONE_LAYER=1, every layer on layer 0's
#             weights, which stay in L2 where they fit), GTRACE_ARGS (default -m
#             gpt2-xl,gpt2-medium,gpt2 -w f16,q4_0 -n 32 -r 1), GTRACE_BIN (default
#             cuda_decode; cuda_decode_prod, staged by TRACE_PRODUCT=1, also splits
#             each body at its blocks' product)
#   ab        builds side by side: bin/cuda_decode and every bin/cuda_decode_* (stage
#             them there yourself: an old commit, another register cap) or those AB_BINS
#             names, AB_ROUNDS (default 2) rounds of each, interleaved, AB_ARGS (default
#             -m gpt2-xl,gpt2 -w f16,q4_0 -n 128 -r 2), into $OUT/AB_NAME.tsv (default ab);
#             then each build's mean decode tok/s (and the rounds'); the QB_CUDA_* knobs
#             of the environment apply to all
#   drop      the graph's decode step with each named step left out in turn
#             (QB_CUDA_DROP; DROP_SETS, DROP_ARGS): what a step costs in the chain
#   gguf      GPU vs CPU on GGUF files of every quantized type (bin/quantize here,
#             from qb-gpt2-10m and the synthetic gpt2 124M that 'correct' writes)
#   hf        transformers eager FP32/FP16 on the same shapes, for the ratio
#   profile   Nsight Compute: every kernel's isolated duration and DRAM bytes in
#             a short cuda_decode run (PROFILE_ARGS, default gpt2:f16), CSV; about
#             3 min for gpt2 (every warm-up and tuning launch is profiled too;
#             gpt2-xl needs more than 200 s). Isolated, cache-flushed times
#             overstate what a kernel costs inside the PDL chain: use them to
#             rank kernels, and cuda_decode A/B runs to decide.
#   ncu       Nsight Compute's full set on a few launches of one kernel (NCU_RUNS:
#             "kernel-regex:skip:model:type:VAR=v,VAR=v" items, default the persistent
#             step in block mode and the graph path's GEMV, gpt2 f16): CSV details page
#   peers     pipeline/peers/gpu_bench.py (our protocol's rows: eager f32/f16/bf16,
#             torch.compile, bitsandbytes where it imports), GPU_BENCH_ARGS
# Logs and TSVs go to $OUT.
set -uo pipefail
cd "$(dirname "$0")"
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
cublas=$(find /usr/local/cuda*/lib64 /usr/local/cuda*/targets /opt -name 'libcublas.so.1*' 2>/dev/null | head -1)
export LD_LIBRARY_PATH=$PWD/lib:${cublas:+$(dirname "$cublas"):}${LD_LIBRARY_PATH:-}
export PYTHONUNBUFFERED=1
{
  echo "# date: $(date -u +%FT%TZ)"
  echo "# gpu: $(nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv,noheader)"
  echo "# cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cpus"
  echo "# cuda: $(nvcc --version 2>/dev/null | tail -1); cublas: ${cublas:-not found}"
  echo "# kernel: $(uname -r); glibc: $(ldd --version | head -1)"
  echo "# commit: $(cat COMMIT 2>/dev/null)"
} | tee "$OUT/machine.txt"
T=$(nproc)
steps=${*:-tests ceilings}
for s in $steps; do
  echo "== $s ($(date +%T))"
  case $s in
    tests) timeout 300 ./bin/test_cuda >"$OUT/test_cuda.log" 2>&1; echo "test_cuda rc=$?"; grep -E '^not ok|^# seed|^1\.\.' "$OUT/test_cuda.log"; grep -c '^ok' "$OUT/test_cuda.log" ;;
    check)
      for f in 1 0; do
        QB_CUDA_LN_FOLD=$f timeout 300 ./bin/test_cuda >"$OUT/test_cuda_fold$f.log" 2>&1
        echo "test_cuda fold $f rc=$? $(grep -c '^ok' "$OUT/test_cuda_fold$f.log") ok, $(grep -c '^not ok' "$OUT/test_cuda_fold$f.log") not ok"
      done
      for m in models/qb-gpt2-10m models/qb-gpt2-10m-q4_0.gguf; do
        [ -e "$m" ] || { echo "missing $m"; continue; }
        timeout 60 ./bin/cuda_vs_cpu -m "$m" -t $T >>"$OUT/vs_fold.txt" 2>&1
        QB_CUDA_LN_FOLD=0 timeout 60 ./bin/cuda_vs_cpu -m "$m" -t $T >>"$OUT/vs_nofold.txt" 2>&1
      done
      for f in fold nofold; do echo "== vs $f"; cut -f1-10 "$OUT/vs_$f.txt"; done ;;
    ceilings) timeout 400 ./bin/cuda_ceilings >"$OUT/ceilings.tsv" 2>&1; echo "ceilings rc=$?"; tail -3 "$OUT/ceilings.tsv" ;;
    correct)
      M=/tmp/models; mkdir -p $M
      timeout 200 python3 make_models.py models/qb-gpt2-10m $M >"$OUT/make_models.log" 2>&1 || { echo "make_models failed"; tail "$OUT/make_models.log"; }
      head -c 60000 data/wiki.test.raw >/tmp/wiki60k.txt
      rm -f "$OUT/vs_cpu.tsv" "$OUT/ppl.tsv"
      for d in models/qb-gpt2-10m $M/qb-gpt2-10m-f16 $M/qb-gpt2-10m-bf16 $M/gpt2-f32 $M/gpt2-f16 $M/gpt2-bf16; do
        [ -d "$d" ] || { echo "missing $d"; continue; }
        rm -f /tmp/vs.tsv; timeout 120 ./bin/cuda_vs_cpu -m "$d" -t $T >/tmp/vs.tsv 2>>"$OUT/correct.err" || echo "cuda_vs_cpu $d failed"
        [ -s "$OUT/vs_cpu.tsv" ] && tail -n +2 /tmp/vs.tsv >>"$OUT/vs_cpu.tsv" || cat /tmp/vs.tsv >>"$OUT/vs_cpu.tsv"
        case $d in *qb-gpt2-10m*) txt=data/wiki.test.raw; ctx=512 ;; *) txt=/tmp/wiki60k.txt; ctx=1024 ;; esac
        for dev in cpu cuda; do
          rm -f /tmp/p.tsv; timeout 200 ./bin/ppl -m "$d" -f $txt --ctx $ctx -t $T --device $dev -q -o /tmp/p.tsv 2>>"$OUT/correct.err" || echo "ppl $d $dev failed"
          [ -s "$OUT/ppl.tsv" ] && tail -n +2 /tmp/p.tsv >>"$OUT/ppl.tsv" || cat /tmp/p.tsv >>"$OUT/ppl.tsv"
        done
        rm -f /tmp/g.tsv; timeout 60 ./bin/generate -m "$d" -p "The history of the city" -n 40 --ignore-eos -t $T -q --metrics /tmp/g.tsv --device cuda 2>>"$OUT/correct.err" && { [ -s "$OUT/generate.tsv" ] && tail -n +2 /tmp/g.tsv >>"$OUT/generate.tsv" || cat /tmp/g.tsv >>"$OUT/generate.tsv"; }
      done
      cut -f1-8 "$OUT/vs_cpu.tsv"; cut -f1,2,3,10,11,16,19 "$OUT/ppl.tsv" ;;
    gguf)
      M=/tmp/models; G=/tmp/gguf; mkdir -p $M $G
      [ -d $M/gpt2-f32 ] || timeout 200 python3 make_models.py models/qb-gpt2-10m $M >"$OUT/make_models.log" 2>&1 || echo "make_models failed"
      head -c 60000 data/wiki.test.raw >/tmp/wiki60k.txt; head -c 250000 data/wiki.test.raw >/tmp/wiki250k.txt
      for d in models/qb-gpt2-10m $M/gpt2-f32; do
        [ -d "$d" ] || { echo "missing $d"; continue; }
        for ty in q8_0 q4_0 q4_1 q4_k q6_k iq4_nl; do
          f=$G/$(basename "$d")-$ty.gguf
          timeout 120 ./bin/quantize "$d" "$f" --type $ty --embed $ty -t $T -q --report /dev/null >/dev/null 2>>"$OUT/gguf.err" || { echo "quantize $d $ty failed"; continue; }
          rm -f /tmp/vs.tsv; timeout 120 ./bin/cuda_vs_cpu -m "$f" -t $T >/tmp/vs.tsv 2>>"$OUT/gguf.err" || echo "cuda_vs_cpu $f failed"
          awk -F'\t' -v OFS='\t' -v n="$(basename "$f" .gguf)" -v skip="$([ -s "$OUT/gguf_vs_cpu.tsv" ] && echo 1)" 'NR==1 { if (!skip) print; next } { $1 = n; print }' /tmp/vs.tsv >>"$OUT/gguf_vs_cpu.tsv"
          case $d in *qb-gpt2-10m*) txt=/tmp/wiki250k.txt; ctx=512 ;; *) txt=/tmp/wiki60k.txt; ctx=1024 ;; esac
          for dev in cpu cuda; do
            rm -f /tmp/p.tsv; timeout 200 ./bin/ppl -m "$f" -f $txt --ctx $ctx -t $T --device $dev -q -o /tmp/p.tsv 2>>"$OUT/gguf.err" || echo "ppl $f $dev failed"
            { [ -s "$OUT/gguf_ppl.tsv" ] && tail -n +2 /tmp/p.tsv || cat /tmp/p.tsv; } >>"$OUT/gguf_ppl.tsv"
          done
        done
      done
      cut -f1-8 "$OUT/gguf_vs_cpu.tsv"; cut -f1,2,3,10,11 "$OUT/gguf_ppl.tsv" ;;
    peers) timeout ${PEERS_TIMEOUT:-400} python3 gpu_bench.py ${GPU_BENCH_ARGS:-} -o "$OUT/peers-transformers.tsv" 2>"$OUT/peers.err"; echo "gpu_bench rc=$?"; cut -f1-12 "$OUT/peers-transformers.tsv" | head -60; tail -5 "$OUT/peers.err" ;;
    persistent)
      M=/tmp/models
      for d in models/qb-gpt2-10m $([ -d $M/gpt2-f16 ] && echo $M/gpt2-f16); do
        rm -f /tmp/vs.tsv; QB_CUDA_STEP=persistent timeout 120 ./bin/cuda_vs_cpu -m "$d" -t $T >/tmp/vs.tsv 2>>"$OUT/persistent.err" || echo "cuda_vs_cpu persistent $d failed"
        { [ -s "$OUT/persistent_vs_cpu.tsv" ] && tail -n +2 /tmp/vs.tsv || cat /tmp/vs.tsv; } >>"$OUT/persistent_vs_cpu.tsv"
      done
      cut -f1-8 "$OUT/persistent_vs_cpu.tsv"
      IFS=";" read -ra sets <<<"${STEP_KNOBS:-STEP_R=8;STEP_R=2;STEP_OPS=global;STEP_GEMV=warp;STEP_BAR=acqrel;STEP_PF=0;STEP_WORK=0}"
      for knobs in "${sets[@]}"; do
        k=${knobs// /_}; f="$OUT/step-${k//=/-}.tsv" # file names the device tool brings back have no =
        env QB_CUDA_STEP_VERBOSE=1 $(for k in $knobs; do echo "QB_CUDA_$k"; done) timeout ${STEP_TIMEOUT:-120} ./bin/cuda_decode ${STEP_ARGS:--m gpt2-xl,gpt2 -w f16,q4_0 -n 128 -r 2} >"$f" 2>>"$OUT/persistent.err"
        echo "knobs $knobs rc=$?"; cut -f1,2,7,14,16,17 "$f"
      done
      grep -m3 'decode step:' "$OUT/persistent.err"; tail -3 "$OUT/persistent.err" ;;
    trace)
      IFS=";" read -ra sets <<<"${TRACE_KNOBS:-STEP_R=4;STEP_R=8;STEP_GEMV=warp}"
      for knobs in "${sets[@]}"; do
        f="$OUT/trace-$(echo "$knobs" | tr ' =' '_-').tsv"; rm -f "$f"
        env QB_CUDA_STEP_TRACE="$f" $(for k in $knobs; do echo "QB_CUDA_$k"; done) timeout ${TRACE_TIMEOUT:-120} ./bin/cuda_decode ${TRACE_ARGS:--m gpt2-xl,gpt2 -w f16,q4_0 -n 32 -r 1} >"${f%.tsv}.decode.tsv" 2>>"$OUT/trace.err"
        echo "trace $knobs rc=$?"; cut -f1,2,7,16 "${f%.tsv}.decode.tsv"
        [ -s "$f" ] && python3 trace_summary.py "$f" | tee "${f%.tsv}.summary.txt"
      done; tail -3 "$OUT/trace.err" ;;
    gtrace)
      IFS=";" read -ra sets <<<"${GTRACE_KNOBS:--;ONE_LAYER=1}"
      for knobs in "${sets[@]}"; do
        f="$OUT/gtrace-$(echo "$knobs" | tr ' =' '_-').tsv"; rm -f "$f"; [ "$knobs" = - ] && knobs=
        env QB_CUDA_TRACE="$f" $(for k in $knobs; do echo "QB_CUDA_$k"; done) timeout ${TRACE_TIMEOUT:-150} ./bin/${GTRACE_BIN:-cuda_decode} ${GTRACE_ARGS:--m gpt2-xl,gpt2-medium,gpt2 -w f16,q4_0 -n 32 -r 1} >"${f%.tsv}.decode.tsv" 2>>"$OUT/gtrace.err"
        echo "gtrace ${knobs:--} rc=$?"; cut -f1,2,7,14 "${f%.tsv}.decode.tsv"
        [ -s "$f" ] && python3 trace_summary.py "$f" | tee "${f%.tsv}.summary.txt"
      done; tail -3 "$OUT/gtrace.err" ;;
    ab)
      bins=${AB_BINS:-$(cd bin && ls cuda_decode_* 2>/dev/null)}
      [ -n "$bins" ] || { echo "no bin/cuda_decode_* to compare with"; continue; }
      f="$OUT/${AB_NAME:-ab}.tsv"
      for r in $(seq ${AB_ROUNDS:-2}); do
        for b in cuda_decode $bins; do
          timeout ${AB_TIMEOUT:-120} ./bin/$b ${AB_ARGS:--m gpt2-xl,gpt2 -w f16,q4_0 -n 128 -r 2} >/tmp/ab.tsv 2>>"${f%.tsv}.err"
          echo "$b round $r rc=$?"
          awk -F'\t' -v b=$b -v r=$r 'NR==1 && /^#/ { next } !h++ { print "build\tround\t" $0; next } { print b "\t" r "\t" $0 }' /tmp/ab.tsv >>"$f"
        done
      done
      awk -F'\t' 'NR==1 { for (i = 1; i <= NF; i++) c[$i] = i; next } $1 != "build" { k = $(c["model"]) " " $(c["type"]) " " $1; s[k] += $(c["decode_tok_s"]); n[k]++; v[k] = v[k] " " $(c["decode_tok_s"]) } END { for (k in s) printf "%s %.1f (%s)\n", k, s[k] / n[k], v[k] }' "$f" | sort ;;
    drop)
      # What each named step costs inside the replayed chain: the step time saved
      # when the decode step leaves it out (QB_CUDA_DROP; the tokens are then wrong).
      for d in "" ${DROP_SETS:-attention proj qkv fc mproj qkv,attention,proj,fc,mproj}; do
        f="$OUT/drop-${d:-none}.tsv"; f=${f//,/+}
        QB_CUDA_DROP=$d timeout ${DROP_TIMEOUT:-120} ./bin/cuda_decode ${DROP_ARGS:--m gpt2-xl,gpt2 -w f16,q4_0 -n 128 -r 2} >"$f" 2>>"$OUT/drop.err"
        echo "drop ${d:-none} rc=$?"; awk -F'\t' '/^#/ { next } !h++ { for (i = 1; i <= NF; i++) c[$i] = i; next } { printf "%s %s %s us/step\n", $(c["model"]), $(c["type"]), 1e6 / $(c["decode_tok_s"]) }' "$f"
      done ;;
    stepprof)
      # The graph path's named steps, each timed apart (QB_GPU_PROFILE: events between
      # them in the eager path, so no overlap between steps; an upper bound for each).
      QB_GPU_PROFILE=1 timeout ${STEPPROF_TIMEOUT:-120} ./bin/cuda_decode ${STEPPROF_ARGS:--m gpt2-xl,gpt2 -w f16,q4_0 -n 64 -r 1} >"$OUT/stepprof.tsv" 2>"$OUT/stepprof.err"
      echo "stepprof rc=$?"; cut -f1,2,7,8 "$OUT/stepprof.tsv"; grep -i "profile\|ms\b" "$OUT/stepprof.err" | head -20 ;;
    decode) timeout ${DECODE_TIMEOUT:-330} ./bin/cuda_decode ${DECODE_ARGS:-} >"$OUT/decode.tsv" 2>"$OUT/decode.err"; echo "decode rc=$?"; cut -f1-2,6-7,9,14 "$OUT/decode.tsv"; tail -3 "$OUT/decode.err" ;;
    profile)
      ncu=$(command -v ncu || ls /usr/local/cuda*/bin/ncu /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
      [ -n "$ncu" ] || { echo "no ncu"; continue; }
      for a in ${PROFILE_ARGS:-gpt2:f16}; do
        m=${a%%:*}; w=${a#*:}
        timeout ${PROFILE_TIMEOUT:-200} "$ncu" --clock-control none --cache-control all --csv --page raw \
          --metrics gpu__time_duration.sum,dram__bytes_read.sum,launch__grid_size,launch__block_size,launch__registers_per_thread \
          ./bin/cuda_decode -m "$m" -w "$w" -p 16 -n 4 -P 16 -r 1 >"$OUT/ncu-$m-$w.csv" 2>"$OUT/ncu-$m-$w.err"
        echo "ncu $m $w rc=$? $(wc -l <"$OUT/ncu-$m-$w.csv") lines"; tail -2 "$OUT/ncu-$m-$w.err"
      done ;;
    ncu)
      # Nsight Compute's full set (stall reasons, occupancy, memory) on a few
      # launches of one kernel: NCU_RUNS, each "kernel-regex:launches-to-skip:model:type:env".
      ncu=$(command -v ncu || ls /usr/local/cuda*/bin/ncu /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
      [ -n "$ncu" ] || { echo "no ncu"; continue; }
      for r in ${NCU_RUNS:-k_decode_step:4:gpt2:f16:QB_CUDA_STEP_GEMV=block k_gemv:600:gpt2:f16:-}; do
        IFS=: read -r kn skip m w e <<<"$r"; f="$OUT/ncu-$kn-$m-$w"
        env $([ "$e" != - ] && echo "${e//,/ }") timeout ${NCU_TIMEOUT:-240} "$ncu" --set full --kernel-name "regex:$kn" \
          --launch-skip "$skip" --launch-count ${NCU_COUNT:-4} --csv --page details \
          ./bin/cuda_decode -m "$m" -w "$w" -p 16 -n 16 -r 1 >"$f.csv" 2>"$f.err"
        echo "ncu $r rc=$? $(wc -l <"$f.csv") lines"; tail -2 "$f.err"
        grep -E '"(Registers Per Thread|Achieved Occupancy|Theoretical Occupancy|Duration|Memory Throughput|DRAM Throughput|Warp Cycles Per Issued Instruction|Issued Warp Per Scheduler|No Eligible)"' "$f.csv" | cut -d, -f5,13- | head -30
      done ;;
    chain) timeout 60 ./bin/cuda_chain >"$OUT/chain.tsv" 2>&1; echo "chain rc=$?"; cat "$OUT/chain.tsv" ;;
    mlp) timeout 120 ./bin/cuda_mlp >"$OUT/mlp.tsv" 2>&1; echo "mlp rc=$?"; cat "$OUT/mlp.tsv" ;;
    hf) timeout 400 python3 hf_speed.py ${HF_ARGS:-} >"$OUT/hf.tsv" 2>"$OUT/hf.err"; echo "hf rc=$?"; cat "$OUT/hf.tsv"; tail -3 "$OUT/hf.err" ;;
    *) echo "unknown step $s" ;;
  esac
done
