#!/usr/bin/env bash
# sample-res: memory, CPU and GPU readings against programs whose use is
# known (tests/helpers), exit status and signals, pass-through of stdio,
# sampling rate, and running without an NVIDIA driver. About 12 s.
set -u
ROOT=${QB_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
SR=$ROOT/bin/sample-res
H=$ROOT/build/tests/helpers
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
n=0
ok() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi; }
skip() { n=$((n + 1)); echo "ok $n # SKIP $1"; }
diag() { echo "# $*"; }
# col FILE NAME: the value of column NAME in the first data row (lines
# starting with '#' skipped); NOCOL when there is no such column.
col() {
  awk -F'\t' -v name="$2" '/^#/ {next} !h {for (i = 1; i <= NF; i++) if ($i == name) c = i; h = 1; next}
    {print (c ? $c : "NOCOL"); exit}' "$1"
}
# within V TARGET FRACTION: V is a number within TARGET * (1 +- FRACTION).
within() { awk -v v="$1" -v t="$2" -v r="$3" 'BEGIN {exit !(v ~ /^[0-9.]+$/ && v >= t * (1 - r) && v <= t * (1 + r))}'; }
between() { awk -v v="$1" -v lo="$2" -v hi="$3" 'BEGIN {exit !(v ~ /^[0-9.]+$/ && v >= lo && v <= hi)}'; }

# --- usage
"$SR" --help >"$T/help" 2>&1
ok $(( $? == 0 && $(grep -c 'usage: sample-res' "$T/help") == 1 ? 0 : 1 )) "--help prints usage, exit 0"
"$SR" 2>"$T/err"; rc=$?
ok $(( rc == 1 && $(wc -l <"$T/err") == 1 ? 0 : 1 )) "no command: exit 1, one line ($(cat "$T/err"))"
"$SR" -i 0 -- true 2>/dev/null; ok $(( $? == 1 ? 0 : 1 )) "interval 0 refused (exit 1)"
"$SR" --tag 'bad key=1' -- true 2>/dev/null; rc1=$?
"$SR" --tag samples=3 -- true 2>/dev/null; rc2=$?
"$SR" --tag a=1 --tag a=2 -- true 2>/dev/null; rc3=$?
ok $(( rc1 == 1 && rc2 == 1 && rc3 == 1 ? 0 : 1 )) "bad, built-in and repeated tag keys refused (exit 1)"
"$SR" -s "$T/no/such/dir/s.tsv" -- touch "$T/ran" 2>"$T/err"; rc=$?
[ $rc = 2 ] && [ ! -e "$T/ran" ]; ok $? "unwritable summary path: exit 2 before running the command"

# --- a command that cannot be started
"$SR" -s "$T/nx.tsv" -o "$T/nxs.tsv" -- "$T/does-not-exist" 2>"$T/err"; rc=$?
[ $rc = 127 ] && [ ! -e "$T/nx.tsv" ] && [ ! -e "$T/nx.tsv.tmp" ] && [ ! -e "$T/nxs.tsv.tmp" ]
ok $? "cannot exec: exit 127, no summary, no temp file left"
grep -q 'does-not-exist: cannot run: No such file' "$T/err"; ok $? "cannot exec: message names the command"

# --- memory: a known amount, touched, held for 1 s
"$SR" -s "$T/mem.tsv" --tag model=x --tag type=q8_0 -- "$H/alloc-touch" 300 1; rc=$?
peak=$(col "$T/mem.tsv" rss_peak_mb); hwm=$(col "$T/mem.tsv" rss_hwm_mb)
diag "alloc-touch 300: rss_peak_mb=$peak rss_hwm_mb=$hwm"
ok $(( rc == 0 ? 0 : 1 )) "alloc-touch ran, exit 0"
within "$peak" 300 0.05; ok $? "sampled peak RSS within 5 % of 300 MiB ($peak)"
within "$hwm" 300 0.05; ok $? "kernel high-water mark within 5 % of 300 MiB ($hwm)"
[ "$(col "$T/mem.tsv" model)" = x ] && [ "$(col "$T/mem.tsv" type)" = q8_0 ] &&
  [ "$(grep -v '^#' "$T/mem.tsv" | head -1 | cut -f1-4)" = "$(printf 'model\ttype\twall_s\texit_status')" ] &&
  [ "$(grep -vc '^#' "$T/mem.tsv")" = 2 ] && [ ! -e "$T/mem.tsv.tmp" ]
