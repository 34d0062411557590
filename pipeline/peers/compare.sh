#!/usr/bin/env bash
# compare.sh speed OURS.tsv [OURS.tsv...] PEERS.tsv | compare.sh quality PEERS_QUALITY.tsv OURS_QUALITY.tsv [...]:
# qbench beside each peer (several files of ours are read as one table).
# speed: OURS.tsv and PEERS.tsv are aggregated speed tables (tabulate --by ...,threads,new_tokens
# --agg mean decode_tok_s,ttft_s,rss_peak_mb ...; ours with or without a system column, peers
# with one); a peer row is paired with our row of the same model, variant name, threads and
# new_tokens (a llama.cpp peer runs our very file of that variant; pytorch/int8-dyn pairs with
# our int8-dyn, onnxruntime/int8-all with int8-all, and so on). Columns are found by name; a
# column absent from a table reads empty. Ratios are qbench / peer: above 1 means qbench is
# faster (tok/s) or, for ttft_s, rss and ppl, larger.
# quality: peer perplexity rows paired with ours on model, variant and text (CPU rows of ours).
set -euo pipefail
usage() { echo "usage: compare.sh speed OURS.tsv [OURS.tsv...] PEERS.tsv | compare.sh quality PEERS_QUALITY.tsv OURS_QUALITY.tsv [...]" >&2; exit 1; }
[ $# -ge 3 ] || usage
mode=$1; shift
for f in "$@"; do [ -r "$f" ] || { echo "compare.sh: $f: cannot read" >&2; exit 2; }; done
case $mode in
speed)
awk -F'\t' -v OFS='\t' '
  function v(name,   i) { i = c[FILENAME, name]; if (!i) i = c[FILENAME, name "_mean"]; return i ? $i : "" }
  function ratio(a, b) { return (a != "" && b != "" && b + 0 != 0) ? sprintf("%.4g", a / b) : "" }
  /^#/ { next }
  !(FILENAME in seen) { seen[FILENAME] = 1; for (i = 1; i <= NF; i++) c[FILENAME, $i] = i; next }
  FILENAME != ARGV[ARGC - 1] {
    if (v("device") != "" && v("device") != "cpu") next
    k = v("model") SUBSEP v("variant") SUBSEP v("threads") SUBSEP v("new_tokens")
    ot[k] = v("decode_tok_s"); ott[k] = v("ttft_s"); orss[k] = v("rss_peak_mb"); next
  }
  FILENAME == ARGV[ARGC - 1] {
    if (!hdr++) print "model", "variant", "system", "threads", "new_tokens", "qbench_tok_s", "peer_tok_s",
      "tok_s_ratio", "qbench_ttft_s", "peer_ttft_s", "ttft_ratio", "qbench_rss_mb", "peer_rss_mb", "rss_ratio"
    k = v("model") SUBSEP v("variant") SUBSEP v("threads") SUBSEP v("new_tokens")
    print v("model"), v("variant"), v("system"), v("threads"), v("new_tokens"),
      ot[k], v("decode_tok_s"), ratio(ot[k], v("decode_tok_s")),
      ott[k], v("ttft_s"), ratio(ott[k], v("ttft_s")),
      orss[k], v("rss_peak_mb"), ratio(orss[k], v("rss_peak_mb"))
  }' "$@" ;;
quality)
  # ours first: peer rows look up our perplexity
  peers=$1; shift
  awk -F'\t' -v OFS='\t' -v PEERS="$peers" '
    function v(name,   i) { i = c[FILENAME, name]; return i ? $i : "" }
    /^#/ { next }
    !(FILENAME in seen) { seen[FILENAME] = 1; for (i = 1; i <= NF; i++) c[FILENAME, $i] = i; next }
    FILENAME != PEERS { if (v("device") != "" && v("device") != "cpu") next
      oppl[v("model") SUBSEP v("variant") SUBSEP v("text")] = v("ppl"); next }
    FILENAME == PEERS {
      if (!hdr++) print "model", "variant", "system", "text", "qbench_ppl", "peer_ppl", "ppl_ratio"
      q = oppl[v("model") SUBSEP v("variant") SUBSEP v("text")]
      print v("model"), v("variant"), v("system"), v("text"), q, v("ppl"),
        (q != "" && v("ppl") + 0 != 0) ? sprintf("%.6g", q / v("ppl")) : ""
    }' "$@" "$peers" ;;
*) usage ;;
esac
