#!/usr/bin/env bash
# peers: the peer systems (pipeline/peers/) under our protocol. Runs only where the peers'
# environment exists (make peers-venv, or make check-peers); otherwise every test is a visible
# SKIP, so make check never installs torch. About a minute with the environment.
set -u
ROOT=${QB_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
PY=${QB_PEERS_PYTHON:-$ROOT/.venv-peers/bin/python}
PEER=$ROOT/pipeline/peers/peer.py
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
n=0
ok() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi; }
skip() { n=$((n + 1)); echo "ok $n # SKIP $1"; }
diag() { echo "# $*"; }
col() {  # col FILE NAME: column NAME of the first data row ('#' lines skipped)
  awk -F'\t' -v name="$2" '/^#/ {next} !h {for (i = 1; i <= NF; i++) if ($i == name) c = i; h = 1; next}
    {print (c ? $c : "NOCOL"); exit}' "$1"
}
header() { grep -v '^#' "$1" | head -1; }
rel() { awk -v a="$1" -v b="$2" 'BEGIN { d = a - b; if (d < 0) d = -d; printf "%.3g", d / (b < 0 ? -b : b) }'; }
lt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a ~ /^[0-9.eE+-]+$/ && a + 0 < b + 0) }'; }

# The model and the text: fetched into data/, or straight from the mirror beside the checkout.
MIRROR=
for d in "${QB_MIRROR:-}" "$ROOT/../shared/mirror" "$ROOT/../../shared/mirror"; do
  [ -n "$d" ] && [ -d "$d/models" ] && { MIRROR=$d; break; }
done
MODEL= TEXT=
for d in "$ROOT/data/models/qb-gpt2-10m" "$MIRROR/models/qb-gpt2-10m"; do
  [ -f "$d/config.json" ] && { MODEL=$d; break; }
done
for f in "$ROOT/data/datasets/qb-corpus/valid.txt" "$MIRROR/datasets/qb-corpus/valid.txt"; do
  [ -f "$f" ] && { TEXT=$f; break; }
done
NTESTS=18
if [ ! -x "$PY" ] || ! "$PY" -c 'import torch, transformers, onnxruntime, llama_cpp, gguf' 2>/dev/null; then
  for i in $(seq $NTESTS); do skip "no peers environment ($PY): make peers-venv"; done
  echo "1..$n"; exit 0
fi
if [ -z "$MODEL" ] || [ -z "$TEXT" ]; then
  for i in $(seq $NTESTS); do skip "no qb-gpt2-10m or qb-corpus (data/ or ../shared/mirror)"; done
  echo "1..$n"; exit 0
fi
PROMPT='Once upon a time, there was a magical forest'
GEN_HDR=$(printf 'system\tvariant\tmodel\tdtype\tdevice\tisa\tthreads\tprompt_tokens\tnew_tokens\tstop\tload_s\tttft_s\tprefill_tok_s\tdecode_tok_s\ttotal_s')
PPL_HDR=$(printf 'system\tvariant\tmodel\tdtype\tdevice\tisa\tthreads\tctx\tstride\ttokens\tscored_tokens\tnll\tppl\tload_s\tseconds\ttok_s')

# --- usage
"$PY" "$PEER" --help >"$T/help" 2>&1; rc=$?
ok $(( rc == 0 && $(grep -c 'usage: peer.py' "$T/help") >= 1 ? 0 : 1 )) "--help: usage, exit 0"
"$PY" "$PEER" generate --system nope --variant f32 -m "$MODEL" 2>"$T/err"; rc=$?
ok $(( rc == 1 && $(wc -l <"$T/err") == 1 ? 0 : 1 )) "unknown system: exit 1, one line ($(cat "$T/err"))"
"$PY" "$PEER" generate --system pytorch --variant f32 -m "$T/none" --prompt x 2>"$T/err"; rc=$?
[ $rc = 2 ] && grep -q "$T/none/" "$T/err"; ok $? "missing checkpoint: exit 2, names the file ($(cat "$T/err"))"

