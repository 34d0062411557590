#!/usr/bin/env bash
# quantize: usage errors; HF -> GGUF round trips that the engine runs exactly
# as the HF directory (tiny-gpt2, qb-gpt2-10m); q8_0 perplexity within 0.5 %
# of f32; the per-tensor report; block-size fallback stated; presets
# (static INT8 scales stored); re-quantizing a GGUF; the files as gguf-py's
# GGUFReader sees them (names, types, tokenizer); bad inputs (exit 2, no
# output left behind). About 30 s.
set -u
ROOT=${QB_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
PY=${QB_PYTHON:-$ROOT/.venv/bin/python}
B=$ROOT/bin
TINY=$ROOT/tests/golden/tiny-gpt2
M10=${QB_MIRROR:-$ROOT/../shared/mirror}/models/qb-gpt2-10m
[ -d "$M10" ] || M10=/work/shared/mirror/models/qb-gpt2-10m
VALID=$(dirname "$(dirname "$M10")")/datasets/qb-corpus/valid.txt
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
n=0
ok() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi; }
skip() { n=$((n + 1)); echo "ok $n # SKIP $1"; }
diag() { echo "# $*"; }
# col FILE NAME: column NAME of the first data row.
col() { awk -F'\t' -v name="$2" '/^#/ {next} !h {for (i = 1; i <= NF; i++) if ($i == name) c = i; h = 1; next} {print (c ? $c : "NOCOL"); exit}' "$1"; }
# relclose A B TOL: |A - B| <= TOL * |B|
relclose() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN {d = a - b; if (d < 0) d = -d; m = b < 0 ? -b : b; exit !(a != "" && d <= t * m)}'; }
oneline_exit() { # oneline_exit WANT_RC DESC CMD...: exit status and a one-line message
  local want=$1 desc=$2; shift 2
  "$@" >"$T/out" 2>"$T/err"; local rc=$?
  ok $(( rc == want && $(wc -l <"$T/err") == 1 ? 0 : 1 )) "$desc: exit $rc, one line ($(head -c 150 "$T/err"))"
}

# --- usage
"$B/quantize" --help >"$T/help"; ok $(( $? == 0 && $(grep -c '^usage: quantize' "$T/help") == 1 ? 0 : 1 )) "--help: usage, exit 0"
oneline_exit 1 "no arguments" "$B/quantize"
oneline_exit 1 "unknown type q5_0" "$B/quantize" "$TINY" "$T/x.gguf" --type q5_0
oneline_exit 1 "unknown preset" "$B/quantize" "$TINY" "$T/x.gguf" --preset q2_k_xs
oneline_exit 1 "static-int8 without --calib" "$B/quantize" "$TINY" "$T/x.gguf" --preset static-int8
ok $([ ! -e "$T/x.gguf" ] && [ ! -e "$T/x.gguf.tmp" ]; echo $?) "usage errors leave no output"

# --- tiny-gpt2 (f16 checkpoint, n_embd 24): f32 and f16 GGUF run like the directory
printf 'Once upon a time, there was a magical forest where the trees could talk. ' >"$T/short.txt"
for i in 1 2 3 4 5 6; do cat "$T/short.txt"; done >"$T/text.txt"
"$B/quantize" "$TINY" "$T/tiny32.gguf" --type f32 -q >"$T/sum32" 2>"$T/err"
ok $? "tiny-gpt2 -> f32 GGUF ($(tail -1 "$T/sum32" | cut -f5-8))"
"$B/quantize" "$TINY" "$T/tiny16.gguf" --type f16 -q >/dev/null 2>&1; ok $? "tiny-gpt2 -> f16 GGUF"
"$B/ppl" -m "$TINY" -f "$T/text.txt" -t 2 -q >"$T/p_dir" 2>/dev/null
"$B/ppl" -m "$T/tiny32.gguf" -f "$T/text.txt" -t 2 -q >"$T/p_32" 2>/dev/null
"$B/ppl" -m "$T/tiny16.gguf" -f "$T/text.txt" -t 2 -q >"$T/p_16" 2>/dev/null
a=$(col "$T/p_dir" nll); b=$(col "$T/p_32" nll); c=$(col "$T/p_16" nll)
relclose "$b" "$a" 1e-6; ok $? "ppl: f32 GGUF nll $b = directory's $a (1e-6)"
relclose "$c" "$a" 1e-6; ok $? "ppl: f16 GGUF nll $c = directory's $a (the weights are f16 in both; 1e-6)"
"$B/generate" -m "$TINY" -p "Once upon a time" -n 12 -t 1 2>/dev/null >"$T/g_dir"
"$B/generate" -m "$T/tiny32.gguf" -p "Once upon a time" -n 12 -t 1 2>/dev/null >"$T/g_32"
ok $(cmp -s "$T/g_dir" "$T/g_32"; echo $?) "generate: the f32 GGUF continues the prompt exactly as the directory"
"$B/quantize" "$TINY" "$T/tq8.gguf" --type q8_0 -q 2>"$T/err" >/dev/null
ok $(( $? == 0 && $(grep -c 'not whole q8_0 blocks of 32: written as f16' "$T/err") == 1 ? 0 : 1 )) \
  "rows of 24 values fall back to f16, said once on stderr ($(head -c 120 "$T/err"))"

