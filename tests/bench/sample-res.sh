#!/usr/bin/env bash
# sample-res benchmark: (1) what sampling costs, sample-res's own CPU % at
# 0.05 s and 0.01 s intervals, on an idle child and on a tree of 8 processes;
# (2) its peak RSS next to /usr/bin/time -v's "Maximum resident set size" for
# the same run (time wraps sample-res, so both see the one run; time's figure
# is the largest single process, sample-res itself included, a few MiB).
# Run by make bench; needs bin/sample-res and build/tests/helpers.
set -euo pipefail
ROOT=${QB_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
SR=$ROOT/bin/sample-res
H=$ROOT/build/tests/helpers
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
col() {
  awk -F'\t' -v name="$2" '/^#/ {next} !h {for (i = 1; i <= NF; i++) if ($i == name) c = i; h = 1; next}
    {print (c ? $c : "NOCOL"); exit}' "$1"
}
SECS=${QB_BENCH_SECONDS:-4}
echo "# machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) CPUs," \
  "$(ls /proc | grep -c '^[0-9]') processes listed in /proc"

echo
echo "## sampling overhead: sample-res's own CPU time over wall time ($SECS s runs)"
printf 'interval_s\tcommand\ttree_procs\tsamples\tself_cpu_pct\tself_cpu_ms_per_sample\n'
for i in 0.05 0.01; do
  for what in idle tree8; do
    case $what in
      idle) cmd=(sleep "$SECS"); procs=1 ;;
      tree8) cmd=(sh -c "for k in 1 2 3 4 5 6 7 8; do sleep $SECS & done; wait"); procs=9 ;;
    esac
    "$SR" -i "$i" -s "$T/o.tsv" -- "${cmd[@]}"
    s=$(col "$T/o.tsv" samples); p=$(col "$T/o.tsv" self_cpu_pct); w=$(col "$T/o.tsv" wall_s)
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$i" "$what" "$procs" "$s" "$p" \
      "$(awk -v p="$p" -v w="$w" -v s="$s" 'BEGIN {printf "%.3f", p / 100 * w / s * 1000}')"
  done
done

echo
echo "## peak RSS: sample-res (sampled sum over the tree; kernel high-water mark) vs /usr/bin/time -v"
TIME=/usr/bin/time
if ! "$TIME" -v true >/dev/null 2>&1; then
  echo "(skipped: GNU time is not installed; pipeline/install-deps.sh installs the Debian package 'time')"
  exit 0
fi
printf 'interval_s\tcommand\ttime_v_max_rss_mb\trss_hwm_mb\trss_peak_mb\thwm_over_time\tpeak_over_time\n'
run() {
  local i=$1 label=$2; shift 2
  "$TIME" -v -o "$T/time.txt" "$SR" -i "$i" -s "$T/o.tsv" -- "$@"
  local kb hwm peak
  kb=$(sed -n 's/^\tMaximum resident set size (kbytes): //p' "$T/time.txt")
  hwm=$(col "$T/o.tsv" rss_hwm_mb); peak=$(col "$T/o.tsv" rss_peak_mb)
  awk -v i="$i" -v l="$label" -v kb="$kb" -v h="$hwm" -v p="$peak" \
    'BEGIN {t = kb / 1024; printf "%s\t%s\t%.2f\t%.2f\t%.2f\t%.3f\t%.3f\n", i, l, t, h, p, h / t, p / t}'
}
for i in 0.05 0.01; do
  run "$i" "alloc-touch 300 MiB, held 1 s" "$H/alloc-touch" 300 1
  run "$i" "alloc-touch 200 MiB, exits at once" "$H/alloc-touch" 200 0
  run "$i" "fork-alloc: grandchild 200 MiB" "$H/fork-alloc" 200 1
  run "$i" "two processes of 100 MiB at once" sh -c "'$H/alloc-touch' 100 1 & '$H/alloc-touch' 100 1 & wait"
  run "$i" "python3 list of 5e6 ints" python3 -c 'x = list(range(5_000_000)); import time; time.sleep(0.5)'
done
