#!/usr/bin/env bash
# gpu-table.sh DECODE.tsv [PEERS.tsv]: the committed GPU runs as one table, one row per model x
# weight type: our decode tok/s, its fraction of the bandwidth floor, TTFT, prefill rate, peak
# VRAM, the bytes one step reads (GB) and the floor's time per step (ms) (tests/bench/cuda_decode), beside Hugging Face transformers on the same shapes
# (pipeline/peers/gpu_bench.py: eager FP16 and torch.compile FP16, mean over the timed repeats)
# and the ratios ours / theirs. Prints only the header when DECODE.tsv does not exist; else a
# first comment line names the GPU (from the rows' machine line) and where the rows are.
set -euo pipefail
dec=$1 peers=${2:-/dev/null}
if [ -f "$dec" ]; then
  gpu=$(sed -n 's/^# machine: .*gpu=\([^,;]*\).*/\1/p' "$dec" | head -1)
  printf '# gpu: %s; rows: %s\n' "${gpu:-unknown GPU}" "$(dirname "$dec")"
fi
printf 'model\tvariant\tfallback\tparams_m\tdecode_tok_s\tfrac_floor\tttft_ms\tprefill_tok_s\tpeak_vram_mb\tstep_gb\tfloor_ms\thf_f16_tok_s\tvs_hf_f16\thf_compile_tok_s\tvs_compile\n'
[ -f "$dec" ] || exit 0
[ -f "$peers" ] || peers=/dev/null
awk -F'\t' -v OFS='\t' '
  FNR == 1 { delete c; hdr = 0 }
  { file = FILENAME == ARGV[1] ? 1 : 2 } # by name: an empty peers file has no first line
  /^#/ { next }
  !hdr { hdr = 1; for (i = 1; i <= NF; i++) c[$i] = i; next }
  function v(n) { return (n in c) ? $c[n] : "" }
  function r(a, b) { return (a != "" && b > 0) ? sprintf("%.3g", a / b) : "" }
  file == 1 && v("warmup") == 0 && v("decode_tok_s") != "" {
    k = v("model") SUBSEP v("variant"); s[k] += v("decode_tok_s"); n[k]++; next }
  file == 2 {
    hf = s[v("model") SUBSEP "f16"]; hn = n[v("model") SUBSEP "f16"]
    cf = s[v("model") SUBSEP "f16-compile"]; cn = n[v("model") SUBSEP "f16-compile"]
    hf = hn ? hf / hn : ""; cf = cn ? cf / cn : ""
    print v("model"), v("type"), v("fallback"), v("params_m"), v("decode_tok_s"), v("frac_floor"),
      sprintf("%.3g", 1000 * v("ttft_s")), v("prefill_tok_s"), v("peak_vram_mb"),
      sprintf("%.4g", v("step_bytes") / 1e9), (v("floor_tok_s") > 0 ? sprintf("%.3g", 1000 / v("floor_tok_s")) : ""),
      hf == "" ? "" : sprintf("%.4g", hf), r(v("decode_tok_s"), hf), cf == "" ? "" : sprintf("%.4g", cf), r(v("decode_tok_s"), cf)
  }' "$peers" "$dec"
