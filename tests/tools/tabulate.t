#!/usr/bin/env bash
# tabulate.t: bin/tabulate on the fixtures of tests/fixtures/tabulate: exact
# outputs (golden files) for md, tex, tsv and csv, the statistics against
# hand-computed values and an independent Python computation, ratio, join,
# sort, filters, columns, number formatting, and every bad input and bad
# usage (exit code and a one-line message naming file and line).
# QB_UPDATE_GOLDEN=1 rewrites the golden files instead of comparing: review
# the diff before committing it.
set -u
ROOT=${QB_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
T=$ROOT/bin/tabulate
FX=$ROOT/tests/fixtures/tabulate
GOLD=$FX/golden
PY=${QB_PYTHON:-python3}
tmp=$(mktemp -d /tmp/qb-tabulate-t.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
cd "$FX" || exit 1

n=0
ok() { # ok STATUS DESCRIPTION
    n=$((n + 1))
    if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi
}
diag() { sed 's/^/# /' "$@"; }
run() { # run ARGS...: stdout in $tmp/out, stderr in $tmp/err, status in $rc
    "$T" "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
}
golden() { # golden NAME ARGS...: output equals tests/fixtures/tabulate/golden/NAME
    local name=$1
    shift
    run "$@"
    if [ -n "${QB_UPDATE_GOLDEN:-}" ] && [ $rc -eq 0 ]; then cp "$tmp/out" "$GOLD/$name"; fi
    if [ $rc -eq 0 ] && [ ! -s "$tmp/err" ] && cmp -s "$GOLD/$name" "$tmp/out"; then
        ok 0 "golden $name"
    else
        ok 1 "golden $name (rc $rc)"
        diag "$tmp/err"
        diff -u "$GOLD/$name" "$tmp/out" | diag
    fi
}
fails() { # fails CODE MESSAGE DESCRIPTION ARGS...: exit CODE, one stderr line holding MESSAGE, no stdout
    local code=$1 want=$2 what=$3
    shift 3
    run "$@"
    if [ $rc -eq "$code" ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -qF -- "$want" "$tmp/err" && [ ! -s "$tmp/out" ]; then
        ok 0 "$what: exit $code, '$want'"
    else
        ok 1 "$what: exit $code, '$want' (got rc $rc)"
        diag "$tmp/err"
    fi
}
# cell COLUMN ROW-MATCH-COLUMN VALUE: the value of COLUMN in the first row of
# $tmp/out (TSV) whose column ROW-MATCH-COLUMN is VALUE.
cell() {
    awk -F'\t' -v want="$1" -v key="$2" -v val="$3" '
        NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
        $c[key] == val { print $c[want]; exit }' "$tmp/out"
}
near() { # near A B [TOL]: |A - B| <= TOL * max(1, |B|)
    awk -v a="$1" -v b="$2" -v t="${3:-1e-12}" 'BEGIN {
        d = a - b; if (d < 0) d = -d; m = b < 0 ? -b : b; if (m < 1) m = 1
        exit !(a != "" && d <= t * m) }'
}

# ---- help and usage --------------------------------------------------------
run --help
ok $([ $rc -eq 0 ] && grep -q '^usage: tabulate' "$tmp/out" && echo 0 || echo 1) "--help prints usage, exit 0"
missing=""
for opt in $(grep -o -- '--[a-z]*' "$tmp/out" | sort -u); do
    grep -q -- "${opt//-/\\\\-}" "$ROOT/tools/man/tabulate.1" || missing="$missing $opt"
done
ok $([ -z "$missing" ] && echo 0 || echo 1) "every option of --help is in the man page${missing:+ (missing:$missing)}"
if command -v man >/dev/null; then
    MANWIDTH=80 man -l "$ROOT/tools/man/tabulate.1" >"$tmp/man" 2>"$tmp/manerr"
    ok $([ -s "$tmp/man" ] && grep -q 'COLUMN NAMES' "$tmp/man" && echo 0 || echo 1) "man page renders"
else
    echo "ok $((n += 1)) # SKIP man not installed"
fi

# ---- golden outputs, one per format ------------------------------------------
golden speed.md speed.tsv --by model,type,threads --agg mean,std tok_s,ttft_ms \
    --ratio tok_s --baseline type=f32 --cells pm \
    --columns 'model=Model,type=Type,threads=Threads,n,tok_s=Decode [tok/s],tok_s_ratio=vs f32,ttft_ms=TTFT [ms]' -f md
golden joined.tex speed.tsv --join mem.tsv --join ppl.tsv --on model,type,device,threads,repeat --where threads=1 \
    --by model,type --agg mean,std tok_s,peak_rss_mb --agg mean ppl,kld --ratio tok_s --baseline type=f32 \
    --cells pm --sort model,tok_s:desc \
    --columns 'model=Model,type=Type,tok_s=Decode [tok/s],tok_s_ratio=Speed-up,peak_rss_mb=Peak RSS [MiB],ppl=PPL,kld=KL_div' -f tex
golden known.tsv known.tsv --by group --agg mean,std,median,min,max x,y
golden speed.csv speed.tsv --where threads=2 --by model,type --agg mean,std,min,max tok_s --sig 4 -f csv
golden special.md special.tsv -f md
golden special.tex special.tsv -f tex --na '--'
golden special.csv special.tsv -f csv
grep -v '^#' special.tsv >"$tmp/special-plain"
run special.tsv
ok $(cmp -s "$tmp/special-plain" "$tmp/out" && echo 0 || echo 1) "tsv out of tsv in is the same bytes (escapes kept, # lines dropped)"
run special.tsv -f csv
ok $(grep -c $'\r$' "$tmp/out" | grep -qx 5 && echo 0 || echo 1) "csv lines end in CRLF (RFC 4180)"

# ---- statistics -----------------------------------------------------------------
# known.tsv, group a: x = 2 4 4 4 5 5 7 9; b: 1 3 8; c: 7 (one row).
run known.tsv --by group --agg mean,std,median,min,max x
ok $([ "$(cell x_mean group a)" = 5 ] && [ "$(cell x_median group a)" = 4.5 ] &&
    [ "$(cell x_min group a)" = 2 ] && [ "$(cell x_max group a)" = 9 ] && [ "$(cell n group a)" = 8 ] &&
    echo 0 || echo 1) "group a: n 8, mean 5, median 4.5 (even count), min 2, max 9"
ok $(near "$(cell x_std group a)" "$(awk 'BEGIN{printf "%.17g", sqrt(32/7)}')" && echo 0 || echo 1) \
    "group a: sample std = sqrt(32/7) (n-1 divisor)"
ok $([ "$(cell x_mean group b)" = 4 ] && [ "$(cell x_median group b)" = 3 ] &&
    near "$(cell x_std group b)" "$(awk 'BEGIN{printf "%.17g", sqrt(13)}')" && echo 0 || echo 1) \
    "group b: mean 4, median 3 (odd count), std sqrt(13)"
ok $([ "$(cell n group c)" = 1 ] && [ "$(cell x_mean group c)" = 7 ] && [ -z "$(cell x_std group c)" ] &&
    echo 0 || echo 1) "group c: one row: std is empty, not 0"
run known.tsv --agg mean x
ok $([ "$(wc -l <"$tmp/out")" -eq 2 ] && [ "$(awk -F'\t' 'NR == 2 { print $1 }' "$tmp/out")" = 12 ] &&
    near "$(awk -F'\t' 'NR == 2 { print $2 }' "$tmp/out")" "$(awk 'BEGIN{printf "%.17g", 59/12}')" && echo 0 || echo 1) \
    "--agg without --by: one row over the whole table (n 12, mean 59/12)"

# An independent computation (Python's statistics module) of every group of speed.tsv.
run speed.tsv --by model,type,threads --agg mean,std,median,min,max tok_s,ttft_ms
cp "$tmp/out" "$tmp/agg.tsv"
"$PY" - speed.tsv "$tmp/agg.tsv" >"$tmp/py" 2>&1 <<'EOF'
import csv, math, statistics, sys
rows = [l for l in open(sys.argv[1]) if not l.startswith('#')]
data = list(csv.DictReader(rows, delimiter='\t'))
groups = {}
for r in data:
    groups.setdefault((r['model'], r['type'], r['threads']), []).append(r)
got = list(csv.DictReader(open(sys.argv[2]), delimiter='\t'))
assert [(g['model'], g['type'], g['threads']) for g in got] == list(groups), 'groups or their order differ'
funcs = {'mean': statistics.mean, 'std': statistics.stdev, 'median': statistics.median, 'min': min, 'max': max}
worst = 0.0
for g in got:
    rs = groups[(g['model'], g['type'], g['threads'])]
    assert int(g['n']) == len(rs)
    for col in ('tok_s', 'ttft_ms'):
        xs = [float(r[col]) for r in rs]
        for name, f in funcs.items():
            want, have = f(xs), float(g[f'{col}_{name}'])
            worst = max(worst, abs(have - want) / max(abs(want), 1e-300))
print(f'groups {len(got)} worst relative error {worst:.3g}')
sys.exit(0 if worst < 1e-13 else 1)
EOF
pyrc=$?
ok $pyrc "all statistics of 12 groups match Python's statistics module ($(tail -1 "$tmp/py"))"
[ $pyrc -eq 0 ] || diag "$tmp/py"

# ---- ratio -------------------------------------------------------------------------
run speed.tsv --by model,type,threads --agg mean tok_s --ratio tok_s --baseline type=f32
"$PY" - speed.tsv "$tmp/out" >"$tmp/py" 2>&1 <<'EOF2'
import csv, statistics, sys
rows = [l for l in open(sys.argv[1]) if not l.startswith('#')]
mean = {}
for r in csv.DictReader(rows, delimiter='\t'):
    mean.setdefault((r['model'], r['type'], r['threads']), []).append(float(r['tok_s']))
mean = {k: statistics.mean(v) for k, v in mean.items()}
got = list(csv.DictReader(open(sys.argv[2]), delimiter='\t'))
assert len(got) == len(mean) == 12
for g in got:
    want = mean[(g['model'], g['type'], g['threads'])] / mean[(g['model'], 'f32', g['threads'])]
    assert abs(float(g['tok_s_ratio']) - want) <= 1e-14 * want, (g, want)
print('12 ratios ok')
EOF2
ok $? "tok_s_ratio = mean / mean of f32 with the same model and threads, for all 12 rows (checked in Python)"
ok $([ "$(head -1 "$tmp/out" | cut -f6)" = tok_s_ratio ] && [ "$(cell tok_s_ratio type f32)" = 1 ] && echo 0 || echo 1) \
    "ratio column is named tok_s_ratio (from tok_s_mean), baseline rows have 1"
v() { grep -v '^#' speed.tsv | awk -F'\t' -v m="$1" -v t="$2" -v th="$3" -v r="$4" -v c="$5" \
    '$1 == m && $2 == t && $4 == th && $5 == r { print $c }'; }
run speed.tsv --where model=m10 --where threads=1 --where repeat=2 --ratio tok_s,ttft_ms --baseline type=f32
ok $([ $rc -eq 0 ] && [ "$(wc -l <"$tmp/out")" -eq 4 ] &&
    near "$(cell tok_s_ratio type q8_0)" "$(awk -v a="$(v m10 q8_0 1 2 8)" -v b="$(v m10 f32 1 2 8)" 'BEGIN{printf "%.17g", a/b}')" &&
    near "$(cell ttft_ms_ratio type q4_0)" "$(awk -v a="$(v m10 q4_0 1 2 7)" -v b="$(v m10 f32 1 2 7)" 'BEGIN{printf "%.17g", a/b}')" &&
    echo 0 || echo 1) "raw rows, no --by: one baseline for the whole table; several ratio columns"
run speed.tsv --where threads=1 --where repeat=1 --ratio tok_s --baseline type=f32 --within model
ok $([ $rc -eq 0 ] && [ "$(wc -l <"$tmp/out")" -eq 7 ] &&
    near "$(awk -F'\t' '$1 == "m124" && $2 == "q4_0" { print $9 }' "$tmp/out")" \
         "$(awk -v a="$(v m124 q4_0 1 1 8)" -v b="$(v m124 f32 1 1 8)" 'BEGIN{printf "%.17g", a/b}')" &&
    echo 0 || echo 1) "--within picks the rows that share a baseline (per model)"

# ---- join ------------------------------------------------------------------------
run speed.tsv --join mem.tsv --join ppl.tsv --on model,type,device,threads,repeat
ok $([ $rc -eq 0 ] && [ "$(head -1 "$tmp/out")" = "$(printf 'model\ttype\tdevice\tthreads\trepeat\tnew_tokens\tttft_ms\ttok_s\tpeak_rss_mb\twall_s\tbits_per_weight\tppl\tkld')" ] &&
    [ "$(wc -l <"$tmp/out")" -eq 37 ] && [ ! -s "$tmp/err" ] && echo 0 || echo 1) \
    "join: key columns once, 36 rows kept, mem.tsv by run, ppl.tsv (no threads, repeat) per model x type"
ok $([ "$(awk -F'\t' '$1 == "m124" && $2 == "q8_0" && $4 == 2 && $5 == 3 { print $9, $12 }' "$tmp/out")" = "$(
    awk -F'\t' '$1 == "m124" && $2 == "q8_0" && $4 == 2 && $5 == 3 { print $6 }' mem.tsv) 29.95" ] && echo 0 || echo 1) \
    "join: a row gets its own run's memory and its model x type's perplexity"
run speed.tsv --join ppl.tsv --on model,type
ok $([ $rc -eq 0 ] && head -1 "$tmp/out" | grep -q $'\tppl.device\t' && echo 0 || echo 1) \
    "join: a non-key column already in the table becomes STEM.NAME (ppl.device)"
grep -v 'q4_0' ppl.tsv >"$tmp/ppl-part.tsv"
run speed.tsv --join "$tmp/ppl-part.tsv" --on model,type
ok $([ $rc -eq 0 ] && grep -q 'no row for 12 of 36 rows' "$tmp/err" && grep -q 'speed.tsv:' "$tmp/err" &&
    [ "$(awk -F'\t' '$2 == "q4_0" && $NF != ""' "$tmp/out" | wc -l)" -eq 0 ] && echo 0 || echo 1) \
    "join: unmatched rows kept with empty cells, one warning counting them"
run speed.tsv --join "$tmp/ppl-part.tsv" --on model,type --by model --agg mean ppl
ok $([ $rc -eq 2 ] && [ ! -s "$tmp/out" ] &&
    grep -qF "speed.tsv:17 (no match in $tmp/ppl-part.tsv): --agg: column 'ppl': not a number: ''" "$tmp/err" &&
    echo 0 || echo 1) "aggregating an unmatched joined cell: exit 2 naming the row and the join file"
fails 2 "mem.tsv:5: --join: a second row for model=m10, type=f32 (first at line 4)" "join file with two rows for a key" \
    speed.tsv --join mem.tsv --on model,type
fails 2 "--on: no input has a column 'modle'" "a join key no input has" speed.tsv --join mem.tsv --on modle,type
fails 2 "--join known.tsv: shares none of the --on columns" "join file without any key" \
    speed.tsv --join known.tsv --on model,group

# ---- where, sort, columns, formatting ---------------------------------------------
run speed.tsv --where type!=f32 --where threads=2 --where model=m10
ok $([ $rc -eq 0 ] && [ "$(awk -F'\t' 'NR > 1 { print $2 $4 }' "$tmp/out" | sort -u | tr '\n' ' ')" = "q4_02 q8_02 " ] &&
    [ "$(wc -l <"$tmp/out")" -eq 7 ] && echo 0 || echo 1) "--where KEY=VALUE and KEY!=VALUE, all must hold"
run speed.tsv --sort tok_s:desc
ok $([ $rc -eq 0 ] && [ "$(awk -F'\t' 'NR > 1 { print $8 }' "$tmp/out" | tr '\n' ' ')" = "$(
    grep -v '^#' speed.tsv | awk -F'\t' 'NR > 1 { print $8 }' | sort -g -r | tr '\n' ' ')" ] && echo 0 || echo 1) \
    "--sort tok_s:desc sorts numerically (not as text)"
run speed.tsv --sort model:desc,threads,tok_s:asc
ok $([ "$(awk -F'\t' 'NR == 2 { print $1, $4 }' "$tmp/out")" = "m124 1" ] &&
    [ "$(awk -F'\t' 'NR > 1 && $1 == "m124" && $4 == 1 { print $8 }' "$tmp/out" | tr '\n' ' ')" = "$(
        grep -v '^#' speed.tsv | awk -F'\t' '$1 == "m124" && $4 == 1 { print $8 }' | sort -g | tr '\n' ' ')" ] &&
    echo 0 || echo 1) "--sort on several keys, mixed directions"
printf 'run\tv\nrun10\t1\nrun2\t\nrun1\t3\nrun2\t2\n' >"$tmp/natural.tsv"
run "$tmp/natural.tsv" --sort run
ok $([ "$(cut -f1 "$tmp/out" | tr '\n' ' ')" = "run run1 run2 run2 run10 " ] && echo 0 || echo 1) \
    "--sort text in natural order (run2 before run10), stable for ties"
run "$tmp/natural.tsv" --sort v:desc
ok $([ "$(cut -f2 "$tmp/out" | tr '\n' ' ')" = "v 3 2 1  " ] && echo 0 || echo 1) "--sort puts empty cells last, also descending"
run speed.tsv --by model,type --agg mean,std tok_s --columns 'type,tok_s=Speed\, mean [tok/s],tok_s_std,type=again'
ok $([ "$(head -1 "$tmp/out")" = "$(printf 'type\tSpeed, mean [tok/s]\ttok_s_std\tagain')" ] && echo 0 || echo 1) \
    "--columns selects, orders, renames (\\, is a comma), tok_s finds tok_s_mean, a column may repeat"
run speed.tsv --by model,type --agg mean tok_s --columns model,tok_s
ok $([ "$(head -1 "$tmp/out")" = "$(printf 'model\ttok_s')" ] && echo 0 || echo 1) \
    "--columns NAME for NAME_mean keeps the name as written (what gnuplot scripts want)"
run known.tsv --where group=b --agg mean y --sig 2
ok $([ "$(cell y_mean n 3)" = 0.29 ] && echo 0 || echo 1) "--sig 2 on tsv: 0.291666... -> 0.29"
run known.tsv --where group=b --agg mean y
ok $([ "$(cell y_mean n 3)" = 0.2916666666666667 ] && echo 0 || echo 1) "tsv keeps full precision without --sig"
run known.tsv --where group=b --agg mean y -f md
ok $(grep -qE '^\| +3 \| +0\.292 \|$' "$tmp/out" && echo 0 || echo 1) "md default: 3 significant digits"
printf 'k\tv\tbig\tn\na\t9.996\t123456789\t3\nb\t0.00012345\t2.5\t4\nc\t-1234.56\t1\t5\nd\t1.5e-7\t0\t6\n' >"$tmp/nums.tsv"
run "$tmp/nums.tsv" -f tsv --sig 3
ok $([ "$(cut -f2 "$tmp/out" | tr '\n' ' ')" = "v 10.0 0.000123 -1235 1.50e-07 " ] &&
    [ "$(cut -f3 "$tmp/out" | tr '\n' ' ')" = "big 123456789 2.50 1.00 0.00 " ] &&
    [ "$(cut -f4 "$tmp/out" | tr '\n' ' ')" = "n 3 4 5 6 " ] && echo 0 || echo 1) \
    "--sig 3: rounding carries (9.996 -> 10.0), small, large and tiny values, integer columns exact"
run known.tsv --by group --agg mean,std x --cells pm -f md --na n/a
ok $(grep -q '| a     |   8 | 5 ± 2 |' "$tmp/out" && grep -q '| c     |   1 |     7 |' "$tmp/out" && echo 0 || echo 1) \
    "--cells pm: 'mean ± std', std to the mean's decimals; a lone mean where std is empty"
run known.tsv --by=group --agg=mean,std x --cells=split --sig=2 --format=md --where=group!=c --sort=x_std:desc --columns=group,x_std
ok $([ $rc -eq 0 ] && [ "$(tail -n +3 "$tmp/out" | tr -d ' ' | tr '\n' ' ')" = "|b|3.6| |a|2.1| " ] && echo 0 || echo 1) \
    "every option also as --option=value; --cells split keeps mean and std apart"
printf 'k\tv\n1\t\n2\t5\n' >"$tmp/empty.tsv"
run "$tmp/empty.tsv" -f md --na n/a
ok $(grep -q '| n/a |' "$tmp/out" && echo 0 || echo 1) "--na fills empty cells in md"

# ---- inputs: stdin, concatenation, provenance, output file ---------------------
run <speed.tsv
ok $([ $rc -eq 0 ] && [ "$(wc -l <"$tmp/out")" -eq 37 ] && ! grep -q '^#' "$tmp/out" && echo 0 || echo 1) \
    "reads stdin; # provenance lines (also mid-file) skipped"
cat speed.tsv speed.tsv | "$T" --by model --agg mean tok_s >"$tmp/out" 2>"$tmp/err"
ok $([ "$(cell n model m10)" = 36 ] && echo 0 || echo 1) "cat a.tsv b.tsv on stdin: repeated header skipped"
run speed.tsv - <mem.tsv
ok $([ $rc -eq 0 ] && [ "$(wc -l <"$tmp/out")" -eq 73 ] && head -1 "$tmp/out" | grep -q $'tok_s\tpeak_rss_mb\twall_s$' &&
    [ "$(awk -F'\t' 'NR == 2 { print $9 }' "$tmp/out")" = "" ] && echo 0 || echo 1) \
    "files with different columns concatenate: union of columns, missing cells empty"
fails 2 "<stdin>:4: --agg: column 'tok_s': not a number: ''" "a missing cell in an aggregated column" \
    speed.tsv - --by model --agg mean tok_s <mem.tsv
run ppl.tsv --by model --agg max ppl
ok $([ $rc -eq 0 ] && [ "$(cell ppl_max model m10)" = 131.9 ] && echo 0 || echo 1) "CRLF input file"
run speed.tsv --by model --agg mean tok_s -o "$tmp/table.md"
ok $([ $rc -eq 0 ] && [ ! -s "$tmp/out" ] && head -1 "$tmp/table.md" | grep -q '^| model' && [ ! -e "$tmp/table.md.tmp" ] &&
    echo 0 || echo 1) "-o FILE writes FILE, format from its extension"
run speed.tsv --by model -o -
ok $([ $rc -eq 0 ] && [ "$(head -1 "$tmp/out")" = "$(printf 'model\tn')" ] && [ ! -e ./- ] && echo 0 || echo 1) "-o - is standard output"
fails 2 "speed.tsv:5: --agg: column 'type': not a number: 'f32'" "a failed run leaves no output file" \
    speed.tsv --agg mean type -o "$tmp/bad.tex"
ok $([ ! -e "$tmp/bad.tex" ] && [ ! -e "$tmp/bad.tex.tmp" ] && echo 0 || echo 1) "no FILE and no FILE.tmp after an error"

# ---- LaTeX compiles -----------------------------------------------------------------
if command -v pdflatex >/dev/null; then
    mkdir -p "$tmp/tex"
    cp "$GOLD/joined.tex" "$GOLD/special.tex" "$tmp/tex/"
    "$T" speed.tsv --by model,type,threads --agg mean,std tok_s --ratio tok_s --baseline type=f32 --cells pm -o "$tmp/tex/speed.tex"
    printf '%s\n' '\documentclass{article}' '\usepackage{booktabs}' '\begin{document}' \
        '\input{joined.tex}' '' '\input{special.tex}' '' '\input{speed.tex}' '\end{document}' >"$tmp/tex/doc.tex"
    # Fonts pdflatex may have to generate go to the temp dir, not to $HOME.
    (cd "$tmp/tex" && TEXMFVAR="$tmp/tex/texmf-var" pdflatex -interaction=nonstopmode -halt-on-error doc.tex >pdflatex.out 2>&1)
    texrc=$?
    ok $([ $texrc -eq 0 ] && [ -s "$tmp/tex/doc.pdf" ] && echo 0 || echo 1) "pdflatex compiles the booktabs tables"
    [ $texrc -eq 0 ] || tail -20 "$tmp/tex/pdflatex.out" | diag
else
    echo "ok $((n += 1)) # SKIP pdflatex not installed: LaTeX output not compiled"
fi

# ---- bad input -----------------------------------------------------------------------
printf 'a\tb\tc\n1\t2\t3\n# note\n4\t5\n' >"$tmp/ragged.tsv"
fails 2 "ragged.tsv:4: 2 fields, header has 3" "ragged row" "$tmp/ragged.tsv"
: >"$tmp/empty0.tsv"
fails 2 "empty0.tsv: empty: no header row" "empty file" "$tmp/empty0.tsv"
printf '# machine: x\n# commit: y\n' >"$tmp/comments.tsv"
fails 2 "comments.tsv: empty: no header row" "comments only" "$tmp/comments.tsv"
fails 2 "nope.tsv: cannot open" "missing file" nope.tsv
fails 2 "--by: no column 'modell' in speed.tsv (columns: model, type" "missing --by column lists the columns" \
    speed.tsv --by modell
fails 2 "--agg: no column 'tokens'" "missing --agg column" speed.tsv --agg mean tokens
fails 2 "--sort: no column 'x'" "missing --sort column" speed.tsv --sort x
fails 2 "--columns: no column 'x'" "missing --columns column" speed.tsv --columns model,x
fails 2 "--where: no column 'x'" "missing --where column" speed.tsv --where x=1
printf 'm\tv\na\t1\na\tfast\n' >"$tmp/nonnum.tsv"
fails 2 "nonnum.tsv:3: --agg: column 'v': not a number: 'fast'" "non-numeric value in an aggregated column" \
    "$tmp/nonnum.tsv" --by m --agg mean v
printf 'm\tv\na\t1\na\t0x10\na\t 2\n' >"$tmp/hex.tsv"
fails 2 "hex.tsv:3: --agg: column 'v': not a number: '0x10'" "hex is not a number" "$tmp/hex.tsv" --agg mean v
printf 'm\tv\na\t1\na\t 2\n' >"$tmp/blank.tsv"
fails 2 "blank.tsv:3: --agg: column 'v': not a number: ' 2'" "a blank-padded number is not a number" \
    "$tmp/blank.tsv" --agg mean v
fails 2 "nonnum.tsv:3: --ratio: column 'v': not a number: 'fast'" "non-numeric value in a ratio column" \
    "$tmp/nonnum.tsv" --ratio v --baseline v=1
grep -v $'^m124\tf32' speed.tsv >"$tmp/nobase.tsv"
fails 2 "--baseline type=f32: no baseline row for model=m124, threads=1 (needed by row model=m124, type=q8_0, threads=1)" \
    "baseline missing in a group" "$tmp/nobase.tsv" --by model,type,threads --agg mean tok_s --ratio tok_s --baseline type=f32
fails 2 "two baseline rows (speed.tsv:5 and speed.tsv:6) for the whole table" "two baseline rows in a group" \
    speed.tsv --ratio tok_s --baseline type=f32
printf 'k\tv\nbase\t0\nx\t1\n' >"$tmp/zero.tsv"
fails 2 "zero.tsv:2: --ratio: baseline value of 'v' is 0" "baseline value 0" "$tmp/zero.tsv" --ratio v --baseline k=base
printf 'a\tb\n1\t2\n' >"$tmp/bin.tsv"
printf '\0' >>"$tmp/bin.tsv"
fails 2 "bin.tsv: byte 8: NUL byte" "binary file" "$tmp/bin.tsv"

# ---- bad usage -------------------------------------------------------------------------
fails 1 "unknown option '--bogus'" "unknown option" speed.tsv --bogus
fails 1 "--agg: unknown statistic 'avg'" "unknown statistic" speed.tsv --agg avg tok_s
fails 1 "--agg needs two arguments" "--agg with one argument" speed.tsv --agg mean
fails 1 "--by needs an argument" "option without its argument" speed.tsv --by
fails 1 "--ratio needs --baseline" "--ratio without --baseline" speed.tsv --ratio tok_s
fails 1 "--baseline needs --ratio" "--baseline without --ratio" speed.tsv --baseline type=f32
fails 1 "--baseline: expected KEY=VALUE" "--baseline without =" speed.tsv --ratio tok_s --baseline f32
fails 1 "--join needs --on" "--join without --on" speed.tsv --join mem.tsv
fails 1 "--on needs --join" "--on without --join" speed.tsv --on model
fails 1 "--format: unknown format 'xls'" "unknown format" speed.tsv --format xls
fails 1 "--sort: 'tok_s:down': order must be :asc or :desc" "bad sort order" speed.tsv --sort tok_s:down
fails 1 "--sig: 0 is out of range" "--sig out of range" speed.tsv --sig 0
fails 1 "--cells: expected pm or split" "bad --cells" speed.tsv --cells both
fails 1 "--where: expected KEY=VALUE or KEY!=VALUE" "bad --where" speed.tsv --where model
fails 1 "--by: empty item in 'model,,type'" "empty list item" speed.tsv --by model,,type
fails 1 "standard input ('-') can be read only once" "stdin twice" - --join - --on model
printf 'n\tv\n1\t2\n' >"$tmp/n.tsv"
fails 1 "output column 'n' would appear twice" "output name clash" "$tmp/n.tsv" --by n

# ---- never crash on garbage -----------------------------------------------------------
crashed=0
for i in $(seq 1 40); do
    head -c $((RANDOM % 2000 + 1)) /dev/urandom | tr '\0' 'x' >"$tmp/junk.tsv"
    [ $((i % 2)) -eq 0 ] && { printf 'a\tb\n'; tr -dc 'ab\t\n0-9.e#\\-' </dev/urandom | head -c 500; } >"$tmp/junk.tsv"
    for args in "" "--by a --agg mean,std,median b -f md" "--sort a:desc,b -f tex" "--ratio b --baseline a=1 -f csv"; do
        # shellcheck disable=SC2086
        "$T" "$tmp/junk.tsv" $args >/dev/null 2>&1
        r=$?
        [ $r -le 2 ] || { crashed=1; echo "# exit $r with args '$args' on this input (base64):"; base64 "$tmp/junk.tsv" | diag; }
    done
done
ok $crashed "random input: every run exits 0, 1 or 2 (no crash)"

echo "1..$n"