ok $? "summary: tag columns first, then wall_s exit_status; header + one row; no temp file"

# --- CPU: two busy threads for 1 s. The helper reports the CPU share it
# really got; on a machine busy with other work that is below 200, and the
# bound of 150..210 cannot be met by anyone, so that case is retried and then
# skipped, visibly. Agreement with the helper's own figure is always checked.
for try in 1 2 3; do
  "$SR" -i 0.02 -s "$T/cpu.tsv" -- "$H/busy-threads" 2 1 2>"$T/cpu.err"
  mean=$(col "$T/cpu.tsv" cpu_mean_pct)
  self=$(sed -n 's/^busy-threads: cpu_pct=//p' "$T/cpu.err")
  diag "try $try: cpu_mean_pct=$mean, helper's own rusage says $self"
  awk -v s="$self" 'BEGIN {exit !(s >= 150)}' && break
done
awk -v m="$mean" -v s="$self" 'BEGIN {d = m - s; if (d < 0) d = -d; exit !(m != "" && d <= 10 + 0.05 * s)}'
ok $? "mean CPU matches the helper's own rusage ($mean vs $self)"
if awk -v s="$self" 'BEGIN {exit !(s >= 150)}'; then
  between "$mean" 150 210; ok $? "two busy threads: mean CPU in [150, 210] ($mean)"
else
  skip "machine busy: the helper itself got only $self % CPU, [150, 210] unreachable"
fi
p90=$(col "$T/cpu.tsv" cpu_p90_pct); peak=$(col "$T/cpu.tsv" cpu_peak_pct)
awk -v a="$p90" -v b="$peak" -v m="$mean" 'BEGIN {exit !(a <= b + 0.05 && a >= m * 0.5)}'
ok $? "cpu_p90_pct <= cpu_peak_pct and near the mean ($p90, $peak)"

# --- the tree: a grandchild, and an orphan reparented to sample-res
"$SR" -s "$T/fork.tsv" -- "$H/fork-alloc" 300 1
peak=$(col "$T/fork.tsv" rss_peak_mb)
within "$peak" 300 0.05; ok $? "grandchild's memory counted ($peak MiB of 300)"
"$SR" -s "$T/orphan.tsv" -- sh -c "( \"$H/alloc-touch\" 200 0.6 & ) ; sleep 1.5"
peak=$(col "$T/orphan.tsv" rss_peak_mb); hwm=$(col "$T/orphan.tsv" rss_hwm_mb)
within "$peak" 200 0.05 && within "$hwm" 200 0.05
ok $? "orphaned grandchild (parent exited) still counted: peak $peak, hwm $hwm MiB of 200"