# --- generation: PyTorch f32, the row and the text
"$PY" "$PEER" generate --system pytorch --variant f32 -m "$MODEL" --model-name qb -n 16 --prompt "$PROMPT" \
  --metrics "$T/f32.tsv" >"$T/f32.txt" 2>"$T/err"; rc=$?
[ $rc = 0 ] && [ "$(header "$T/f32.tsv")" = "$GEN_HDR" ] && [ "$(grep -vc '^#' "$T/f32.tsv")" = 2 ] &&
  [ ! -e "$T/f32.tsv.tmp" ]; ok $? "pytorch f32: exit 0, header + one row with our columns"
[ "$(col "$T/f32.tsv" prompt_tokens)" = 10 ] && [ "$(col "$T/f32.tsv" new_tokens)" = 16 ] &&
  [ "$(col "$T/f32.tsv" model)" = qb ] && lt 0 "$(col "$T/f32.tsv" decode_tok_s)" &&
  lt "$(col "$T/f32.tsv" ttft_s)" "$(col "$T/f32.tsv" total_s)"
ok $? "pytorch f32 row: 10 prompt tokens, 16 new, ttft < total, decode > 0 ($(tail -1 "$T/f32.tsv" | cut -f11-15))"
[ -s "$T/f32.txt" ]; ok $? "generated text on stdout: $(head -c 60 "$T/f32.txt" | tr '\n' ' ')"

# --- int8 PyTorch variants: prepared once, then run from the artifact
head -c 4096 "$TEXT" >"$T/calib.txt"
for v in int8-dyn int8-static; do
  "$PY" "$PEER" prepare --system pytorch --variant $v -m "$MODEL" --calib "$T/calib.txt" -o "$T/$v.pt" 2>"$T/err" &&
  "$PY" "$PEER" generate --system pytorch --variant $v -m "$MODEL" --artifact "$T/$v.pt" -n 16 --prompt "$PROMPT" \
    --metrics "$T/$v.tsv" >/dev/null 2>>"$T/err"; rc=$?
  [ $rc = 0 ] && [ "$(col "$T/$v.tsv" dtype)" = int8 ] && lt 0 "$(col "$T/$v.tsv" decode_tok_s)"
  ok $? "pytorch $v: prepared and run ($(tail -1 "$T/$v.tsv" | cut -f11-15)) $(tail -1 "$T/err")"
done

# --- ONNX Runtime: the exported f32 graph generates exactly PyTorch's greedy text
"$PY" "$PEER" prepare --system onnxruntime --variant f32 -m "$MODEL" -o "$T/f32.onnx" 2>"$T/err" &&
"$PY" "$PEER" generate --system onnxruntime --variant f32 -m "$MODEL" --artifact "$T/f32.onnx" -n 16 --prompt "$PROMPT" \
  --metrics "$T/ort.tsv" >"$T/ort.txt" 2>>"$T/err"; rc=$?
[ $rc = 0 ] && cmp -s "$T/ort.txt" "$T/f32.txt"
ok $? "onnxruntime f32 (KV-cache graph) greedy text = pytorch f32's $(tail -1 "$T/err")"
"$PY" "$PEER" prepare --system onnxruntime --variant int8-all -m "$MODEL" --from "$T/f32.onnx" -o "$T/int8.onnx" 2>"$T/err" &&
"$PY" "$PEER" generate --system onnxruntime --variant int8-all -m "$MODEL" --artifact "$T/int8.onnx" -n 16 --prompt "$PROMPT" \
  --metrics "$T/ort8.tsv" >/dev/null 2>>"$T/err"; rc=$?
