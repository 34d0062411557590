#!/usr/bin/env bash
# engine.t: generate and ppl as tools, on the committed tiny model: help and man
# pages, the metrics and result rows, streaming from stdin, the <|endoftext|>
# stop, sampling options, thread-count independence, the ppl protocol's token
# counts, and --save-logits / --kl-base.
set -uo pipefail
root=${QB_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
py=${QB_PYTHON:-python3}
gen=$root/bin/generate ppl=$root/bin/ppl tiny=$root/tests/golden/tiny-gpt2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0 failed=0
ok() { # ok CONDITION-STATUS DESCRIPTION [DIAGNOSTIC]
  n=$((n + 1))
  if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else failed=$((failed + 1)); echo "not ok $n - $2"; [ -n "${3:-}" ] && echo "# $3"; fi
}
# col FILE NAME: the value of column NAME in the one-row TSV FILE
col() { awk -F'\t' -v c="$2" '/^#/ {next} !h++ {for (i=1;i<=NF;i++) if ($i==c) k=i; next} {print $k; exit}' "$1"; }
P="Once upon a time, there was a magical forest"

# ---- help and man pages ---------------------------------------------------------------
for t in generate ppl; do
  "$root/bin/$t" --help > "$tmp/help" 2>&1; r=$?
  ok $(( r != 0 || $(grep -c "^usage: $t" "$tmp/help") != 1 )) "$t --help: usage on stdout, exit 0"
  warn=$(groff -man -Tutf8 -ww "$root/tools/man/$t.1" 2>&1 >/dev/null | head -3)
  MANWIDTH=80 man -l "$root/tools/man/$t.1" > "$tmp/man" 2>/dev/null
  ok $(( $(grep -c "EXIT STATUS" "$tmp/man") < 1 )) "man -l tools/man/$t.1 renders" "$warn"
  ok $([ -z "$warn" ]; echo $?) "$t.1: no groff warnings" "$warn"
done

# ---- generate: metrics row, streaming, stdin ----------------------------------------------
"$gen" -m "$tiny" -p "$P" -n 12 -t 2 --ignore-eos --metrics "$tmp/m.tsv" > "$tmp/out1" 2> "$tmp/err1"; r=$?
want="model dtype device isa threads prompt_tokens new_tokens stop load_s ttft_s prefill_tok_s decode_tok_s total_s step_bytes act gpu gpu_driver gpu_peak_mb"
got=$(grep -v '^#' "$tmp/m.tsv" | head -1 | tr '\t' ' ')
ok $([ "$r" -eq 0 ] && [ "$got" = "$want" ]; echo $?) "generate --metrics: the documented columns" "got: $got"
ok $([ "$(col "$tmp/m.tsv" model)/$(col "$tmp/m.tsv" dtype)/$(col "$tmp/m.tsv" device)/$(col "$tmp/m.tsv" threads)" = "tiny-gpt2/f16/cpu/2" ]; echo $?) \
  "generate: identity columns model/dtype/device/threads"
ok $([ "$(col "$tmp/m.tsv" prompt_tokens)/$(col "$tmp/m.tsv" new_tokens)/$(col "$tmp/m.tsv" stop)" = "10/12/n" ]; echo $?) \
  "generate: 10 prompt tokens, 12 new, stopped by -n"
"$py" - "$tmp/m.tsv" <<'PY'; ok $? "generate: timings positive and consistent (total = ttft + (n-1)/decode_tok_s)"
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if not l.startswith("#")]
r = dict(zip(rows[0], rows[1]))
f = {k: float(r[k]) for k in ("load_s", "ttft_s", "decode_tok_s", "total_s", "step_bytes", "prefill_tok_s")}
assert all(v > 0 for v in f.values()), f
assert abs(f["total_s"] - (f["ttft_s"] + 11 / f["decode_tok_s"])) < 1e-3 * f["total_s"] + 1e-6, f
assert abs(f["prefill_tok_s"] - 10 / f["ttft_s"]) < 1e-3 * f["prefill_tok_s"], f
PY
ok $([ -s "$tmp/out1" ] && [ ! -s "$tmp/err1" ] && [ ! -e "$tmp/m.tsv.tmp" ]; echo $?) \
  "generate: text on stdout, nothing on stderr with --metrics, no temp file left"