# --- exit status and signals
"$SR" -s "$T/x7.tsv" -- sh -c 'exit 7' 2>/dev/null; rc=$?
ok $(( rc == 7 ? 0 : 1 )) "exit status passed through (7, got $rc)"
[ "$(col "$T/x7.tsv" exit_status)" = 7 ]; ok $? "summary records exit_status 7"
"$SR" -s "$T/kill.tsv" -- sh -c 'kill -KILL $$' 2>/dev/null; rc=$?
ok $(( rc == 137 ? 0 : 1 )) "child killed by SIGKILL: exit 137 (got $rc)"
[ "$(col "$T/kill.tsv" exit_status)" = 137 ]; ok $? "summary records exit_status 137"
# ready FILE: waits (up to 5 s) until CMD has created FILE, so the signal
# goes to a sample-res that is already watching CMD.
ready() { for k in $(seq 100); do [ -e "$1" ] && return; sleep 0.05; done; }
start=$(date +%s.%N)
"$SR" -s "$T/term.tsv" -- sh -c "touch '$T/up1'; exec sleep 30" & pid=$!
ready "$T/up1"; kill -TERM $pid; wait $pid; rc=$?
took=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN {print b - a}')
ok $(( rc == 143 ? 0 : 1 )) "SIGTERM to sample-res forwarded: child dies of it, exit 143 (got $rc, ${took}s)"
[ "$(col "$T/term.tsv" exit_status)" = 143 ]; ok $? "summary still written after SIGTERM"
# Background jobs of a script inherit SIGINT ignored: restore the default.
"$H/default-signals" "$SR" -s "$T/int.tsv" -- sh -c "touch '$T/up2'; exec sleep 30" & pid=$!
ready "$T/up2"; kill -INT $pid; wait $pid; rc=$?
[ $rc = 130 ] && [ "$(col "$T/int.tsv" exit_status)" = 130 ]
ok $? "SIGINT to sample-res forwarded: child dies of it, exit 130, summary written (got $rc)"
# Delivered once, whether sent to sample-res alone or by a terminal to the
# whole foreground process group (which CMD shares).
"$H/default-signals" "$SR" -q -- "$H/sig-count" 1 >"$T/count.out" & pid=$!
for k in $(seq 50); do grep -q ready "$T/count.out" && break; sleep 0.05; done
kill -INT $pid; wait $pid; rc=$?
[ $rc = 0 ] && grep -qx 'sigint=1' "$T/count.out"; ok $? "kill -INT: CMD gets SIGINT once ($(tail -1 "$T/count.out"), exit $rc)"
PY=${QB_PYTHON:-python3}
cat >"$T/drive-tty.py" <<'EOF'
# Runs sample-res on a new pseudo-terminal, as its session's foreground
# group, and types Ctrl-C once CMD is ready.
import os, pty, select, sys, time
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
buf, t0, sent = b"", time.time(), False
while time.time() - t0 < 10:
    r, _, _ = select.select([fd], [], [], 0.05)
    if r:
        try:
            d = os.read(fd, 4096)
        except OSError:
            break
        if not d:
            break
        buf += d
    if not sent and b"ready" in buf:
        time.sleep(0.1)
        os.write(fd, b"\x03")
        sent = True
_, st = os.waitpid(pid, 0)
print(buf.decode(errors="replace").replace("\r", ""))
print("status", os.waitstatus_to_exitcode(st))
EOF
if "$PY" -c 'import pty, os; pty.fork' 2>/dev/null; then
  "$PY" "$T/drive-tty.py" "$SR" -q -- "$H/sig-count" 1 >"$T/pty.out" 2>&1
  grep -q 'sigint=1$' "$T/pty.out" && grep -qx 'status 0' "$T/pty.out"
  ok $? "Ctrl-C on a terminal: CMD gets SIGINT once, not twice ($(grep -a 'sigint=\|status\|Error' "$T/pty.out" | tr '\n' ' '))"
else
  skip "no Python with pty here to drive a terminal"
fi

# --- stdio untouched: stdout byte-exact through a pipe, stdin passed in
head -c 8000000 /dev/urandom >"$T/in.bin"
"$SR" -- cat "$T/in.bin" 2>"$T/pipe.err" | cmp -s - "$T/in.bin"; ok $? "8 MB of stdout through a pipe, byte-exact"
"$SR" -q -- cat <"$T/in.bin" | cmp -s - "$T/in.bin"; ok $? "stdin passed through, byte-exact"
[ "$(head -1 "$T/pipe.err" | cut -f1)" = wall_s ] && [ "$(wc -l <"$T/pipe.err")" = 2 ]
ok $? "without -s the summary (header + row) goes to stderr"

# --- sampling rate: 0.01 s over a 2 s command
"$SR" -i 0.01 -o "$T/series.tsv" -s "$T/rate.tsv" -- sleep 2
samples=$(col "$T/rate.tsv" samples); rows=$(grep -vc '^#' "$T/series.tsv")
diag "sleep 2 at 0.01 s: $samples samples (expected about 202)"
within "$samples" 202 0.2; ok $? "sample count within 20 % of expected ($samples)"
[ "$(grep -v '^#' "$T/series.tsv" | head -1)" = "$(printf 't_s\trss_mb\tcpu_pct\tgpu_mb')" ] && [ "$rows" = $((samples + 1)) ]
ok $? "series: header t_s rss_mb cpu_pct gpu_mb and one row per sample"
grep -v '^#' "$T/series.tsv" | awk -F'\t' 'NR == 2 {if ($1 > 0.01) bad = 1} NR > 2 {if ($1 <= prev) bad = 1} NR > 1 {prev = $1} END {exit bad}'
ok $? "series: first sample at once, times increasing"