# --- qb-gpt2-10m: quality of q8_0, the report, fallback, presets
if [ ! -d "$M10" ]; then
  skip "no qb-gpt2-10m in the shared mirror"
else
  head -c 9000 "$VALID" >"$T/valid.txt"
  "$B/quantize" "$M10" "$T/f32.gguf" --type f32 -q >/dev/null 2>&1
  "$B/quantize" "$M10" "$T/q8.gguf" --type q8_0 --embed q8_0 --report "$T/rep.tsv" -q >"$T/sum" 2>&1
  ok $? "qb-gpt2-10m -> q8_0 everywhere ($(tail -1 "$T/sum" | cut -f5-8))"
  rows=$(grep -vc '^name' "$T/rep.tsv")
  bad=$(awk -F'\t' 'NR > 1 && $3 == "q8_0" && !($6 < 0.01) {b++} NR > 1 && $3 == "f32" && $5 != 0 {b++} END {print b + 0}' "$T/rep.tsv")
  ok $(( rows == 76 && bad == 0 ? 0 : 1 )) "report: 76 tensors, f32 rmse 0, q8_0 rel_rmse < 1 % ($bad bad)"
  bpw=$(col "$T/sum" bits_per_weight)
  ok $(awk -v b="$bpw" 'BEGIN {exit !(b > 8.4 && b < 8.7)}'; echo $?) "summary: $bpw bits per weight (8.5 for q8_0 + f32 norms)"
  "$B/ppl" -m "$T/f32.gguf" -f "$T/valid.txt" -t 2 -q >"$T/pf" 2>/dev/null
  "$B/ppl" -m "$T/q8.gguf" -f "$T/valid.txt" -t 2 -q >"$T/pq" 2>/dev/null
  "$B/ppl" -m "$T/q8.gguf" -f "$T/valid.txt" -t 2 -q --act q8 >"$T/pqa" 2>/dev/null
  pf=$(col "$T/pf" ppl); pq=$(col "$T/pq" ppl); pqa=$(col "$T/pqa" ppl)
  relclose "$pq" "$pf" 0.005; ok $? "q8_0 ppl $pq within 0.5 % of f32 $pf"
  relclose "$pqa" "$pf" 0.01
  ok $(( $? == 0 && $(col "$T/pqa" act | grep -c '^q8$') == 1 ? 0 : 1 )) "q8_0 with int8 activations (act q8): ppl $pqa within 1 %"
  "$B/quantize" "$M10" "$T/q4k.gguf" --type q4_k -q >/dev/null 2>"$T/err"
  ok $(( $? == 0 && $(grep -c '24 tensors (first blk.0.attn_qkv.weight, rows of 160) are not whole q4_k blocks of 256: written as iq4_nl' "$T/err") == 1 ? 0 : 1 )) \
    "q4_k on 160-wide rows: iq4_nl fallback stated ($(head -c 140 "$T/err"))"
  "$B/quantize" "$M10" "$T/static.gguf" --preset static-int8 --calib "$VALID" --calib-tokens 1024 -q >/dev/null 2>&1
  ok $? "static-int8 preset with calibration"
  "$B/ppl" -m "$T/static.gguf" -f "$T/valid.txt" -t 2 -q >"$T/ps" 2>/dev/null
  ps=$(col "$T/ps" ppl)
  relclose "$ps" "$pf" 0.02
  ok $(( $? == 0 && $(col "$T/ps" act | grep -c '^q8-static$') == 1 ? 0 : 1 )) "static INT8 runs (act q8-static): ppl $ps within 2 % of f32"
  "$B/quantize" "$M10" "$T/allint8.gguf" --preset all-int8 -q >"$T/sa" 2>/dev/null
  ok $(( $? == 0 && $(col "$T/sa" tensors | grep -c '^f32:50,q8_0:26$') == 1 ? 0 : 1 )) "all-int8: embeddings and tied output q8_0 too ($(col "$T/sa" tensors))"
  # Re-quantizing the f32 GGUF gives the same file as quantizing the directory.
  "$B/quantize" "$T/f32.gguf" "$T/q8b.gguf" --type q8_0 --embed q8_0 --name qb-gpt2-10m -q >/dev/null 2>&1
  ok $(cmp -s "$T/q8.gguf" "$T/q8b.gguf"; echo $?) "GGUF f32 -> q8_0 is byte-identical to directory -> q8_0"

  # --- the files as gguf-py reads them
  "$PY" - "$T" <<'EOF'
