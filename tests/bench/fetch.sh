#!/usr/bin/env bash
# fetch benchmark: throughput of one large loopback HTTP download, fetch next
# to curl on the same file from the same server (tests/helpers/httpd.py,
# sendfile), runs interleaved. fetch does more than curl -o: it hashes while
# it streams (SHA-256), fsyncs and renames; the curl | sha256sum row is the
# closest like-for-like. Size: QB_BENCH_FETCH_MB (default 1024); repeats:
# QB_BENCH_REPEATS (default 3), the median is reported.
set -euo pipefail
ROOT=${QB_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
PY=${QB_PYTHON:-python3}
F=$ROOT/bin/fetch
MB=${QB_BENCH_FETCH_MB:-1024}
REPS=${QB_BENCH_REPEATS:-3}
T=$(mktemp -d "${TMPDIR:-/tmp}/fetchbench.XXXXXX")
SRV=
trap '[ -n "$SRV" ] && kill $SRV 2>/dev/null; rm -rf "$T"' EXIT
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY all_proxy QB_MIRROR
command -v curl >/dev/null || { echo "# curl not found: nothing to compare with"; exit 0; }

echo "# machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) CPUs; $(curl --version | head -1 | cut -d' ' -f1-2); file system of $T: $(df -T "$T" | awk 'NR==2 {print $2}')"
mkdir -p "$T/srv"
"$PY" -c "
import os, sys
with open('$T/srv/big.bin', 'wb') as f:
    for _ in range($MB):
        f.write(os.urandom(1 << 20))
"
SHA=$(sha256sum "$T/srv/big.bin" | cut -d' ' -f1)
BYTES=$((MB * 1048576))
"$PY" "$ROOT/tests/helpers/httpd.py" --root "$T/srv" --port-file "$T/port" --lifetime 1800 &
SRV=$!
for _ in $(seq 100); do [ -s "$T/port" ] && break; sleep 0.1; done
URL=http://127.0.0.1:$(cat "$T/port")/good/big.bin
printf 'name\tkind\tfile\turl\tsha256\tbytes\tmember\tnote\nbig\tmodel\tbig.bin\t%s\t%s\t%s\t-\t-\n' "$URL" "$SHA" "$BYTES" >"$T/s.tsv"

secs() { local t0 t1; t0=$(date +%s.%N); "$@"; t1=$(date +%s.%N); awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b - a}'; }
run_fetch() { rm -rf "$T/data"; "$F" -q --data "$T/data" --sources "$T/s.tsv" big >/dev/null; }
run_curl() { rm -f "$T/curl.bin"; curl -sf -o "$T/curl.bin" "$URL"; }
run_curl_sha() { [ "$(curl -sf "$URL" | sha256sum | cut -d' ' -f1)" = "$SHA" ]; }
run_curl_sync() { rm -f "$T/curl.bin"; curl -sf -o "$T/curl.bin" "$URL"; sync "$T/curl.bin"; }
declare -A times
for r in $(seq "$REPS"); do
  for w in fetch curl curl_sha curl_sync; do
    sync; times[$w]="${times[$w]:-} $(secs run_$w)"
  done
done
[ "$(sha256sum "$T/data/models/big/big.bin" | cut -d' ' -f1)" = "$SHA" ] || { echo "fetch installed wrong bytes"; exit 1; }
median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
echo
echo "## one ${MB} MiB download over loopback HTTP, median of $REPS"
printf 'command\tseconds\tMB_per_s\tdoes\n'
for w in fetch curl curl_sha curl_sync; do
  s=$(echo "${times[$w]}" | median)
  case $w in
    fetch) what="bin/fetch: hash while streaming, fsync, rename" ;;
    curl) what="curl -o FILE" ;;
    curl_sha) what="curl | sha256sum (no disk)" ;;
    curl_sync) what="curl -o FILE; sync FILE" ;;
  esac
  printf '%s\t%s\t%.0f\t%s\n' "$w" "$s" "$(awk -v b="$BYTES" -v s="$s" 'BEGIN {print b / 1e6 / s}')" "$what"
done