# --- short command: still a start and an end sample, and the kernel's peak
"$SR" -s "$T/short.tsv" -- true
s=$(col "$T/short.tsv" samples); hwm=$(col "$T/short.tsv" rss_hwm_mb)
awk -v s="$s" -v h="$hwm" 'BEGIN {exit !(s >= 2 && h > 0)}'; ok $? "command shorter than an interval: $s samples, rss_hwm_mb $hwm"

# --- no NVIDIA driver: GPU columns empty, no message
QB_NVML_LIBRARY=$T/no-libnvidia-ml.so.1 "$SR" -s "$T/nogpu.tsv" -o "$T/nogpu-series.tsv" -- true 2>"$T/nogpu.err"; rc=$?
[ $rc = 0 ] && [ ! -s "$T/nogpu.err" ] && [ -z "$(col "$T/nogpu.tsv" gpu_peak_mb)" ] && [ -z "$(col "$T/nogpu.tsv" gpu_p90_mb)" ] &&
  grep -v '^#' "$T/nogpu-series.tsv" | awk -F'\t' 'NR > 1 && $4 != "" {bad = 1} END {exit bad}'
ok $? "without NVML: exit 0, nothing on stderr, GPU columns empty"

# --- NVML through a stand-in library (tests/tools/fake-nvml.c): 2 GPUs,
# 64 + 128 MiB per process of the tree, 100 foreign processes not counted
if ${CC:-cc} -shared -fPIC -O1 -o "$T/libfake-nvml.so" "$ROOT/tests/tools/fake-nvml.c" 2>"$T/cc.err"; then
  QB_NVML_LIBRARY=$T/libfake-nvml.so "$SR" -i 0.05 -s "$T/fake.tsv" -o "$T/fake-series.tsv" -- sleep 0.3
  g=$(col "$T/fake.tsv" gpu_peak_mb); g90=$(col "$T/fake.tsv" gpu_p90_mb)
  [ "$g" = 192.0 ] && [ "$g90" = 192.0 ] &&
    grep -v '^#' "$T/fake-series.tsv" | awk -F'\t' 'NR > 1 && $4 != "192.0" {bad = 1} END {exit bad}'
  ok $? "NVML: the tree's memory summed over 2 GPUs, foreign processes left out (peak $g, p90 $g90)"
  grep -q '^# machine: .*GPU: 2 x Fake GPU, driver 0.0-fake$' "$T/fake.tsv"; ok $? "NVML: GPUs and driver in the provenance line"
  QB_NVML_LIBRARY=$T/libfake-nvml.so "$SR" -s "$T/fake2.tsv" -- sh -c "sleep 0.3; ( sleep 0.4 & ) ; sleep 0.2"
  g=$(col "$T/fake2.tsv" gpu_peak_mb)
  [ "$g" = 384.0 ]; ok $? "NVML: an adopted orphan's GPU memory counted too ($g MiB = 2 x 192)"
  sh -c 'ls /proc/$$/fd' >"$T/fds.direct"
  QB_NVML_LIBRARY=$T/libfake-nvml.so "$SR" -q -- sh -c 'ls /proc/$$/fd' >"$T/fds.sampled"
  cmp -s "$T/fds.direct" "$T/fds.sampled"; ok $? "CMD inherits no descriptor of sample-res or of the NVML library"
  FAKE_NVML_NA=1 QB_NVML_LIBRARY=$T/libfake-nvml.so "$SR" -s "$T/fake3.tsv" -- sleep 0.1
  [ -z "$(col "$T/fake3.tsv" gpu_peak_mb)" ]; ok $? "NVML: per-process memory not available -> empty, not 0"
else
  skip "no C compiler to build the stand-in NVML library: $(head -1 "$T/cc.err")"
fi

# --- a GPU: memory allocated through the CUDA driver shows in gpu_mb
"$H/gpu-alloc" 1 0 2>/dev/null; rc=$?
if [ $rc = 77 ]; then
  skip "no CUDA driver or GPU here"
else
  "$SR" -s "$T/gpu.tsv" -- "$H/gpu-alloc" 256 1.5
  g=$(col "$T/gpu.tsv" gpu_peak_mb); diag "gpu-alloc 256: gpu_peak_mb=$g"
  awk -v g="$g" 'BEGIN {exit !(g >= 256 && g <= 256 + 1024)}'; ok $? "GPU memory of the tree seen ($g MiB for 256 allocated + context)"
fi
echo "1..$n"
