#!/usr/bin/env bash
# pipeline.t: `make all` end to end on two tiny synthetic models in a temporary copy of the
# checkout (1 repeat, 2 token counts, 3 variants): timed runs go round by round; every table,
# figure and the PDF appear; a second make has nothing to do, even with every program relinked;
# touching one model's file makes exactly its descendants stale (make -n); killing make in the
# middle leaves no half-written result, and the next make finishes the job; a change to the CPU
# code makes every result stale.
set -uo pipefail
root=${QB_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
n=0 failed=0
ok() { n=$((n + 1)); if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else failed=$((failed + 1)); echo "not ok $n - $2"; [ -n "${3:-}" ] && echo "# $3"; fi; }
finish() { echo "1..$n"; rm -rf "$tmp"; [ "$failed" -eq 0 ]; exit $?; }

for t in gnuplot latexmk pdflatex; do
  command -v $t >/dev/null || { echo "ok 1 # SKIP $t is not installed"; echo "1..1"; exit 0; }
done
tmp=$(mktemp -d /tmp/qb-pipeline-XXXXXX)
repo=$tmp/qbench

# A copy of the checkout as it is (tracked and new files), with the tools already built.
(cd "$root" && { git ls-files --cached --others --exclude-standard; ls -d bin build; } | sort -u |
  tar -cf - --files-from=- 2>/dev/null) | (mkdir -p "$repo" && cd "$repo" && tar -xpf -)
ok $? "a copy of the checkout with the built tools"

# Two tiny models of GPT-2's layout (synthetic weights, the real GPT-2 tokenizer), and a text.
for m in tinyA tinyB; do
  "$root/bin/fetch" --synthetic gpt2 --n-layer 2 --n-embd 64 --n-head 2 --n-ctx 64 --no-tokenizer \
    --seed $([ $m = tinyA ] && echo 1 || echo 2) -q -o "$tmp/src/$m" >/dev/null &&
    cp "$root/tests/golden/tiny-gpt2/vocab.json" "$root/tests/golden/tiny-gpt2/merges.txt" "$tmp/src/$m/"
done
mkdir -p "$repo/data/datasets/tiny"
cat "$root/README.md" "$root/data/README.md" > "$repo/data/datasets/tiny/text.txt"

knobs=(MODELS='tinyA tinyB' QUALITY_MODELS='tinyA tinyB' MODEL_SRC_tinyA="$tmp/src/tinyA" MODEL_SRC_tinyB="$tmp/src/tinyB"
  VARIANTS='f32 int8-dyn q4_0' THREADS=1 REPEATS=1 NEW_TOKENS='4 8' DEVICES=cpu
  QUALITY_TEXTS=tiny/text.txt CALIB_SOURCE=tiny/text.txt MEMBW_MIB=32 PROMPT='Once upon a time')
mk() { make -C "$repo" --no-print-directory "${knobs[@]}" "$@"; }

# Timed runs go in rounds: every warm-up, then repeat 1 of every cell, then repeat 2, ...
order=$(mk -n speed REPEATS=2 2>/dev/null | grep -o -- '--metrics [^ ]*' | sed -E 's/.*-r([0-9]+)\.tsv\.gen$/\1/' | uniq | tr '\n' ' ')
ok "$([ "$order" = "0 1 2 " ]; echo $?)" "timed runs go round by round over the matrix (repeat order: $order)"

mk all > "$tmp/all.log" 2>&1
ok $? "make all succeeds" "$(tail -5 "$tmp/all.log" | tr '\n' ' ')"
tab=$repo/data/results/local/tables
missing=""
for f in $tab/speed.tsv $tab/size.tsv $tab/quality.tsv $tab/roofline.tsv $tab/scaling.tsv $tab/memtime.tsv \
         $repo/paper/paper.pdf $repo/paper/RESULTS.md; do
  [ -s "$f" ] || missing="$missing ${f#$repo/}"
done
for g in decode size quality latency memory memtime roofline scaling; do
  for e in png pdf; do [ -s "$repo/figures/$g.$e" ] || missing="$missing figures/$g.$e"; done
done
ok "$([ -z "$missing" ]; echo $?)" "every table, figure (PNG and PDF), the paper and RESULTS.md exist" "missing:$missing"
rows=$(grep -vc '^#' "$tab/speed.tsv")
ok "$([ "$rows" -eq $((1 + 2 * 3 * 2)) ]; echo $?)" "the speed table has one row per model x variant x token count ($rows lines)"
pages=$(pdfinfo "$repo/paper/paper.pdf" 2>/dev/null | awk '/^Pages:/ {print $2}')
ok "$([ "${pages:-0}" -ge 4 ]; echo $?)" "the paper has $pages pages"

out=$(mk -n all 2>&1 | grep -v '^make\[' | grep -vE '^(echo|qbench:)' | head -5)
ok "$([ -z "$out" ]; echo $?)" "a second make all has nothing to rebuild" "$out"

# Every program relinked with its CPU code unchanged (what a change to the CUDA library alone
# does): the results depend on the code, not on the programs' dates, so none is stale.
touch "$repo"/bin/* "$repo/build/bench/membw"
out=$(mk -n all 2>&1 | grep -v '^make\[' | grep -vE '^(echo|qbench:)' | head -5)
ok "$([ -z "$out" ]; echo $?)" "relinked programs with unchanged CPU code leave every result fresh" "$out"

# Another card's committed rows (GPU_RESULTS): the report names that GPU and its directory.
if [ -f "$repo/data/results/h100/decode.tsv" ]; then
  mkdir -p "$repo/data/results/h200"
  sed 's/gpu=NVIDIA H100 80GB HBM3/gpu=NVIDIA H200/' "$repo/data/results/h100/decode.tsv" > "$repo/data/results/h200/decode.tsv"
  mk paper/RESULTS.md paper/gen/macros.tex GPU_RESULTS=data/results/h200 > "$tmp/h200.log" 2>&1
  ok "$(grep -q '^## GPU (NVIDIA H200, committed rows under data/results/h200/)' "$repo/paper/RESULTS.md" &&
        grep -q 'QBgpu}{NVIDIA H200}' "$repo/paper/gen/macros.tex"; echo $?)" \
    "GPU_RESULTS=data/results/h200: RESULTS.md and the paper's macros name the H200 and its rows" "$(tail -3 "$tmp/h200.log")"
  rm -rf "$repo/data/results/h200"
  mk paper/RESULTS.md paper/gen/macros.tex > "$tmp/h100.log" 2>&1
  ok "$(grep -q '^## GPU (NVIDIA H100 80GB HBM3, committed rows under data/results/h100/)' "$repo/paper/RESULTS.md"; echo $?)" \
    "back to the default GPU_RESULTS, the report names the H100 again (its older rows are reread)" "$(tail -3 "$tmp/h100.log")"
else
  ok 0 "# SKIP no committed GPU rows to relabel"
fi

# Touch one model: its descendants (GGUF files, runs, quality) are stale, the other model's not.
touch "$repo/data/models/tinyA/model.safetensors" "$repo/data/models/tinyA/config.json"
plan=$(mk -n all 2>&1)
ok "$(echo "$plan" | grep -q 'quantize data/models/tinyA' && echo "$plan" | grep -q 'generate -m data/gguf/tinyA/' ; echo $?)" \
  "touching tinyA's files makes its variants and runs stale"
ok "$(echo "$plan" | grep -qE 'quantize data/models/tinyB|(generate|ppl) -m data/gguf/tinyB/'; [ $? -ne 0 ]; echo $?)" \
  "tinyB's variants and runs are not rebuilt"

# Kill make in the middle of the rebuild; nothing half-written may be left under a final name.
mk all > "$tmp/kill.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do grep -q 'sample-res' "$tmp/kill.log" 2>/dev/null && break; sleep 0.1; done
sleep 0.3
kill -INT $pid 2>/dev/null; pkill -INT -P $pid 2>/dev/null
wait $pid 2>/dev/null
bad=""
while IFS= read -r f; do
  [ "$(grep -vc '^#' "$f")" -eq 2 ] || bad="$bad ${f#$repo/}"
done < <(find "$repo/data/results/local/speed" "$repo/data/results/local/quality" -name '*.tsv' ! -name '*.series.tsv' 2>/dev/null)
ok "$([ -z "$bad" ]; echo $?)" "after killing make, every result row file is complete" "bad:$bad"
mk all > "$tmp/resume.log" 2>&1
ok $? "the next make all finishes the job" "$(tail -3 "$tmp/resume.log" | tr '\n' ' ')"
out=$(mk -n all 2>&1 | grep -v '^make\[' | grep -vE '^(echo|qbench:)' | head -3)
ok "$([ -z "$out" ]; echo $?)" "and leaves nothing stale" "$out"

# A change to the CPU code (one of libqb's sources): every model's variants and runs are stale.
echo '/* a change */' >> "$repo/tools/lib/util.c"
plan=$(mk -n all 2>&1)
missing=""
for w in 'quantize data/models/tinyB' 'generate -m data/gguf/tinyA/' 'ppl -m data/gguf/tinyB/' 'bin/tabulate' \
         'build/bench/membw -s'; do
  echo "$plan" | grep -qF -- "$w" || missing="$missing [$w]"
done
ok "$([ -z "$missing" ]; echo $?)" "a change to libqb's sources makes every variant, run and table stale" \
  "not planned:$missing"

finish
