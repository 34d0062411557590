#!/usr/bin/env bash
# tokenizer.t: tools/lib/tokenizer through the test helper `tokenize`.
#  - bad vocab/merges files: one-line error naming the file, exit 2, no output;
#  - token-for-token agreement with Hugging Face `tokenizers` (the oracle,
#    tests/helpers/gpt2_oracle.py) on wiki.test.raw, qb-corpus valid.txt, the
#    edge-case file tests/fixtures/tokenizer_edge.txt (invalid UTF-8 included:
#    the oracle applies tokenizer.h's rule for it), and with a tiny hand-made
#    vocabulary whose merges pin down BPE order;
#  - decode(encode(x)) == x byte for byte on the same files.
# The mirror is $QB_MIRROR, else $QB_ROOT/../shared/mirror; tests that need it
# are skipped (visibly) without it.
set -u
root=${QB_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
py=${QB_PYTHON:-$root/.venv/bin/python}
mirror=${QB_MIRROR:-$root/../shared/mirror}
tok=$root/build/tests/helpers/tokenize
oracle=$root/tests/helpers/gpt2_oracle.py
fx=$root/tests/fixtures
tiny_v=$fx/tokenizer_tiny_vocab.json
tiny_m=$fx/tokenizer_tiny_merges.txt
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0
ok() { n=$((n + 1)); if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi; }
skip() { n=$((n + 1)); echo "ok $n # SKIP $1"; }

# --- bad input -----------------------------------------------------------
# expect_data_error NAME FILE_NAMED VOCAB MERGES: exit 2, nothing on stdout,
# exactly one line on stderr and it names FILE_NAMED.
expect_data_error() {
    local what=$1 named=$2
    "$tok" "$3" "$4" "$fx/tokenizer_edge.txt" >"$tmp/out" 2>"$tmp/err"
    local rc=$? lines
    lines=$(wc -l <"$tmp/err")
    if [ $rc -eq 2 ] && [ ! -s "$tmp/out" ] && [ "$lines" -eq 1 ] && grep -qF -- "$named" "$tmp/err"; then
        ok 0 "$what: exit 2, one line naming the file ($(head -c 160 "$tmp/err"))"
    else
        ok 1 "$what: want exit 2 and one line naming $named; got rc=$rc, $lines lines: $(head -c 300 "$tmp/err")"
    fi
}
b=$tmp/bad
mkdir -p "$b"
expect_data_error "missing vocab" "$b/nope.json" "$b/nope.json" "$tiny_m"
expect_data_error "missing merges" "$b/nope.txt" "$tiny_v" "$b/nope.txt"
expect_data_error "vocab is a directory" "$b" "$b" "$tiny_m"
: >"$b/empty.json"; : >"$b/empty.txt"
expect_data_error "empty vocab" "$b/empty.json" "$b/empty.json" "$tiny_m"
expect_data_error "empty merges" "$b/empty.txt" "$tiny_v" "$b/empty.txt"
head -c 500 "$tiny_v" >"$b/trunc.json"
expect_data_error "truncated JSON" "$b/trunc.json" "$b/trunc.json" "$tiny_m"
echo '["a", "b"]' >"$b/array.json"
expect_data_error "vocab not an object" "$b/array.json" "$b/array.json" "$tiny_m"
echo '{}' >"$b/obj0.json"
expect_data_error "vocab with no tokens" "$b/obj0.json" "$b/obj0.json" "$tiny_m"
sed 's/"a": 97/"a": "97"/' "$tiny_v" >"$b/strid.json"
expect_data_error "id is a string" "$b/strid.json" "$b/strid.json" "$tiny_m"
sed 's/"a": 97/"a": 97.0/' "$tiny_v" >"$b/realid.json"
expect_data_error "id is not an integer" "$b/realid.json" "$b/realid.json" "$tiny_m"
sed 's/"a": 97/"a": 98/' "$tiny_v" >"$b/dupid.json"
expect_data_error "duplicate id" "$b/dupid.json" "$b/dupid.json" "$tiny_m"
sed 's/"a": 97/"a": 9999/' "$tiny_v" >"$b/bigid.json"
expect_data_error "id out of range" "$b/bigid.json" "$b/bigid.json" "$tiny_m"
sed 's/"a": 97/"a": -1/' "$tiny_v" >"$b/negid.json"
expect_data_error "negative id" "$b/negid.json" "$b/negid.json" "$tiny_m"
sed 's/"b": 98/"a": 98/' "$tiny_v" >"$b/dupkey.json"
expect_data_error "duplicate token string" "$b/dupkey.json" "$b/dupkey.json" "$tiny_m"
sed 's/"a": 97/"aX": 97/' "$tiny_v" >"$b/nobyte.json"
expect_data_error "vocab lacks a byte token" "$b/nobyte.json" "$b/nobyte.json" "$tiny_m"
printf '#version: 0.2\nb c\na zz\n' >"$b/unknown.txt"
expect_data_error "merge names a token absent from the vocab" "$b/unknown.txt:3" "$tiny_v" "$b/unknown.txt"
printf '#version: 0.2\nb c\nb a\n' >"$b/noresult.txt"
expect_data_error "merge result absent from the vocab" "$b/noresult.txt:3" "$tiny_v" "$b/noresult.txt"
printf '#version: 0.2\nb c\nabc\n' >"$b/nospace.txt"
expect_data_error "merge line without a space" "$b/nospace.txt:3" "$tiny_v" "$b/nospace.txt"
printf '#version: 0.2\nb c\na b c\n' >"$b/three.txt"
expect_data_error "merge line with three tokens" "$b/three.txt:3" "$tiny_v" "$b/three.txt"
printf '#version: 0.2\nb c\n\na b\n' >"$b/blank.txt"
expect_data_error "blank merge line" "$b/blank.txt:3" "$tiny_v" "$b/blank.txt"
printf '#version: 0.2\nb c\nb c\n' >"$b/dupmerge.txt"
expect_data_error "repeated merge" "$b/dupmerge.txt:3" "$tiny_v" "$b/dupmerge.txt"
printf '#version: 0.2\n' >"$b/header.txt"
expect_data_error "merges with only the header" "$b/header.txt" "$tiny_v" "$b/header.txt"
printf '1 2 banana\n' >"$b/ids.txt"
"$tok" --decode "$tiny_v" "$tiny_m" "$b/ids.txt" >"$tmp/out" 2>"$tmp/err"
rc=$?
ok $([ $rc -eq 2 ] && grep -qF "$b/ids.txt" "$tmp/err" && echo 0 || echo 1) "--decode of a non-id: exit 2 naming the file"
"$tok" "$tiny_v" >/dev/null 2>&1
ok $([ $? -eq 1 ] && echo 0 || echo 1) "bad usage: exit 1"

# --- agreement with the oracle --------------------------------------------
# compare NAME VOCAB MERGES FILE: ids from both, token-for-token.
compare() {
    local name=$1 v=$2 m=$3 f=$4
    if ! "$tok" "$v" "$m" "$f" >"$tmp/ours" 2>"$tmp/err"; then
        ok 1 "$name: tokenize failed: $(head -c 300 "$tmp/err")"
        return
    fi
    if ! "$py" "$oracle" "$v" "$m" "$f" >"$tmp/theirs" 2>"$tmp/err"; then
        ok 1 "$name: oracle failed: $(tail -c 300 "$tmp/err")"
        return
    fi
    local stats
    stats=$(paste -d' ' "$tmp/ours" "$tmp/theirs" |
        awk '{ if ($1 != $2) { bad++; if (!first) first = NR } } END { printf "%d %d %d", NR, bad, first }')
    set -- $stats
    echo "# $name: $1 tokens compared, $2 mismatches (ours $(wc -l <"$tmp/ours"), oracle $(wc -l <"$tmp/theirs"))"
    [ "$2" -ne 0 ] && echo "# $name: first mismatch at token $3"
    ok $([ "$2" -eq 0 ] && [ "$1" -gt 0 ] && echo 0 || echo 1) "$name: token-for-token agreement with Hugging Face tokenizers"
}
roundtrip() {
    local name=$1 v=$2 m=$3 f=$4
    "$tok" "$v" "$m" "$f" >"$tmp/ids" && "$tok" --decode "$v" "$m" "$tmp/ids" >"$tmp/back"
    ok $(cmp -s "$f" "$tmp/back" && echo 0 || echo 1) "$name: decode(encode(x)) == x byte for byte"
}

have_oracle=0
"$py" -c 'import tokenizers' 2>/dev/null && have_oracle=1
gv=$mirror/tokenizers/gpt2/vocab.json
gm=$mirror/tokenizers/gpt2/merges.txt
wiki=$mirror/datasets/wikitext-2-raw-v1/wiki.test.raw
valid=$mirror/datasets/qb-corpus/valid.txt
edge=$fx/tokenizer_edge.txt

if [ $have_oracle -eq 0 ]; then
    skip "oracle: $py cannot import tokenizers (make venv)"
else
    compare "tiny vocab, edge file" "$tiny_v" "$tiny_m" "$edge"
fi
roundtrip "tiny vocab, edge file" "$tiny_v" "$tiny_m" "$edge"
if [ ! -f "$gv" ]; then
    skip "GPT-2 tokenizer not in mirror $mirror (set QB_MIRROR)"
else
    if [ $have_oracle -eq 1 ]; then
        compare "GPT-2, edge file" "$gv" "$gm" "$edge"
        for f in "$wiki" "$valid"; do
            if [ -f "$f" ]; then compare "GPT-2, ${f#"$mirror"/}" "$gv" "$gm" "$f"; else skip "$f not in mirror"; fi
        done
    fi
    roundtrip "GPT-2, edge file" "$gv" "$gm" "$edge"
    for f in "$wiki" "$valid"; do
        if [ -f "$f" ]; then roundtrip "GPT-2, ${f#"$mirror"/}" "$gv" "$gm" "$f"; else skip "$f not in mirror"; fi
    done
fi
echo "1..$n"
