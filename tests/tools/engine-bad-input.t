#!/usr/bin/env bash
# engine-bad-input.t: generate and ppl on broken models, texts and arguments.
# Every case must end with exactly one line on stderr, the expected exit code
# (1 usage, 2 data), nothing on stdout and no output file (not even a .tmp).
# Broken models are made from the committed tiny model: edited config.json,
# vocab/merges, and safetensors files damaged by tests/golden/st_tool.py.
set -uo pipefail
root=${QB_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
py=${QB_PYTHON:-python3}
gen=$root/bin/generate ppl=$root/bin/ppl tiny=$root/tests/golden/tiny-gpt2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0 failed=0

# expect RC PATTERN DESCRIPTION -- COMMAND...: stdin is $STDIN (default empty).
expect() {
  local rc=$1 pat=$2 desc=$3; shift 4
  rm -rf "$tmp/o"; mkdir -p "$tmp/o"
  "$@" >"$tmp/stdout" 2>"$tmp/stderr" < "${STDIN:-/dev/null}"
  local got=$? lines; lines=$(wc -l < "$tmp/stderr")
  n=$((n + 1))
  if [ "$got" -eq "$rc" ] && [ "$lines" -eq 1 ] && grep -qE -- "$pat" "$tmp/stderr" && [ ! -s "$tmp/stdout" ] &&
     [ -z "$(ls -A "$tmp/o")" ]; then
    echo "ok $n - $desc (exit $rc: $(head -c 160 "$tmp/stderr"))"
  else
    failed=$((failed + 1))
    echo "not ok $n - $desc"
    echo "# exit $got (want $rc), $lines stderr line(s), want /$pat/:"
    sed 's/^/#   /' "$tmp/stderr" | head -5
    [ -s "$tmp/stdout" ] && echo "# stdout not empty: $(head -c 200 "$tmp/stdout")"
    ls -A "$tmp/o" | sed 's/^/#   left behind: /'
  fi
}

# A model directory: links to the tiny model's files, then the caller edits.
mkmodel() {
  local d=$tmp/m/$1
  rm -rf "$d"; mkdir -p "$d"
  for f in config.json model.safetensors vocab.json merges.txt; do ln -s "$tiny/$f" "$d/$f"; done
  echo "$d"
}
# Rewrites config.json of model dir $1 with the Python expression $2 applied to c.
edit_config() {
  rm -f "$1/config.json"
  "$py" -c "import json,sys; c=json.load(open('$tiny/config.json')); $2; json.dump(c, open('$1/config.json','w'))"
}

P="Once upon a time, there was a magical forest"
G() { expect "$1" "$2" "$3" -- "$gen" -m "$4" -p "$P" -n 4 -t 1 --metrics "$tmp/o/metrics.tsv" "${@:5}"; }
printf 'The quick brown fox jumps over the lazy dog. %.0s' {1..20} > "$tmp/text.txt"
R() { expect "$1" "$2" "$3" -- "$ppl" -m "$4" -f "${5:-$tmp/text.txt}" -t 1 -q -o "$tmp/o/row.tsv" \
        --save-logits "$tmp/o/x.logits" "${@:6}"; }

# ---- missing files ----------------------------------------------------------------
G 2 "cannot open model" "generate: model path missing" "$tmp/nonexistent"
R 2 "cannot open model" "ppl: model path missing" "$tmp/nonexistent"
for f in config.json vocab.json merges.txt; do
  d=$(mkmodel no-${f%.*}); rm "$d/$f"
  G 2 "$f" "model without $f" "$d"
done
d=$(mkmodel no-weights); rm "$d/model.safetensors"
G 2 "no model.safetensors or model.safetensors.index.json" "model without weights" "$d"
printf 'not a model' > "$tmp/plain"
G 2 "not a model" "a plain file as model" "$tmp/plain"

# ---- damaged safetensors ---------------------------------------------------------------
declare -A want=(
  [short]="too short" [truncated]="run past the data section" [truncated_header]="exceeds the file"
  [header_too_long]="exceeds the file" [header_absurd]="exceeds the file" [bad_json]="bad JSON"
  [not_object]="not a JSON object" [dtype_i8]="dtype I8 not supported" [dtype_unknown]="unknown dtype"
  [shape_lies]="bytes but data_offsets" [offsets_past_end]="run past the data section" [overlap]="overlap"
  [negative_offset]="non-negative" [duplicate]="duplicate" [trailing]="belong to no tensor")
for c in $("$py" "$root/tests/golden/st_tool.py" cases); do
  d=$(mkmodel "st-$c"); rm "$d/model.safetensors"
  "$py" "$root/tests/golden/st_tool.py" corrupt "$tiny/model.safetensors" "$d/model.safetensors" "$c"
  G 2 "model.safetensors.*${want[$c]:-MISSING-PATTERN-FOR-$c}" "safetensors: $c" "$d"
done
d=$(mkmodel st-empty); rm "$d/model.safetensors"; : > "$d/model.safetensors"
G 2 "file is empty" "safetensors: empty file" "$d"
d=$(mkmodel st-dir); rm "$d/model.safetensors"; mkdir "$d/model.safetensors"
G 2 "not a regular file" "safetensors: a directory" "$d"
# sharded: an index naming a missing shard, a path outside the directory, a wrong shard
"$py" "$root/tests/golden/st_tool.py" convert "$tiny" "$tmp/sharded" --shards 2
d=$tmp/sharded-missing; cp -r "$tmp/sharded" "$d"; rm "$d/model-00002-of-00002.safetensors"
G 2 "model-00002-of-00002.safetensors: cannot open" "sharded: a shard missing" "$d"
d=$tmp/sharded-escape; cp -r "$tmp/sharded" "$d"; sed -i 's#model-00002-of-00002#../evil#' "$d/model.safetensors.index.json"
G 2 "not a file name in the model directory" "sharded: shard path leaves the directory" "$d"
d=$tmp/sharded-wrong; cp -r "$tmp/sharded" "$d"
"$py" -c "import json; p='$d/model.safetensors.index.json'; j=json.load(open(p)); k=sorted(j['weight_map'])[0]; j['weight_map'][k]='model-00002-of-00002.safetensors' if j['weight_map'][k].startswith('model-00001') else 'model-00001-of-00002.safetensors'; json.dump(j, open(p,'w'))"
G 2 "not in .* as the index says" "sharded: index names the wrong shard" "$d"
d=$tmp/sharded-dup; cp -r "$tmp/sharded" "$d"; cp "$d/model-00001-of-00002.safetensors" "$d/model-00002-of-00002.safetensors"
G 2 "is also in" "sharded: a tensor in two shards" "$d"

# ---- config.json ------------------------------------------------------------------------
for k in vocab_size n_positions n_embd n_head n_layer; do
  d=$(mkmodel "cfg-no-$k"); edit_config "$d" "del c['$k']; c.pop('n_ctx', None)"
  G 2 "missing required key \"$k\"" "config.json without $k" "$d"
done
d=$(mkmodel cfg-heads); edit_config "$d" "c['n_head']=5"
G 2 "\"n_head\" = 5 does not divide \"n_embd\" = 24" "config.json: n_head does not divide n_embd" "$d"
d=$(mkmodel cfg-zero-layers); edit_config "$d" "c['n_layer']=0"
G 2 "\"n_layer\" = 0 is out of range" "config.json: zero layers" "$d"
d=$(mkmodel cfg-negative); edit_config "$d" "c['vocab_size']=-3"
G 2 "\"vocab_size\" = -3 is out of range" "config.json: negative vocabulary" "$d"
d=$(mkmodel cfg-huge); edit_config "$d" "c['n_positions']=10**12"
G 2 "\"n_positions\" = 1000000000000 is out of range" "config.json: absurd context" "$d"
d=$(mkmodel cfg-float); edit_config "$d" "c['n_embd']=24.5"
G 2 "\"n_embd\" is not an integer" "config.json: non-integer width" "$d"
d=$(mkmodel cfg-eps); edit_config "$d" "c['layer_norm_epsilon']=-1"
G 2 "layer_norm_epsilon" "config.json: negative epsilon" "$d"
d=$(mkmodel cfg-act); edit_config "$d" "c['activation_function']='relu'"
G 2 "'relu' not supported" "config.json: unsupported activation" "$d"
d=$(mkmodel cfg-type); edit_config "$d" "c['model_type']='llama'"
G 2 "not \"gpt2\"" "config.json: not a GPT-2" "$d"
d=$(mkmodel cfg-json); rm "$d/config.json"; printf '{"n_embd": 24,' > "$d/config.json"
G 2 "config.json: byte [0-9]+: bad JSON" "config.json: malformed JSON" "$d"
# config and weights disagree
d=$(mkmodel cfg-width); edit_config "$d" "c['n_embd']=32"
G 2 "shape \[50257, 24\], config.json implies \[50257, 32\]" "weights of another width than config.json" "$d"
d=$(mkmodel cfg-layers); edit_config "$d" "c['n_layer']=3"
G 2 "required tensor 'transformer.h.2.ln_1.weight' is missing" "config.json promises a layer the weights lack" "$d"
d=$(mkmodel cfg-inner); edit_config "$d" "c['n_inner']=100"
G 2 "mlp.c_fc.weight': shape \[24, 96\], config.json implies \[24, 100\]" "config.json: n_inner disagrees" "$d"

# ---- vocab / merges --------------------------------------------------------------------
d=$(mkmodel merges-bad); rm "$d/merges.txt"; { head -1 "$tiny/merges.txt"; echo "qqqzz xxyyw"; } > "$d/merges.txt"
G 2 "merges.txt" "merges naming tokens the vocabulary lacks" "$d"
d=$(mkmodel vocab-bad); rm "$d/vocab.json"; printf '{"a": 0, "b": 0}' > "$d/vocab.json"
G 2 "vocab.json" "vocab.json with a repeated id" "$d"
d=$(mkmodel vocab-size); edit_config "$d" "c['vocab_size']=50000"
G 2 "50000" "config.json vocabulary smaller than vocab.json's" "$d"

# ---- prompts and generate's arguments ------------------------------------------------------
expect 1 "empty prompt" "generate: empty -p" -- "$gen" -m "$tiny" -p "" --metrics "$tmp/o/m.tsv"
STDIN=/dev/null expect 1 "empty prompt" "generate: empty standard input" -- "$gen" -m "$tiny" --metrics "$tmp/o/m.tsv"
long=$(printf 'word %.0s' {1..100})
G 2 "101 tokens, longer than the model's context of 64" "generate: prompt longer than the context" "$tiny" -p "$long"
G 1 "-n: 0 is out of range" "generate: -n 0" "$tiny" -n 0
G 1 "need 69 positions, the context is 64" "generate: prompt + -n beyond the context" "$tiny" -n 60
G 2 "prompt: byte 5: not valid UTF-8" "generate: non-UTF-8 prompt" "$tiny" -p $'hello\xff world'
printf 'caf\xc3' > "$tmp/bad-prompt"
STDIN=$tmp/bad-prompt expect 2 "<stdin>: byte 3: not valid UTF-8" "generate: truncated UTF-8 on stdin" -- \
  "$gen" -m "$tiny" --metrics "$tmp/o/m.tsv"
G 1 "unknown option" "generate: unknown option" "$tiny" --frobnicate
expect 1 "-m MODEL is required" "generate: no model" -- "$gen" -p "$P"
# --device cuda where it cannot run: a build without nvcc has no backend (usage
# error); a CUDA build on a machine without a GPU finds no device (exit 2).
if [ -z "$(command -v nvcc)" ]; then
  G 1 "no CUDA backend" "generate: --device cuda without CUDA" "$tiny" --device cuda
elif ! nvidia-smi -L >/dev/null 2>&1; then
  G 2 "device cuda: no (usable )?CUDA device" "generate: --device cuda without a GPU" "$tiny" --device cuda
fi
# The GPU computes weight-only: int8 activations there are refused up front
# (before any device is looked for), so this holds with or without a GPU.
if [ -n "$(command -v nvcc)" ]; then
  G 1 "--act int8: --device cuda computes weight-only" "generate: --act int8 on the GPU" "$tiny" --device cuda --act int8
  R 1 "--act int8: --device cuda computes weight-only" "ppl: --act int8 on the GPU" "$tiny" "$root/README.md" --device cuda --act int8
fi
G 1 "unknown device" "generate: unknown device" "$tiny" --device tpu
G 1 "--temp: -1 is out of range" "generate: negative temperature" "$tiny" --temp -1
G 1 "--top-p: not a number" "generate: bad top-p" "$tiny" --top-p x
G 1 "-t: 0 is out of range" "generate: zero threads" "$tiny" -t 0

# ---- texts and ppl's arguments --------------------------------------------------------------
R 2 "cannot open" "ppl: text missing" "$tiny" "$tmp/no-such-text"
R 2 "read error" "ppl: text is a directory" "$tiny" "$tmp"
printf 'ok text \xc0\xaf more' > "$tmp/overlong.txt"
R 2 "overlong.txt: byte 8: not valid UTF-8" "ppl: non-UTF-8 text (overlong form)" "$tiny" "$tmp/overlong.txt"
printf '\xed\xa0\x80' > "$tmp/surrogate.txt"
R 2 "byte 0: not valid UTF-8" "ppl: non-UTF-8 text (surrogate)" "$tiny" "$tmp/surrogate.txt"
: > "$tmp/empty.txt"
R 2 "empty file" "ppl: empty text" "$tiny" "$tmp/empty.txt"
printf 'Hello' > "$tmp/one.txt"
R 2 "1 token\(s\): nothing to score" "ppl: a one-token text" "$tiny" "$tmp/one.txt"
R 1 "--ctx 65 exceeds the model's context of 64" "ppl: --ctx beyond the model" "$tiny" "" --ctx 65
R 1 "--stride 33 exceeds the window of 32" "ppl: --stride beyond --ctx" "$tiny" "" --ctx 32 --stride 33
R 1 "exclude each other" "ppl: --stride with --stride-half" "$tiny" "" --stride 8 --stride-half
expect 1 "-f TEXT is required" "ppl: no text" -- "$ppl" -m "$tiny"
# --kl-base: a baseline of other windows, not a logits file, truncated, missing
"$ppl" -m "$tiny" -f "$tmp/text.txt" --ctx 32 -t 1 -q --save-logits "$tmp/base32.logits" > /dev/null
R 2 "ctx is 32, this run has 64" "ppl --kl-base: baseline of another window length" "$tiny" "" --kl-base "$tmp/base32.logits"
R 2 "not a logits file" "ppl --kl-base: not a logits file" "$tiny" "" --kl-base "$tmp/text.txt"
head -c 1000 "$tmp/base32.logits" > "$tmp/cut.logits"
R 2 "truncated" "ppl --kl-base: truncated baseline" "$tiny" "" --ctx 32 --kl-base "$tmp/cut.logits"
R 2 "cannot open" "ppl --kl-base: missing baseline" "$tiny" "" --kl-base "$tmp/none.logits"
printf 'The slow brown fox jumps over the lazy dog. %.0s' {1..20} > "$tmp/other.txt"
R 2 "tokens_hash|n_tokens" "ppl --kl-base: baseline of another text" "$tiny" "$tmp/other.txt" --ctx 32 --kl-base "$tmp/base32.logits"

echo "1..$n"
[ "$failed" -eq 0 ]