import sys
import gguf
T = sys.argv[1]
n = [0]
def ok(c, d):
    n[0] += 0
    print(("ok" if c else "not ok") + " - " + d)
r = gguf.GGUFReader(f"{T}/q4k.gguf")
f = r.fields
s = lambda k: bytes(f[k].parts[f[k].data[0]]).decode()
names = {t.name for t in r.tensors}
want = {"token_embd.weight", "position_embd.weight", "output_norm.weight", "output_norm.bias"}
for l in range(6):
    for p in ("attn_norm", "attn_qkv", "attn_output", "ffn_norm", "ffn_up", "ffn_down"):
        want |= {f"blk.{l}.{p}.weight", f"blk.{l}.{p}.bias"}
ok(names == want, f"GGUFReader: the 76 llama.cpp tensor names ({len(names)})")
types = {t.name: t.tensor_type.name for t in r.tensors}
ok(types["blk.3.ffn_down.weight"] == "IQ4_NL" and types["blk.3.ffn_down.bias"] == "F32" and types["token_embd.weight"] == "F32",
   "GGUFReader: matrices IQ4_NL (fallback), biases and embeddings F32")
ok(s("general.architecture") == "gpt2" and s("tokenizer.ggml.model") == "gpt2" and len(f["tokenizer.ggml.tokens"].data) == 50257
   and len(f["tokenizer.ggml.merges"].data) == 50000 and int(f["gpt2.block_count"].parts[-1][0]) == 6
   and int(f["gpt2.embedding_length"].parts[-1][0]) == 160, "GGUFReader: arch, tokenizer (50257 tokens, 50000 merges), hparams")
t = r.tensors[[x.name for x in r.tensors].index("blk.0.ffn_up.weight")]
ok([int(d) for d in t.shape] == [160, 640], f"GGUFReader: ffn_up dims [n_in, n_out] = {[int(d) for d in t.shape]} (Conv1D transposed)")
r = gguf.GGUFReader(f"{T}/static.gguf")
keys = [k for k in r.fields if k.startswith("qbench.act_scale.")]
ok(len(keys) == 24 and all(float(r.fields[k].parts[-1][0]) > 0 for k in keys), f"static-int8: {len(keys)} positive activation scales stored")
EOF
fi > "$T/py.tap"
while IFS= read -r line; do
  case $line in
    "ok - "*) ok 0 "${line#ok - }" ;;
    "not ok - "*) ok 1 "${line#not ok - }" ;;
    *) echo "$line" ;;
  esac
done <"$T/py.tap"

# --- bad inputs: exit 2, one line, nothing left behind
oneline_exit 2 "missing input" "$B/quantize" "$T/nope" "$T/y.gguf" --type q8_0
head -c 100000 "$T/tiny32.gguf" >"$T/trunc.gguf"
oneline_exit 2 "truncated GGUF input" "$B/quantize" "$T/trunc.gguf" "$T/y.gguf" --type q8_0
oneline_exit 2 "generate on a truncated GGUF" "$B/generate" -m "$T/trunc.gguf" -p hi -n 2
oneline_exit 2 "ppl on a truncated GGUF" "$B/ppl" -m "$T/trunc.gguf" -f "$T/text.txt"
grep -q 'byte' "$T/err"; ok $? "the message names a byte offset ($(head -c 120 "$T/err"))"
oneline_exit 2 "output in a missing directory" "$B/quantize" "$TINY" "$T/no/such/dir/y.gguf" --type f32
ok $([ -z "$(ls "$T" | grep -E '^y\.gguf|\.tmp$')" ]; echo $?) "no output or temp file left behind"
"$PY" - "$T/llama.gguf" <<'EOF'
import sys, numpy as np, gguf
w = gguf.GGUFWriter(sys.argv[1], "llama")
w.add_tensor("token_embd.weight", np.zeros((4, 32), np.float32))
w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
EOF
oneline_exit 2 "a GGUF of another architecture" "$B/generate" -m "$T/llama.gguf" -p hi -n 2
echo "1..$n"
