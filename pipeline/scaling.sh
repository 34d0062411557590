#!/usr/bin/env bash
# scaling.sh SPEED.tsv NTOK [GPU.tsv...]: decode speed-up over f32 by model size, one row per
# model x variant x device (CPU at the most threads measured; GPU rows from committed runs).
# Columns: model params_m variant device ratio. Parameter counts (millions, tied lm_head counted
# once) come from data/models/MODEL/config.json where it exists, else from GPT-2's published
# shapes; synth-NAME has NAME's.
set -euo pipefail
speed=$1 ntok=$2; shift 2
known="qb-gpt2-10m 9.98 gpt2 124.4 distilgpt2 81.9 gpt2-medium 354.8 gpt2-large 774.0 gpt2-xl 1557.6"
for cfg in data/models/*/config.json; do
  [ -f "$cfg" ] || continue
  p=$(python3 - "$cfg" <<'PY' 2>/dev/null || true
import json, sys
c = json.load(open(sys.argv[1]))
E, L, V, T = c["n_embd"], c["n_layer"], c["vocab_size"], c.get("n_positions", c.get("n_ctx"))
I = c.get("n_inner") or 4 * E
print("%.4g" % ((V * E + T * E + L * (4 * E + 4 * E * E + 4 * E + 2 * E * I + I + E) + 2 * E) / 1e6))
PY
)
  [ -n "$p" ] && known="$known $(basename "$(dirname "$cfg")") $p"
done
printf 'model\tparams_m\tvariant\tdevice\tratio\n'
awk -F'\t' -v OFS='\t' -v ntok="$ntok" -v known="$known" '
  BEGIN { n = split(known, a, " "); for (i = 1; i < n; i += 2) params[a[i]] = a[i + 1] }
  FNR == 1 { file++; delete c; hdr = 0 }
  /^#/ { next }
  !hdr { hdr = 1; for (i = 1; i <= NF; i++) c[$i] = i; next }
  {
    m = $c["model"]; base = m; if (!(base in params)) sub(/^synth-/, "", base); if (!(base in params)) next
    v = ("variant" in c) ? $c["variant"] : $c["type"]
    d = ("device" in c) ? $c["device"] : "cuda"
    t = ("threads" in c) ? $c["threads"] + 0 : 1
    n = ("new_tokens" in c) ? $c["new_tokens"] + 0 : ntok
    r = ("decode_tok_s" in c) ? $c["decode_tok_s"] : $c["decode_tok_s_mean"]
    if (("warmup" in c) && $c["warmup"] == 1) next
    if (file == 1 && n != ntok) next
    key = m SUBSEP d
    # keep, per model x device, the rows of the largest thread count
    if (t > maxt[key]) { maxt[key] = t; for (k in val) { split(k, p, SUBSEP); if (p[1] == m && p[2] == d) { delete val[k]; delete cnt[k] } } }
    if (t < maxt[key]) next
    k = m SUBSEP d SUBSEP v; val[k] += r; cnt[k]++; P[m] = params[base]
  }
  END {
    for (k in val) { split(k, p, SUBSEP); f = p[1] SUBSEP p[2] SUBSEP "f32"
      if (f in val && val[f] > 0) print p[1], P[p[1]], p[3], p[2], (val[k] / cnt[k]) / (val[f] / cnt[f]) }
  }' "$speed" "$@" | sort -t$'\t' -k4,4 -k3,3 -k2,2g
