#!/usr/bin/env bash
# gpu-bound.sh LATENCY.tsv: what bounds a GPU decode step, from the committed run of
# tests/cuda/w16-run.sh latency: per model x type, decode tok/s with every layer's own weights
# (from DRAM) and with every layer on layer 0's (held in L2 where a layer fits), the mean over
# the rounds; their ratio; the real step and its bandwidth floor in microseconds; the step's
# dependent launches (5 a layer, the embedding, lm_head, argmax) and the microseconds a launch.
# First a "# measured: ..." line from the run's header. Prints only the header when the file
# does not exist.
set -euo pipefail
in=${1:-}
[ -n "$in" ] && [ -f "$in" ] && sed -n '/^# measured: /{p;q}' "$in"
printf 'model\ttype\tn_layer\tlaunches\tdram_tok_s\tl2_tok_s\tl2_vs_dram\tstep_us\tfloor_step_us\tus_per_launch\n'
[ -n "$in" ] && [ -f "$in" ] || exit 0
awk -F'\t' -v OFS='\t' '
  BEGIN { layers["gpt2"] = 12; layers["gpt2-medium"] = 24; layers["gpt2-large"] = 36; layers["gpt2-xl"] = 48 }
  /^#/ { next }
  !hdr { hdr = 1; for (i = 1; i <= NF; i++) c[$i] = i; next }
  {
    k = $c["model"] SUBSEP $c["type"]
    if (!(k in floor)) { order[++n] = k; floor[k] = $c["floor_tok_s"] }
    s[k, $c["weights"]] += $c["decode_tok_s"]; m[k, $c["weights"]]++
  }
  END {
    for (i = 1; i <= n; i++) {
      k = order[i]; split(k, p, SUBSEP)
      if (!(p[1] in layers) || !m[k, "dram"] || !m[k, "l2"]) continue
      d = s[k, "dram"] / m[k, "dram"]; l = s[k, "l2"] / m[k, "l2"]; launches = 5 * layers[p[1]] + 3
      printf "%s\t%s\t%d\t%d\t%.1f\t%.1f\t%.3f\t%.0f\t%.0f\t%.2f\n", p[1], p[2], layers[p[1]], launches, d, l, l / d,
        1e6 / d, 1e6 / floor[k], 1e6 / d / launches
    }
  }' "$in"
