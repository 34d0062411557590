#!/usr/bin/env bash
# Tokenizer speed: tokens/s encoding wiki.test.raw with qbench's GPT-2 BPE
# (build/tests/helpers/tokenize --bench) next to Hugging Face tokenizers (Rust,
# tests/helpers/gpt2_oracle.py --bench) on the same file, both one thread,
# best of N runs in one process after loading (load time apart). Note: HF keeps
# its word cache across calls, ours starts empty on every call (per-call cache),
# so best-of-N favours HF a little; the first-run column shows cold numbers.
# The mirror is $QB_MIRROR, else $QB_ROOT/../shared/mirror.
set -euo pipefail
ROOT=${QB_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
MIRROR=${QB_MIRROR:-$ROOT/../shared/mirror}
PY=${QB_PYTHON:-$ROOT/.venv/bin/python}
TOK=$ROOT/build/tests/helpers/tokenize
V=$MIRROR/tokenizers/gpt2/vocab.json
M=$MIRROR/tokenizers/gpt2/merges.txt
F=${QB_TOKENIZER_BENCH_FILE:-$MIRROR/datasets/wikitext-2-raw-v1/wiki.test.raw}
R=${QB_BENCH_REPEAT:-10}
if [ ! -f "$V" ] || [ ! -f "$F" ]; then
  echo "# tokenizer bench skipped: GPT-2 tokenizer or $F not found (set QB_MIRROR)"
  exit 0
fi
echo "# machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) CPUs;" \
  "commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
echo "# file: $F ($(wc -c <"$F") bytes), best of $R encodes, one thread"
printf 'impl\tbytes\ttokens\tbest_s\ttokens_per_s\tmb_per_s\tfirst_s\tload_s\n'
out=$("$TOK" --bench -r "$R" "$V" "$M" "$F")
echo "$out" | awk -F'\t' 'NR == 2 { printf "qbench\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", $1, $2, $3, $4, $5, $6, $7 }'
ours=$(echo "$out" | awk -F'\t' 'NR == 2 { print $4 }')
if "$PY" -c 'import tokenizers' 2>/dev/null; then
  out=$(RAYON_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false "$PY" "$ROOT/tests/helpers/gpt2_oracle.py" --bench -r "$R" "$V" "$M" "$F")
  ver=$("$PY" -c 'import tokenizers; print(tokenizers.__version__)')
  echo "$out" | awk -F'\t' -v v="$ver" 'NR == 2 { printf "hf-tokenizers-%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", v, $1, $2, $3, $4, $5, $6, $7 }'
  theirs=$(echo "$out" | awk -F'\t' 'NR == 2 { print $4 }')
  awk -v a="$ours" -v b="$theirs" 'BEGIN { printf "# qbench / hf-tokenizers tokens/s: %.2fx\n", a / b }'
else
  echo "# hf-tokenizers not measured: $PY cannot import tokenizers (make venv)"
fi