s32=$(stat -c %s "$T/f32.onnx" 2>/dev/null || echo 0); s8=$(stat -c %s "$T/int8.onnx" 2>/dev/null || echo 0)
[ $rc = 0 ] && lt "$s8" "$(( s32 / 3 ))" && [ "$(col "$T/ort8.tsv" dtype)" = int8 ]
ok $? "onnxruntime int8-all: runs, file under a third of f32's ($s8 vs $s32 bytes)"

# --- llama.cpp on an f32 GGUF (written by the gguf package): same greedy text
"$PY" "$ROOT/pipeline/peers/dev_gguf.py" "$MODEL" "$T/f32.gguf" f32 2>"$T/err" &&
"$PY" "$PEER" generate --system llama.cpp --variant f32 -m "$MODEL" --artifact "$T/f32.gguf" -n 16 --prompt "$PROMPT" \
  --metrics "$T/llama.tsv" >"$T/llama.txt" 2>>"$T/err"; rc=$?
[ $rc = 0 ] && cmp -s "$T/llama.txt" "$T/f32.txt"
ok $? "llama.cpp f32 GGUF greedy text = pytorch f32's $(tail -1 "$T/err")"

# --- perplexity: the fixed-length protocol on a slice, against Hugging Face's own loop
head -c 12000 "$TEXT" >"$T/slice.txt"
"$PY" "$PEER" ppl --system pytorch --variant f32 -m "$MODEL" -f "$T/slice.txt" --ctx 128 --stride 48 -o "$T/ppl.tsv" 2>"$T/err"; rc=$?
[ $rc = 0 ] && [ "$(header "$T/ppl.tsv")" = "$PPL_HDR" ]; ok $? "ppl pytorch f32: exit 0, our columns"
# The reference: the loop of the transformers perplexity guide (labels with -100, the loss's
# own shift), written independently of protocol.py; the guide's token count (valid labels - 1 in
# every window) is one short in every window after the first, so the count here is the labels the
# loss really averages over.
"$PY" - "$MODEL" "$T/slice.txt" 128 48 >"$T/hf.txt" 2>"$T/err" <<'EOF'
import sys, math, warnings
warnings.filterwarnings("ignore")
import torch
from transformers import GPT2LMHeadModel, GPT2TokenizerFast
d, path, ctx, stride = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(1)  # as peer.py's default; more threads than free cores make torch crawl
tok = GPT2TokenizerFast(vocab=d + "/vocab.json", merges=d + "/merges.txt")
ids = torch.tensor([tok.encode(open(path, "rb").read().decode("utf-8"))])  # bytes: keep \r
m = GPT2LMHeadModel.from_pretrained(d).eval()
nll_sum, n_tok, prev_end = 0.0, 0, 0
for begin in range(0, ids.size(1), stride):
    end = min(begin + ctx, ids.size(1))
    trg = end - prev_end
    inp = ids[:, begin:end]
    tgt = inp.clone(); tgt[:, :-trg] = -100
    with torch.no_grad():  # the model's own loss, but in float64 (its float32 one is off by ~1e-5)
        logits = m(inp).logits.double()
        loss = torch.nn.functional.cross_entropy(logits[0, :-1], tgt[0, 1:], ignore_index=-100)
    k = (tgt[:, 1:] != -100).sum().item()  # what the loss averages over (it shifts the labels)
    nll_sum += loss.double().item() * k; n_tok += k
    prev_end = end
    if end == ids.size(1): break
print(ids.size(1), n_tok, math.exp(nll_sum / n_tok))
EOF
read -r ntok hfscored hfppl <"$T/hf.txt"
[ "$(col "$T/ppl.tsv" scored_tokens)" = "$hfscored" ] && [ "$hfscored" = $((ntok - 1)) ]
ok $? "ppl: scored_tokens = N - 1 = $hfscored, as the Hugging Face loop counts"
r=$(rel "$(col "$T/ppl.tsv" ppl)" "$hfppl")
lt "$r" 1e-7; ok $? "ppl pytorch f32 $(col "$T/ppl.tsv" ppl) = Hugging Face loop $hfppl (rel. diff $r < 1e-7)"
"$PY" "$PEER" ppl --system llama.cpp --variant f32 -m "$MODEL" --artifact "$T/f32.gguf" -f "$T/slice.txt" --ctx 128 --stride 48 \
  -o "$T/ppl-llama.tsv" 2>"$T/err"; rc=$?
