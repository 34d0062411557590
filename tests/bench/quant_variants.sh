#!/usr/bin/env bash
# Every quantization variant of qb-gpt2-10m side by side in one run: file size,
# bits per weight, perplexity on a fixed slice of the in-domain text (64 KiB of
# qb-corpus valid.txt, ctx 512, stride 256), decode tok/s and TTFT at 1 and 2
# threads (median of 3 runs of 128 new tokens), and the decode speed-up over
# f32. Full-text PPL (wiki.test.raw, all of valid.txt) is the pipeline's job.
# Env: QB_MIRROR (models, datasets), VARIANTS (names below), REPEATS.
set -euo pipefail
ROOT=${QB_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
MIRROR=${QB_MIRROR:-$ROOT/../shared/mirror}
M=$MIRROR/models/qb-gpt2-10m
TEXT=$MIRROR/datasets/qb-corpus/valid.txt
B=$ROOT/bin
REPEATS=${REPEATS:-3}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
head -c 65536 "$TEXT" >"$T/slice.txt"
head -c 32768 "$TEXT" >"$T/calib.txt"
declare -A ARGS=(
  [f32]="--type f32" [f16]="--type f16 --embed f16" [bf16]="--type bf16 --embed bf16"
  [int8-dynamic]="--preset int8-dynamic" [int8-all]="--preset int8-all"
  [int8-static]="--preset int8-static --calib $T/calib.txt"
  [q8_0]="--type q8_0 --embed q8_0" [q4_0]="--type q4_0 --embed q4_0" [q4_1]="--type q4_1 --embed q4_1"
  [iq4_nl]="--type iq4_nl --embed iq4_nl" [q4_k_m]="--preset q4_k_m")
VARIANTS=${VARIANTS:-f32 f16 bf16 int8-dynamic int8-all int8-static q8_0 q4_0 q4_1 iq4_nl q4_k_m}
echo "# machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cpus; commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
echo "# command: tests/bench/quant_variants.sh (qb-gpt2-10m; ppl on 64 KiB of valid.txt, ctx 512 stride 256; decode of 128 tokens, median of $REPEATS)"
col() { awk -F'\t' -v name="$2" '/^#/ {next} !h {for (i = 1; i <= NF; i++) if ($i == name) c = i; h = 1; next} {print (c ? $c : ""); exit}' "$1"; }
median() { sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
printf 'variant\tact\tfile_mb\tbpw\tppl\tdecode_t1\tdecode_t2\tttft_ms_t1\tspeedup_t1\tspeedup_t2\n'
declare -A base
for v in $VARIANTS; do
  # shellcheck disable=SC2086
  "$B/quantize" "$M" "$T/$v.gguf" ${ARGS[$v]} -q >"$T/sum" 2>/dev/null
  "$B/ppl" -m "$T/$v.gguf" -f "$T/slice.txt" --stride-half -t 2 -q >"$T/ppl"
  row=()
  for th in 1 2; do
    for r in $(seq "$REPEATS"); do
      "$B/generate" -m "$T/$v.gguf" -p "Once upon a time, there was a magical forest" -n 128 --ignore-eos -t "$th" -q \
        --metrics "$T/g$th.$r" >/dev/null
    done
    row+=("$(for r in $(seq "$REPEATS"); do col "$T/g$th.$r" decode_tok_s; done | median)")
    [ "$th" = 1 ] && ttft=$(for r in $(seq "$REPEATS"); do col "$T/g$th.$r" ttft_s; done | median)
  done
  [ "$v" = f32 ] && base[1]=${row[0]} && base[2]=${row[1]}
  awk -v v="$v" -v act="$(col "$T/ppl" act)" -v fb="$(col "$T/sum" file_bytes)" -v bpw="$(col "$T/sum" bits_per_weight)" \
    -v ppl="$(col "$T/ppl" ppl)" -v d1="${row[0]}" -v d2="${row[1]}" -v tt="$ttft" -v b1="${base[1]:-0}" -v b2="${base[2]:-0}" \
    'BEGIN {printf "%s\t%s\t%.2f\t%.3f\t%.3f\t%.1f\t%.1f\t%.2f\t%s\t%s\n", v, act, fb / 1048576, bpw, ppl, d1, d2, tt * 1000,
            (b1 > 0 ? sprintf("%.2f", d1 / b1) : ""), (b2 > 0 ? sprintf("%.2f", d2 / b2) : "")}'
done