printf '%s' "$P" | "$gen" -m "$tiny" -n 12 -t 1 --ignore-eos --metrics "$tmp/m2.tsv" > "$tmp/out2"
ok $(cmp -s "$tmp/out1" "$tmp/out2"; echo $?) "generate: the prompt from stdin gives the same text as -p (1 vs 2 threads)"
"$gen" -m "$tiny" -p "$P" -n 5 -t 1 > "$tmp/out3" 2> "$tmp/err3"
ok $([ "$(grep -c . "$tmp/err3")" = 2 ] && head -1 "$tmp/err3" | grep -q '^model	dtype'; echo $?) \
  "generate: without --metrics the row (header + row) goes to stderr"
"$gen" -m "$tiny" -p "$P" -n 5 -q --metrics "$tmp/m3.tsv" > "$tmp/out4"
ok $([ ! -s "$tmp/out4" ] && [ "$(col "$tmp/m3.tsv" new_tokens)" = 5 ]; echo $?) "generate -q: no text, still 5 tokens"
"$gen" -m "$tiny" -p "$P" -n 3 --model-name my-model --metrics "$tmp/m4.tsv" > /dev/null
ok $([ "$(col "$tmp/m4.tsv" model)" = my-model ]; echo $?) "generate --model-name names the model column"

# ---- <|endoftext|> ---------------------------------------------------------------------------
"$py" "$root/tests/golden/st_tool.py" convert "$tiny" "$tmp/eot" --force-eot
"$gen" -m "$tmp/eot" -p "$P" -n 8 --metrics "$tmp/e.tsv" > "$tmp/eout"
ok $([ ! -s "$tmp/eout" ] && [ "$(col "$tmp/e.tsv" stop)/$(col "$tmp/e.tsv" new_tokens)" = eot/1 ] &&
     [ -z "$(col "$tmp/e.tsv" decode_tok_s)" ]; echo $?) \
  "generate: stops at <|endoftext|> (not printed; 1 token; decode speed empty)"
"$gen" -m "$tmp/eot" -p "$P" -n 3 --ignore-eos --metrics "$tmp/e2.tsv" > "$tmp/eout2"
ok $([ "$(cat "$tmp/eout2")" = "<|endoftext|><|endoftext|><|endoftext|>" ] && [ "$(col "$tmp/e2.tsv" stop)" = n ]; echo $?) \
  "generate --ignore-eos: goes on through <|endoftext|>"

# ---- sampling ---------------------------------------------------------------------------------
s() { "$gen" -m "$tiny" -p "$P" -n 20 --ignore-eos --metrics /dev/null "$@"; }
s --temp 1 --seed 5 > "$tmp/s1"; s --temp 1 --seed 5 -t 2 > "$tmp/s2"; s --temp 1 --seed 6 > "$tmp/s3"
ok $(cmp -s "$tmp/s1" "$tmp/s2"; echo $?) "sampling: the same seed gives the same text"
ok $(! cmp -s "$tmp/s1" "$tmp/s3"; echo $?) "sampling: another seed gives another text"
s > "$tmp/g"; s --temp 5 --top-k 1 --seed 9 > "$tmp/k1"; s --temp 3 --top-p 0.000001 > "$tmp/p0"
ok $(cmp -s "$tmp/g" "$tmp/k1"; echo $?) "sampling: --top-k 1 is greedy at any temperature"
ok $(cmp -s "$tmp/g" "$tmp/p0"; echo $?) "sampling: a tiny --top-p keeps only the most likely token"
ok $(! cmp -s "$tmp/g" "$tmp/s1"; echo $?) "sampling: temperature 1 departs from greedy"