r=$(rel "$(col "$T/ppl-llama.tsv" ppl)" "$(col "$T/ppl.tsv" ppl)")
[ $rc = 0 ] && lt "$r" 1e-4; ok $? "ppl llama.cpp f32 GGUF $(col "$T/ppl-llama.tsv" ppl) = pytorch f32 (rel. diff $r < 1e-4)"

# --- against qbench itself (needs bin/ppl and bin/quantize): f32 perplexity equal to 1e-4
# relative; llama.cpp on our q8_0 file within 0.1 % of ours on the same file
if [ -x "$ROOT/bin/ppl" ]; then
  "$ROOT/bin/ppl" -m "$MODEL" -f "$T/slice.txt" --ctx 128 --stride 48 -t 2 -q -o "$T/ours.tsv" 2>"$T/err"; rc=$?
  r=$(rel "$(col "$T/ours.tsv" ppl)" "$(col "$T/ppl.tsv" ppl)")
  [ $rc = 0 ] && [ "$(col "$T/ours.tsv" scored_tokens)" = "$(col "$T/ppl.tsv" scored_tokens)" ] && lt "$r" 1e-4
  ok $? "qbench ppl f32 $(col "$T/ours.tsv" ppl) = pytorch f32 $(col "$T/ppl.tsv" ppl) (rel. diff $r < 1e-4) $(tail -1 "$T/err")"
else
  skip "bin/ppl not built: qbench f32 perplexity = pytorch's to 1e-4"
fi
if [ -x "$ROOT/bin/ppl" ] && [ -x "$ROOT/bin/quantize" ]; then
  "$ROOT/bin/quantize" "$MODEL" "$T/q8_0.gguf" --type q8_0 -q >/dev/null 2>"$T/err" &&
  "$ROOT/bin/ppl" -m "$T/q8_0.gguf" -f "$T/slice.txt" --ctx 128 --stride 48 -t 2 -q -o "$T/ours8.tsv" 2>>"$T/err" &&
  "$PY" "$PEER" ppl --system llama.cpp --variant q8_0 -m "$MODEL" --artifact "$T/q8_0.gguf" -f "$T/slice.txt" --ctx 128 --stride 48 \
    -o "$T/llama8.tsv" 2>>"$T/err"; rc=$?
  r=$(rel "$(col "$T/llama8.tsv" ppl)" "$(col "$T/ours8.tsv" ppl)")
  [ $rc = 0 ] && lt "$r" 1e-3
  ok $? "llama.cpp on our q8_0 file $(col "$T/llama8.tsv" ppl) = qbench's $(col "$T/ours8.tsv" ppl) (rel. diff $r < 1e-3) $(tail -1 "$T/err")"
else
  skip "bin/ppl or bin/quantize not built: llama.cpp on our q8_0 file within 0.1 % of qbench"
fi

# --- the GPU script, on the CPU with a tiny model
"$PY" "$ROOT/pipeline/peers/gpu_bench.py" --device cpu --tiny --variants f32,bf16 -o "$T/gpu.tsv" 2>"$T/err"; rc=$?
[ $rc = 0 ] && header "$T/gpu.tsv" | grep -q "^$GEN_HDR	repeat	warmup	gpu_peak_mb" &&
  [ "$(grep -v '^#' "$T/gpu.tsv" | awk -F'\t' 'NR > 1 && $17 == 0' | wc -l)" = 4 ] && grep -q '^# machine:' "$T/gpu.tsv"
ok $? "gpu_bench.py --device cpu --tiny: provenance, our columns, 2 variants x 2 token counts timed rows"

echo "1..$n"
