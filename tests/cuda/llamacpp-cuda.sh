#!/usr/bin/env bash
# The GPU peer llama.cpp, side by side with qbench on the same GGUF files.
# Runs on the GPU machine from a folder staged by tests/cuda/stage-llamacpp.sh:
#   llama-src.tar.gz  llama.cpp as vendored in the llama-cpp-python sdist (the
#                     version the CPU peer uses), built here with CUDA for sm_90
#   bin/ lib/         our quantize and generate (from a stage.sh folder)
#   tok/              GPT-2's vocab.json and merges.txt (the device has no network)
#   make_synth.py     synthetic checkpoints of the hub shapes (transformers)
# For each shape in SHAPES (seeded random weights) and type in
# TYPES (quantize --type T; T+e also quantizes the embeddings and so the tied
# output: --embed T), one GGUF file is written by our quantize and decoded by both: ours with
# generate --device cuda (the seed prompt, NEW tokens, REPEATS runs), llama.cpp
# with llama-bench (tg NEW, all layers offloaded, REPEATS runs). llama.cpp builds
# in the background while ours runs, niced, so our timings have the CPU first.
# Output: $OUT/peers-llamacpp.tsv (one row per system x shape x type, mean and
# std of decode tokens/s), $OUT/llama-build.log, $OUT/llama-bench.jsonl.
set -uo pipefail
cd "$(dirname "$0")"
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
SHAPES=${SHAPES:-gpt2 gpt2-xl}
TYPES=${TYPES:-f16 q8_0 q4_0}
NEW=${NEW:-256}
REPEATS=${REPEATS:-3}
DEADLINE=${DEADLINE:-560} # seconds after start by which llama-bench must have begun
start=$(date +%s)
cublas=$(find /usr/local/cuda*/lib64 /usr/local/cuda*/targets /opt -name 'libcublas.so.1*' 2>/dev/null | head -1)
export LD_LIBRARY_PATH=$PWD/lib:${cublas:+$(dirname "$cublas"):}${LD_LIBRARY_PATH:-}
T=$(nproc)
prompt="Once upon a time, there was a magical forest"

# ---- llama.cpp: configure and build llama-bench in the background ----------
L=/tmp/llama.cpp
rm -rf "$L"; tar xzf llama-src.tar.gz -C /tmp
(
  cmake -S "$L" -B "$L/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DGGML_CUDA=ON \
    -DCMAKE_CUDA_ARCHITECTURES=90 -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF \
    -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_OPENSSL=OFF -DGGML_CUDA_NCCL=OFF &&
    nice -n 19 ninja -C "$L/build" -j "$T" llama-bench
) >"$OUT/llama-build.log" 2>&1 &
build=$!

# ---- ours: files and runs -----------------------------------------------------
{
  echo "# date: $(date -u +%FT%TZ)"
  echo "# gpu: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader)"
  echo "# cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $T cpus"
  echo "# commit: $(cat COMMIT 2>/dev/null); llama.cpp: as vendored in llama-cpp-python $(cat LLAMA_VERSION 2>/dev/null), CUDA sm_90, flash attention auto"
  echo "# command: tests/cuda/llamacpp-cuda.sh (SHAPES='$SHAPES' TYPES='$TYPES' NEW=$NEW REPEATS=$REPEATS)"
  echo "# qbench: generate --device cuda, prompt '$prompt', $NEW new tokens, decode_tok_s; llama.cpp: llama-bench -ngl 99 -p 0 -n $NEW (tg$NEW from an empty context)"
  printf 'system\tmodel\ttype\tfile_mb\tdecode_tok_s_mean\tdecode_tok_s_std\truns\n'
} >"$OUT/peers-llamacpp.tsv"
mean_std() { awk '{s+=$1; q+=$1*$1; n++} END {if (n) {m=s/n; v=q/n-m*m; printf "%.1f\t%.1f\t%d", m, (v>0?sqrt(v):0), n} else printf "\t\t0"}'; }
G=/tmp/gguf; S=/tmp/syn; mkdir -p "$G" "$S"
for m in $SHAPES; do
  timeout 240 python3 make_synth.py "$m" "$S/$m" tok >/dev/null || { echo "make_synth $m failed"; continue; }
  for ty in $TYPES; do
    f=$G/$m-$ty.gguf
    base=${ty%+e}; embed=(); [ "$base" != "$ty" ] && embed=(--embed "$base")
    timeout 200 ./bin/quantize "$S/$m" "$f" --type "$base" "${embed[@]}" -t "$T" -q --report /dev/null >/dev/null || { echo "quantize $m $ty failed"; continue; }
    ./bin/generate -m "$f" --device cuda -p "$prompt" -n 8 --ignore-eos -q >/dev/null 2>&1 # warm-up
    for r in $(seq "$REPEATS"); do
      rm -f /tmp/g.tsv
      ./bin/generate -m "$f" --device cuda -p "$prompt" -n "$NEW" --ignore-eos -q --metrics /tmp/g.tsv >/dev/null 2>>"$OUT/ours.err" &&
        awk -F'\t' 'NR==1{for(i=1;i<=NF;i++)h[$i]=i; next} !/^#/{print $h["decode_tok_s"]}' /tmp/g.tsv
    done | mean_std | { read -r line; printf 'qbench\t%s\t%s\t%.1f\t%s\n' "$m" "$ty" "$(du -m "$f" | cut -f1)" "$line"; } >>"$OUT/peers-llamacpp.tsv"
  done
  rm -rf "${S:?}/$m/model.safetensors"
done
echo "== ours done at $(( $(date +%s) - start )) s"; cat "$OUT/peers-llamacpp.tsv"

# ---- llama.cpp runs ---------------------------------------------------------------
while kill -0 $build 2>/dev/null && [ $(( $(date +%s) - start )) -lt "$DEADLINE" ]; do sleep 5; done
if kill -0 $build 2>/dev/null; then
  echo "llama.cpp build not done by ${DEADLINE}s: $(grep -c '^\[' "$OUT/llama-build.log") steps logged"; tail -3 "$OUT/llama-build.log"; exit 1
fi
wait $build; echo "llama.cpp build rc=$? at $(( $(date +%s) - start )) s"; tail -2 "$OUT/llama-build.log"
B=$L/build/bin/llama-bench
[ -x "$B" ] || { echo "no llama-bench"; exit 1; }
for m in $SHAPES; do
  for ty in $TYPES; do
    f=$G/$m-$ty.gguf; [ -f "$f" ] || continue
    timeout 120 "$B" -m "$f" -ngl 99 -p 0 -n "$NEW" -r "$REPEATS" -o jsonl 2>>"$OUT/llama-bench.err" | tee -a "$OUT/llama-bench.jsonl" |
      python3 -c '
import json, sys
for line in sys.stdin:
    r = json.loads(line)
    if r.get("n_gen"):
        print(*r["samples_ts"], sep="\n")
' | mean_std | { read -r line; printf 'llama.cpp\t%s\t%s\t%.1f\t%s\n' "$m" "$ty" "$(du -m "$f" | cut -f1)" "$line"; } >>"$OUT/peers-llamacpp.tsv"
  done
done
echo "== all done at $(( $(date +%s) - start )) s"; cat "$OUT/peers-llamacpp.tsv"
