#!/usr/bin/env bash
# gpu-llamacpp.sh PEERS-LLAMACPP.tsv: the committed GPU llama.cpp run (tests/cuda/llamacpp-cuda.sh)
# as one row per model x file type: file size, our decode tok/s and llama.cpp's on the same GGUF
# file (mean ± std over the repeats), and the ratio ours / llama.cpp; first a "# measured: DATE at
# commit REV" line from the run's header, since both sides' rates are of that day's code. Prints
# only the header when the file does not exist.
set -euo pipefail
in=${1:-}
if [ -n "$in" ] && [ -f "$in" ]; then
  when=$(sed -n 's/^# date: \([0-9-]*\).*/\1/p' "$in" | head -1)
  rev=$(sed -n 's/^# commit: \([^;]*\).*/\1/p' "$in" | head -1)
  printf '# measured: %s at commit %s\n' "${when:-an unknown date}" "${rev:-unknown}"
fi
printf 'model\ttype\tfile_mb\tqbench_tok_s\tqbench_std\tllamacpp_tok_s\tllamacpp_std\tvs_llamacpp\n'
[ -n "$in" ] && [ -f "$in" ] || exit 0
awk -F'\t' -v OFS='\t' '
  /^#/ { next }
  !hdr { hdr = 1; for (i = 1; i <= NF; i++) c[$i] = i; next }
  {
    k = $c["model"] SUBSEP $c["type"]
    if (!(k in mb)) { order[++n] = k; mb[k] = $c["file_mb"] }
    m[k, $c["system"]] = $c["decode_tok_s_mean"]; s[k, $c["system"]] = $c["decode_tok_s_std"]
  }
  END {
    for (i = 1; i <= n; i++) {
      k = order[i]; split(k, p, SUBSEP)
      q = m[k, "qbench"]; l = m[k, "llama.cpp"]
      print p[1], p[2], mb[k], q, s[k, "qbench"], l, s[k, "llama.cpp"], (q != "" && l > 0) ? sprintf("%.3g", q / l) : ""
    }
  }' "$in"