# ---- ppl: row, protocol counts, threads ---------------------------------------------------------
printf 'The quick brown fox jumps over the lazy dog. %.0s' {1..30} > "$tmp/text.txt"
ntok=$("$root/build/tests/helpers/tokenize" "$tiny/vocab.json" "$tiny/merges.txt" "$tmp/text.txt" | wc -l)
"$ppl" -m "$tiny" -f "$tmp/text.txt" --ctx 32 -t 1 -o "$tmp/p1.tsv" 2> "$tmp/perr"; r=$?
want="model dtype device isa threads ctx stride tokens scored_tokens nll ppl kl top1 kl_k load_s seconds tok_s act gpu gpu_driver gpu_peak_mb"
got=$(grep -v '^#' "$tmp/p1.tsv" | head -1 | tr '\t' ' ')
ok $([ "$r" -eq 0 ] && [ "$got" = "$want" ]; echo $?) "ppl -o: the documented columns" "got: $got"
windows=$(( (ntok + 31) / 32 ))
ok $([ "$(col "$tmp/p1.tsv" tokens)" = "$ntok" ] && [ "$(col "$tmp/p1.tsv" scored_tokens)" = $((ntok - windows)) ] &&
     [ "$(col "$tmp/p1.tsv" stride)" = 32 ]; echo $?) \
  "ppl: stride = ctx scores every token but each window's first ($ntok tokens, $windows windows)"
"$ppl" -m "$tiny" -f "$tmp/text.txt" --ctx 32 --stride-half -t 2 -q > "$tmp/p2.tsv"
"$ppl" -m "$tiny" -f "$tmp/text.txt" --ctx 32 --stride 16 -t 1 -q > "$tmp/p3.tsv"
ok $([ "$(col "$tmp/p2.tsv" scored_tokens)" = $((ntok - 1)) ] && [ "$(col "$tmp/p2.tsv" stride)" = 16 ]; echo $?) \
  "ppl --stride-half: overlapping windows score all tokens but the first"
ok $([ "$(col "$tmp/p2.tsv" nll)" = "$(col "$tmp/p3.tsv" nll)" ]; echo $?) \
  "ppl: the same nll with 1 and 2 threads, --stride-half = --stride ctx/2"
ok $([ -z "$(col "$tmp/p1.tsv" kl)$(col "$tmp/p1.tsv" top1)$(col "$tmp/p1.tsv" kl_k)" ]; echo $?) "ppl: kl, top1, kl_k empty without --kl-base"
"$py" -c "import math,sys; v=float('$(col "$tmp/p3.tsv" ppl)'); n=float('$(col "$tmp/p3.tsv" nll)'); sys.exit(not abs(math.exp(n)-v) < 1e-6*v)"
ok $? "ppl: ppl = exp(nll)"

# ---- --save-logits / --kl-base ------------------------------------------------------------------
"$ppl" -m "$tiny" -f "$tmp/text.txt" --ctx 32 --stride 16 -q --save-logits "$tmp/base.logits" --logits-top-k 8 > "$tmp/b.tsv"
scored=$(col "$tmp/b.tsv" scored_tokens)
ok $([ "$(stat -c %s "$tmp/base.logits")" = $((64 + scored * (12 + 8 * 8))) ] && [ ! -e "$tmp/base.logits.tmp" ]; echo $?) \
  "--save-logits: 64-byte header + $scored records of 12 + 8 K bytes"
"$py" - "$tmp/base.logits" "$root/build/tests/helpers/tokenize" "$tiny" "$tmp/text.txt" <<'PY'
import math, struct, subprocess, sys
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"QBLOGPR1"
ver, nv, k, ctx, stride, _ = struct.unpack_from("<6I", data, 8)
ntok, nrec, h, _ = struct.unpack_from("<4Q", data, 32)
assert (ver, nv, k, ctx, stride) == (1, 50257, 8, 32, 16), (ver, nv, k, ctx, stride)
ids = [int(x) for x in subprocess.run([sys.argv[2], sys.argv[3] + "/vocab.json", sys.argv[3] + "/merges.txt", sys.argv[4]],
                                      capture_output=True, check=True).stdout.split()]
