#!/usr/bin/env bash
# fetch: transfers against a loopback HTTP server with scripted misbehaviour
# (tests/helpers/httpd.py): good, wrong bytes, truncated, 404, 500 (once and
# always), silent server, Range resume, servers that ignore Range, redirects
# to file://, hostile zips, concurrent fetches; mirrors (directory, file://,
# http via QB_MIRROR) and their order; --strict, --verify, the catalogue
# checks and the command line. Every case checks the exit code, a one-line
# message and that nothing is installed under the final name unless its
# digest is right. About 15 s.
set -u
ROOT=${QB_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
PY=${QB_PYTHON:-python3}
F=$ROOT/bin/fetch
T=$(mktemp -d)
SRV_PID=
cleanup() { [ -n "$SRV_PID" ] && kill "$SRV_PID" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY all_proxy QB_MIRROR
n=0
ok() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi; }
diag() { echo "# $*"; }
sha() { sha256sum "$1" | cut -d' ' -f1; }
# fetch_rc NAME OPTIONS...: runs fetch with the test catalogue; sets rc, out, err.
fetch_rc() {
  "$F" --data "$T/data" --sources "$T/s.tsv" --retry-delay 0.05 "$@" >"$T/out" 2>"$T/err"
  rc=$?
  out=$(cat "$T/out")
  err=$(tail -n 1 "$T/err")
}
lines() { wc -l <"$1" | tr -d ' '; }
# requests MODE PATH: how many requests the server logged for it.
requests() { grep -c "^$1 $2 " "$T/log" 2>/dev/null || true; }
installed() { [ -f "$T/data/models/$1/model.safetensors" ]; }
leftovers() { find "$T/data" -name '*.tmp' | grep -q .; }

# ---- fixtures ------------------------------------------------------------------
mkdir -p "$T/srv" "$T/data"
head -c 2000000 /dev/urandom >"$T/srv/good.bin"
head -c 2000000 /dev/urandom >"$T/srv/other.bin"
head -c 3000000 /dev/urandom >"$T/srv/big.bin"
GOOD=$(sha "$T/srv/good.bin"); SIZE=2000000
BIG=$(sha "$T/srv/big.bin")
"$PY" - "$T/srv" <<'EOF'
import sys, zipfile, os
d = sys.argv[1]
member = b"the member's bytes\n" * 1000
with zipfile.ZipFile(os.path.join(d, "good.zip"), "w", zipfile.ZIP_DEFLATED) as z:
    z.writestr("wt/test.raw", member)
    z.writestr("wt/other.raw", b"another member\n")
with zipfile.ZipFile(os.path.join(d, "slip.zip"), "w") as z:
    z.writestr("wt/test.raw", member)
    z.writestr("../../escaped.txt", b"zip-slip\n")
with zipfile.ZipFile(os.path.join(d, "link.zip"), "w") as z:
    info = zipfile.ZipInfo("wt/test.raw")
    info.create_system = 3
    info.external_attr = (0o120777 << 16)  # a symlink
    z.writestr(info, "/etc/passwd")
with zipfile.ZipFile(os.path.join(d, "escape.zip"), "w") as z:
    info = zipfile.ZipInfo("wt/up")
    info.create_system = 3
    info.external_attr = (0o120777 << 16)
    z.writestr(info, "../../../etc")
    z.writestr("wt/test.raw", member)
open(os.path.join(d, "member.raw"), "wb").write(member)
EOF
MEMBER=$(sha "$T/srv/member.raw"); MSIZE=$(stat -c %s "$T/srv/member.raw")

"$PY" "$ROOT/tests/helpers/httpd.py" --root "$T/srv" --port-file "$T/port" --log "$T/log" --lifetime 120 &
SRV_PID=$!
for _ in $(seq 50); do [ -s "$T/port" ] && break; sleep 0.1; done
P=$(cat "$T/port" 2>/dev/null)
[ -n "$P" ]; ok $? "loopback server up (port ${P:-none})"
U=http://127.0.0.1:$P

row() { printf '%s\tmodel\tmodel.safetensors\t%s\t%s\t%s\t-\t-\n' "$1" "$2" "$3" "$4"; }
zrow() { printf '%s\tdataset\t-\t%s\t%s\t%s\t-\tarchive\n' "$1" "$2" "$3" "$(stat -c %s "$T/srv/$4")"; }
mrow() { printf '%s\tdataset\ttest.raw\t%s\t%s\t%s\twt/test.raw\t-\n' "$1" "$2" "$MEMBER" "$MSIZE"; }
{
  printf 'name\tkind\tfile\turl\tsha256\tbytes\tmember\tnote\n'
  row good "$U/good/good.bin" "$GOOD" $SIZE
  row wrong "$U/good/other.bin" "$GOOD" $SIZE
  row wrongsize "$U/good/good.bin" "$GOOD" 1999999
  row trunc "$U/trunc/good.bin" "$GOOD" $SIZE
  row trunconce "$U/trunconce/good.bin" "$GOOD" $SIZE
  row notfound "$U/404/good.bin" "$GOOD" $SIZE
  row flaky "$U/flaky/good.bin" "$GOOD" $SIZE
  row err500 "$U/500/good.bin" "$GOOD" $SIZE
  row slow "$U/slow/good.bin" "$GOOD" $SIZE
  row resume "$U/good/good.bin" "$GOOD" $SIZE
  row norange "$U/norange/good.bin" "$GOOD" $SIZE
  row badpart "$U/good/good.bin" "$GOOD" $SIZE
  row unpinned "$U/good/good.bin" - -
  row redirect "$U/tofile/good.bin" "$GOOD" $SIZE
  row conc "$U/throttle/big.bin" "$BIG" 3000000
  row mirrored "$U/404/good.bin" "$GOOD" $SIZE
  row mirrorhttp "$U/404/good.bin" "$GOOD" $SIZE
  row mirrorwrong "$U/404/good.bin" "$GOOD" $SIZE
  row mirrorfirst "$U/good/mirrorfirst.bin" "$GOOD" $SIZE
  row mirroronly "$U/good/good.bin" "$GOOD" $SIZE
  zrow zip "$U/good/good.zip" "$(sha "$T/srv/good.zip")" good.zip
  mrow zip "$U/good/good.zip"
  printf 'zip2\tdataset\tother.raw\t%s\t-\t-\twt/other.raw\tunpinned member of a pinned archive\n' "$U/good/good.zip"
  zrow slip "$U/good/slip.zip" "$(sha "$T/srv/slip.zip")" slip.zip
  mrow slip "$U/good/slip.zip"
  zrow link "$U/good/link.zip" "$(sha "$T/srv/link.zip")" link.zip
  mrow link "$U/good/link.zip"
  zrow escape "$U/good/escape.zip" "$(sha "$T/srv/escape.zip")" escape.zip
  mrow escape "$U/good/escape.zip"
  mrow zipbad "$U/good/other.bin"
  zrow zipm "$U/404/good.zip" "$(sha "$T/srv/good.zip")" good.zip
  mrow zipm "$U/404/good.zip"
} >"$T/s.tsv"
cp "$T/srv/good.bin" "$T/srv/mirrorfirst.bin"

# ---- the good case, then again (nothing transferred) -----------------------------
fetch_rc good
[ $rc = 0 ] && installed good && [ "$(sha "$T/data/models/good/model.safetensors")" = "$GOOD" ]
ok $? "good: exit 0, installed with the pinned digest"
[ "$(printf '%s\n' "$out" | sed -n 2p | cut -f1,2,4,5,6)" = "$(printf 'good\tmodel.safetensors\t%s\tyes\tinstalled' "$GOOD")" ]
ok $? "good: report row name file sha256 pinned status"
grep -q "^$GOOD  model.safetensors$" "$T/data/models/good/SHA256SUMS"; ok $? "good: SHA256SUMS records the digest"
[ ! -e "$T/data/models/good/model.safetensors.part" ] && ! leftovers; ok $? "good: no .part or .tmp left"
before=$(requests good good.bin)
fetch_rc good
[ $rc = 0 ] && [ "$(requests good good.bin)" = "$before" ] && printf '%s\n' "$out" | grep -q "	present	"
ok $? "good again: exit 0, status present, no transfer"

# ---- wrong bytes ------------------------------------------------------------------
fetch_rc wrong -q
[ $rc = 4 ] && ! installed wrong && [ ! -e "$T/data/models/wrong/model.safetensors.part" ]
ok $? "wrong checksum: exit 4, nothing installed, no .part kept"
[ "$(lines "$T/err")" = 1 ] && grep -q "sha256 .*expected $GOOD" "$T/err"; ok $? "wrong checksum: one line naming both digests ($err)"
fetch_rc wrongsize
[ $rc = 4 ] && ! installed wrongsize; ok $? "wrong size (1 byte short of the file): exit 4, nothing installed"

# ---- truncated transfers ----------------------------------------------------------------
fetch_rc trunc --retries 2
[ $rc = 3 ] && ! installed trunc && [ -s "$T/data/models/trunc/model.safetensors.part" ]
ok $? "always truncated: exit 3, nothing installed, the partial .part kept for resuming"
[ "$(requests trunc good.bin)" = 3 ] && [ "$(grep -c '^trunc good.bin bytes=' "$T/log")" = 2 ]
ok $? "always truncated: 3 attempts, the retries resume with Range"
[ "$(tail -1 "$T/err" | grep -c 'after 3 attempts')" = 1 ]; ok $? "always truncated: last line says so ($(tail -1 "$T/err"))"
fetch_rc trunconce
[ $rc = 0 ] && installed trunconce && [ "$(requests trunconce good.bin)" = 2 ] &&
  grep -q "^trunconce good.bin bytes=1000000- 206" "$T/log"
ok $? "truncated once: resumed from byte 1000000 (206), installed"

# ---- HTTP errors --------------------------------------------------------------------------
fetch_rc notfound --retries 3
[ $rc = 3 ] && ! installed notfound && [ "$(requests 404 good.bin)" = 1 ] && [ "$(lines "$T/err")" = 1 ] && grep -q 'HTTP 404' "$T/err"
ok $? "404: exit 3 after one request (no retries), one line ($err)"
fetch_rc flaky --retries 2
[ $rc = 0 ] && installed flaky && [ "$(requests flaky good.bin)" = 2 ]; ok $? "500 then 200: retried, installed"
fetch_rc err500 --retries 2 -q
[ $rc = 3 ] && ! installed err500 && [ "$(requests 500 good.bin)" = 3 ] && [ "$(lines "$T/err")" = 1 ]
ok $? "always 500: exit 3 after 3 attempts, one line with -q ($err)"
t0=$(date +%s.%N)
fetch_rc slow --timeout 1 --retries 0
t1=$(date +%s.%N)
[ $rc = 3 ] && ! installed slow && awk -v a="$t0" -v b="$t1" 'BEGIN {exit !(b - a < 8)}'
ok $? "silent server: exit 3 within the stall timeout ($(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b - a}') s; $err)"
fetch_rc redirect --retries 0
[ $rc = 3 ] && ! installed redirect && ! grep -q root: "$T/data/models/redirect/"* 2>/dev/null
ok $? "redirect to file:///etc/passwd: refused, exit 3 ($err)"

# ---- resuming a .part --------------------------------------------------------------------------
mkdir -p "$T/data/models/resume" "$T/data/models/norange" "$T/data/models/badpart"
head -c 1234567 "$T/srv/good.bin" >"$T/data/models/resume/model.safetensors.part"
fetch_rc resume
[ $rc = 0 ] && [ "$(sha "$T/data/models/resume/model.safetensors")" = "$GOOD" ] &&
  grep -q "^good good.bin bytes=1234567- 206" "$T/log"
ok $? "resume: a 1234567-byte .part continued with Range, installed verified"
head -c 1000 "$T/srv/good.bin" >"$T/data/models/norange/model.safetensors.part"
fetch_rc norange
[ $rc = 0 ] && [ "$(sha "$T/data/models/norange/model.safetensors")" = "$GOOD" ] && [ "$(requests norange good.bin)" = 2 ]
ok $? "server ignoring Range: started over, installed verified"
head -c 500000 /dev/urandom >"$T/data/models/badpart/model.safetensors.part"
fetch_rc badpart
[ $rc = 0 ] && [ "$(sha "$T/data/models/badpart/model.safetensors")" = "$GOOD" ] && grep -q 'resumed part may be bad' "$T/err"
ok $? "a bad .part: digest wrong after resuming, downloaded again from byte 0, installed verified"
cp "$T/srv/good.bin" "$T/data/models/resume/model.safetensors.part"
rm "$T/data/models/resume/model.safetensors"
fetch_rc resume
[ $rc = 0 ] && [ "$(sha "$T/data/models/resume/model.safetensors")" = "$GOOD" ] && grep -q "^good good.bin bytes=2000000- 416" "$T/log"
ok $? "a complete .part: 416 from the server, the part verified and installed"

# ---- unpinned rows and --strict ----------------------------------------------------------------------
fetch_rc unpinned --strict
[ $rc = 4 ] && ! installed unpinned && grep -q 'not pinned' "$T/err"; ok $? "--strict refuses an unpinned row: exit 4 ($err)"
fetch_rc unpinned
[ $rc = 0 ] && installed unpinned && grep -q "observed sha256 $GOOD" "$T/err" &&
  grep -q "^$GOOD  model.safetensors$" "$T/data/models/unpinned/SHA256SUMS" && printf '%s\n' "$out" | grep -q "	no	installed	"
ok $? "unpinned: installed, observed digest printed and recorded in SHA256SUMS"
fetch_rc --verify unpinned
[ $rc = 0 ] && printf '%s\n' "$out" | grep -q "	ok$"; ok $? "--verify of an unpinned file checks the recorded digest"
sed -i "s/^$GOOD /$(echo "$GOOD" | tr 0-9a-f a-f0-9 | cut -c1-64) /" "$T/data/models/unpinned/SHA256SUMS"
rm "$T/data/models/unpinned/model.safetensors"
fetch_rc unpinned
[ $rc = 0 ] && installed unpinned && grep -q "not pinned and changed: sha256 $GOOD, recorded before as" "$T/err"
ok $? "unpinned file whose digest differs from the record: installed, with a warning"

# ---- archives ---------------------------------------------------------------------------------------------
fetch_rc zip
[ $rc = 0 ] && [ "$(sha "$T/data/datasets/zip/test.raw")" = "$MEMBER" ] && [ ! -e "$T/data/datasets/zip/good.zip" ]
ok $? "zip: member extracted and verified, archive removed"
fetch_rc zip2 --strict
[ $rc = 0 ] && [ "$(cat "$T/data/datasets/zip2/other.raw")" = "another member" ] && printf '%s\n' "$out" | grep -q "	archive	installed	"
ok $? "unpinned member of a pinned archive: accepted even with --strict (pinned through the archive)"
fetch_rc slip -q
[ $rc = 2 ] && [ ! -e "$T/data/datasets/slip/test.raw" ] && [ ! -e "$T/escaped.txt" ] && [ ! -e "$T/data/escaped.txt" ] &&
  [ "$(lines "$T/err")" = 1 ] && grep -q "unsafe entry '../../escaped.txt'" "$T/err"
ok $? "zip with a ../ entry: exit 2, one line naming it, nothing extracted ($err)"
fetch_rc link
[ $rc = 2 ] && [ ! -e "$T/data/datasets/link/test.raw" ] && grep -q 'links outside' "$T/err"
ok $? "zip whose member is a symlink to /etc/passwd: exit 2, nothing installed ($err)"
fetch_rc escape
[ $rc = 2 ] && [ ! -e "$T/data/datasets/escape/test.raw" ] && grep -q "'wt/up' links outside" "$T/err"
ok $? "zip with a symlink escaping the tree: exit 2, whole archive refused ($err)"
fetch_rc zipbad
[ $rc = 2 ] && [ ! -e "$T/data/datasets/zipbad/test.raw" ] && grep -q 'not a readable archive' "$T/err"
ok $? "not an archive: exit 2 ($err)"

# ---- two fetches of one artifact at once ---------------------------------------------------------------------
"$F" --data "$T/data" --sources "$T/s.tsv" conc >"$T/c1.out" 2>"$T/c1.err" &
p1=$!
sleep 0.2
"$F" --data "$T/data" --sources "$T/s.tsv" conc >"$T/c2.out" 2>"$T/c2.err" &
p2=$!
wait $p1; r1=$?
wait $p2; r2=$?
[ $r1 = 0 ] && [ $r2 = 0 ] && [ "$(sha "$T/data/models/conc/model.safetensors")" = "$BIG" ] && [ "$(requests throttle big.bin)" = 1 ]
ok $? "two concurrent fetches: both exit 0, one transfer, the file verified"
cat "$T/c1.out" "$T/c2.out" | grep -q '	present	' && cat "$T/c1.err" "$T/c2.err" | grep -q 'another fetch is installing it'
ok $? "two concurrent fetches: the second waited for the lock and found the file present"

# ---- mirrors --------------------------------------------------------------------------------------------------
mkdir -p "$T/m1/models/mirrored" "$T/m1/models/mirrorfirst" "$T/m1/models/mirrorwrong" "$T/m2/models/mirrorwrong" \
  "$T/srv/m3/models/mirrorhttp" "$T/m 4/models/mirrored"
cp "$T/srv/good.bin" "$T/m1/models/mirrored/model.safetensors"
cp "$T/srv/good.bin" "$T/m1/models/mirrorfirst/model.safetensors"
cp "$T/srv/other.bin" "$T/m1/models/mirrorwrong/model.safetensors"
cp "$T/srv/good.bin" "$T/m2/models/mirrorwrong/model.safetensors"
cp "$T/srv/good.bin" "$T/srv/m3/models/mirrorhttp/model.safetensors"
cp "$T/srv/good.bin" "$T/m 4/models/mirrored/model.safetensors"
fetch_rc mirrored --mirror "$T/m1"
[ $rc = 0 ] && installed mirrored && printf '%s\n' "$out" | grep -q "file://$T/m1/models/mirrored/model.safetensors"
ok $? "directory mirror: installed from it (canonical answers 404)"
rm -rf "$T/data/models/mirrored"
fetch_rc mirrored --mirror "file://$T/m1"
[ $rc = 0 ] && installed mirrored; ok $? "file:// mirror: installed from it"
rm -rf "$T/data/models/mirrored"
fetch_rc mirrored --mirror "$T/m 4"
[ $rc = 0 ] && installed mirrored; ok $? "directory mirror with a space in its path: installed from it"
rm -rf "$T/data/models/mirrored"
QB_MIRROR="$U/good/m3:$T/nowhere" fetch_rc mirrorhttp
[ $rc = 0 ] && installed mirrorhttp && printf '%s\n' "$out" | grep -q "$U/good/m3/models/mirrorhttp/model.safetensors"
ok $? "http mirror in QB_MIRROR (host:port kept whole in the colon-separated list)"
fetch_rc mirrorwrong --mirror "$T/m1" --mirror "$T/m2"
[ $rc = 0 ] && printf '%s\n' "$out" | grep -q "file://$T/m2/" && grep -q "sha256 .*expected $GOOD.*trying the next source" "$T/err"
ok $? "mirror order: a mirror with wrong bytes is skipped (warned), the next one used"
fetch_rc mirrorfirst --mirror "$T/m1"
[ $rc = 0 ] && [ "$(requests good mirrorfirst.bin)" = 0 ]; ok $? "mirrors come first: the canonical URL is not contacted"
fetch_rc mirroronly --mirror "$T/m1" --mirror-only
[ $rc = 3 ] && [ "$(requests good good.bin | tr -d ' ')" = "$(grep -c '^good good.bin ' "$T/log")" ] && ! installed mirroronly &&
  ! grep -q "mirroronly" "$T/log"
ok $? "--mirror-only: the canonical URL is never tried, exit 3 ($err)"

mkdir -p "$T/m5/datasets/zipm" "$T/m6/datasets/zipm"
cp "$T/srv/good.zip" "$T/m5/datasets/zipm/good.zip"
cp "$T/srv/member.raw" "$T/m6/datasets/zipm/test.raw"
fetch_rc zipm --mirror "$T/m5"
[ $rc = 0 ] && [ "$(sha "$T/data/datasets/zipm/test.raw")" = "$MEMBER" ] && printf '%s\n' "$out" | grep -q "m5/datasets/zipm/good.zip#wt/test.raw"
ok $? "a mirror holding the archive: member extracted from it"
rm -rf "$T/data/datasets/zipm"
fetch_rc zipm --mirror "$T/m6"
[ $rc = 0 ] && [ "$(sha "$T/data/datasets/zipm/test.raw")" = "$MEMBER" ] && printf '%s\n' "$out" | grep -q "m6/datasets/zipm/test.raw$"
ok $? "a mirror holding the extracted member: taken as it is (its own pin)"

# ---- verify ----------------------------------------------------------------------------------------------------------
fetch_rc --verify good zip
[ $rc = 0 ] && [ "$(printf '%s\n' "$out" | grep -c '	ok$')" = 2 ]; ok $? "--verify: installed files re-hashed, ok"
printf 'X' | dd of="$T/data/models/good/model.safetensors" bs=1 seek=1000 conv=notrunc 2>/dev/null
fetch_rc --verify good
[ $rc = 4 ] && printf '%s\n' "$out" | grep -q '	mismatch$'; ok $? "--verify after one byte changed: exit 4, mismatch"
fetch_rc good
[ $rc = 0 ] && [ "$(sha "$T/data/models/good/model.safetensors")" = "$GOOD" ] && grep -q 'fetching it again' "$T/err"
ok $? "fetch repairs a damaged install (re-downloaded, verified)"
rm "$T/data/datasets/zip/test.raw"
fetch_rc --verify zip
[ $rc = 2 ] && printf '%s\n' "$out" | grep -q '	missing$'; ok $? "--verify of a missing file: exit 2"

# ---- the catalogue and the command line -----------------------------------------------------------------------------------
"$F" --help >"$T/out" 2>&1; rc=$?
[ $rc = 0 ] && grep -q '^usage: fetch' "$T/out"; ok $? "--help: usage, exit 0"
fetch_rc
[ $rc = 1 ] && [ "$(lines "$T/err")" = 1 ]; ok $? "no NAME: exit 1, one line ($err)"
fetch_rc nosuchname
[ $rc = 1 ] && grep -q "unknown name 'nosuchname'" "$T/err"; ok $? "unknown name: exit 1 ($err)"
fetch_rc --bogus good
[ $rc = 1 ] && [ "$(lines "$T/err")" = 1 ]; ok $? "unknown option: exit 1 ($err)"
fetch_rc --timeout 0 good
[ $rc = 1 ]; ok $? "--timeout 0: exit 1"
fetch_rc --list
[ $rc = 0 ] && [ "$(printf '%s\n' "$out" | head -1 | cut -f1-5)" = "$(printf 'name\tkind\tfile\tbytes\tpinned')" ] &&
  printf '%s\n' "$out" | grep -q "^zip2	dataset	other.raw	-	archive	"
ok $? "--list: the catalogue as TSV with pin status"
bad_catalogue() { # LABEL ROW EXPECTED-MESSAGE
  { printf 'name\tkind\tfile\turl\tsha256\tbytes\tmember\tnote\n'; printf '%b\n' "$2"; } >"$T/bad.tsv"
  "$F" --data "$T/data" --sources "$T/bad.tsv" x >/dev/null 2>"$T/err"; rc=$?
  [ $rc = 2 ] && [ "$(lines "$T/err")" = 1 ] && grep -q "bad.tsv:2: .*$3" "$T/err"
  ok $? "bad catalogue, $1: exit 2 naming file:line ($(cat "$T/err"))"
}
bad_catalogue "7 columns" 'x\tmodel\tf\thttp://h/f\t-\t-\t-' 'fields\|columns'
bad_catalogue "short sha256" 'x\tmodel\tf\thttp://h/f\tabc\t-\t-\t-' 'sha256'
bad_catalogue "uppercase sha256" "x\tmodel\tf\thttp://h/f\t$(echo "$GOOD" | tr a-f A-F)\t-\t-\t-" 'sha256'
bad_catalogue "negative bytes" 'x\tmodel\tf\thttp://h/f\t-\t-5\t-\t-' 'bytes'
bad_catalogue "kind" 'x\tweights\tf\thttp://h/f\t-\t-\t-\t-' 'kind'
bad_catalogue "ftp url" 'x\tmodel\tf\tftp://h/f\t-\t-\t-\t-' 'url'
bad_catalogue "file with a slash" 'x\tmodel\ta/b\thttp://h/f\t-\t-\t-\t-' 'file'
bad_catalogue "member with .." 'x\tmodel\tf\thttp://h/a.zip\t-\t-\ta/../../b\t-' 'member'
printf 'name\tkind\tfile\turl\tsha256\tbytes\tmember\tnote\nx\tmodel\tf\thttp://h/f\t-\t-\t-\t-\nx\tmodel\tf\thttp://h/g\t-\t-\t-\t-\n' >"$T/bad.tsv"
"$F" --sources "$T/bad.tsv" x >/dev/null 2>"$T/err"; rc=$?
[ $rc = 2 ] && grep -q 'bad.tsv:3: x/f is already listed on line 2' "$T/err"; ok $? "bad catalogue, duplicate file: exit 2 ($(cat "$T/err"))"
! leftovers; ok $? "no .tmp file anywhere after all of the above"

# ---- the real catalogue ---------------------------------------------------------------------------------------------------
"$F" --sources "$ROOT/pipeline/sources.tsv" --list >"$T/out" 2>"$T/err"; rc=$?
[ $rc = 0 ] && [ "$(grep -c '	yes	' "$T/out")" -ge 10 ]; ok $? "pipeline/sources.tsv parses; $(grep -c '	yes	' "$T/out") pinned rows"
kill "$SRV_PID" 2>/dev/null; wait "$SRV_PID" 2>/dev/null; SRV_PID=
echo "1..$n"
