#!/usr/bin/env bash
# Decode speed of the CPU engine against the memory-bandwidth floor.
# For each model (qb-gpt2-10m from the mirror, plus DECODE_MODELS, space-separated
# model paths) and thread count (DECODE_THREADS, default 1,2): one discarded
# warm-up, then DECODE_RUNS (default 5) fresh `generate -n DECODE_N --ignore-eos`
# processes (greedy, 128 new tokens by default). Reports the median decode tok/s
# (min, max), the median TTFT, the bytes a decode step reads (generate's
# step_bytes), the measured read bandwidth at the same thread count (membw, 512
# MiB) and floor_tok_s = bandwidth / step_bytes: frac = decode / floor is the
# achieved fraction of the roofline. A model that fits in the caches can exceed 1.
set -euo pipefail
cd "${QB_ROOT:-.}"
mirror=${QB_MIRROR:-../shared/mirror}
threads=${DECODE_THREADS:-1,2} runs=${DECODE_RUNS:-5} ntok=${DECODE_N:-128}
models=()
[ -d "$mirror/models/qb-gpt2-10m" ] && models+=("$mirror/models/qb-gpt2-10m")
for m in ${DECODE_MODELS:-}; do models+=("$m"); done
[ ${#models[@]} -gt 0 ] || { echo "# decode.sh: no model (qb-gpt2-10m not in $mirror; set QB_MIRROR or DECODE_MODELS)"; exit 0; }
echo "# machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cpus; load $(cut -d' ' -f1-3 /proc/loadavg); commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
echo "# command: bin/generate -m MODEL -p PROMPT -n $ntok --ignore-eos -q -t T (1 warm-up + $runs runs); build/bench/membw -s 512 -r 5 -t $threads"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
build/bench/membw -s 512 -r 5 -t "$threads" > "$tmp/bw"
prompt="Once upon a time, there was a magical forest"
printf 'model\tthreads\truns\tdecode_tok_s\tdecode_min\tdecode_max\tttft_s\tstep_bytes\tread_gbps\tfloor_tok_s\tfrac\n'
for m in "${models[@]}"; do
  for t in ${threads//,/ }; do
    bin/generate -m "$m" -p "$prompt" -n "$ntok" --ignore-eos -q -t "$t" --metrics "$tmp/warm" # discarded
    : > "$tmp/rows"
    for r in $(seq "$runs"); do
      bin/generate -m "$m" -p "$prompt" -n "$ntok" --ignore-eos -q -t "$t" --metrics "$tmp/row"
      tail -n 1 "$tmp/row" >> "$tmp/rows"
    done
    head -1 "$tmp/row" > "$tmp/hdr"
    awk -F'\t' -v OFS='\t' -v n=0 -v model="$(basename "$m")" -v t="$t" -v runs="$runs" '
      FNR == 1 { f++ }
      f == 1 && $1 == "read" && $2 == t { bw = $3 }
      f == 2 { for (i = 1; i <= NF; i++) c[$i] = i }
      f == 3 { d[n] = $c["decode_tok_s"]; q[n] = $c["ttft_s"]; sb = $c["step_bytes"]; n++ }
      function med(a, n,   i, j, x) { for (i = 1; i < n; i++) for (j = i; j > 0 && a[j-1] > a[j]; j--) { x = a[j]; a[j] = a[j-1]; a[j-1] = x }
                                     return n % 2 ? a[int(n/2)] : (a[n/2-1] + a[n/2]) / 2 }
      END { dm = med(d, n); lo = d[0]; hi = d[n-1]; qm = med(q, n); floor = bw * 1e9 / sb
            printf "%s\t%s\t%d\t%.1f\t%.1f\t%.1f\t%.4f\t%d\t%.2f\t%.1f\t%.2f\n", model, t, runs, dm, lo, hi, qm, sb, bw, floor, dm / floor }
    ' "$tmp/bw" "$tmp/hdr" "$tmp/rows"
  done
done