fnv = 0xcbf29ce484222325
for i in ids:
    for b in struct.pack("<I", i):
        fnv = ((fnv ^ b) * 0x100000001b3) & (2**64 - 1)
assert ntok == len(ids) and h == fnv and nrec == len(ids) - 1, (ntok, len(ids), h, fnv, nrec)
rec = 12 + 8 * k
for r in range(nrec):
    o = 64 + r * rec
    t, lpt, lpr = struct.unpack_from("<Iff", data, o)
    top = struct.unpack_from(f"<{k}I", data, o + 12)
    lps = struct.unpack_from(f"<{k}f", data, o + 12 + 4 * k)
    assert t == ids[r + 1], (r, t, ids[r + 1])                 # records follow the text
    assert all(a >= b for a, b in zip(lps, lps[1:])), lps       # most likely first
    total = sum(math.exp(x) for x in lps) + math.exp(lpr)
    assert abs(total - 1) < 1e-5, total                         # top-k + rest is the whole distribution
    if t in top:
        assert abs(lps[top.index(t)] - lpt) < 1e-6
    assert lpt <= 0 and lpr <= 0
PY
ok $? "--save-logits: header fields, token hash, targets, sorted top-k, probabilities summing to 1"
"$ppl" -m "$tiny" -f "$tmp/text.txt" --ctx 32 --stride 16 -q --kl-base "$tmp/base.logits" -t 2 > "$tmp/self.tsv"
ok $("$py" -c "import sys; sys.exit(not (abs(float('$(col "$tmp/self.tsv" kl)')) < 1e-7 and float('$(col "$tmp/self.tsv" top1)') == 1))"; echo $?) \
  "--kl-base with the same model: kl 0, top1 1 (kl $(col "$tmp/self.tsv" kl))"
"$py" "$root/tests/golden/st_tool.py" convert "$tiny" "$tmp/bf16" --dtype BF16
"$ppl" -m "$tmp/bf16" -f "$tmp/text.txt" --ctx 32 --stride 16 -q --kl-base "$tmp/base.logits" > "$tmp/bf.tsv"
"$ppl" -m "$tmp/bf16" -f "$tmp/text.txt" --ctx 32 --stride 16 -q --kl-base "$tiny" > "$tmp/bfx.tsv"
"$ppl" -m "$tiny" -f "$tmp/text.txt" --ctx 32 --stride 16 -q --kl-base "$tiny" > "$tmp/selfx.tsv"
kl=$(col "$tmp/bf.tsv" kl) top1=$(col "$tmp/bf.tsv" top1) klx=$(col "$tmp/bfx.tsv" kl) top1x=$(col "$tmp/bfx.tsv" top1)
ok $([ "$(col "$tmp/bf.tsv" kl_k)/$(col "$tmp/bfx.tsv" kl_k)" = "8/all" ]; echo $?) "ppl: kl_k is the file's top-k, or all for a baseline model"
ok $([ "$(col "$tmp/selfx.tsv" kl)/$(col "$tmp/selfx.tsv" top1)" = "0/1" ]; echo $?) \
  "--kl-base MODEL with the same model: kl exactly 0, top1 1"
ok $("$py" -c "import sys; sys.exit(not (0 < float('$kl') <= float('$klx') < 0.05 and '$top1' == '$top1x' and 0.5 < float('$top1') <= 1))"; echo $?) \
  "--kl-base, model in bf16: top-8 file KL ($kl) is a positive lower bound of the exact KL ($klx); same top1 ($top1)"
echo "1..$n"
[ "$failed" -eq 0 ]
