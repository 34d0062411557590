# calls.sh: what the scripts of one device call (first-run.sh, split-run.sh,
# wide-run.sh, w16-run.sh) share, sourced in the staged folder: the
# libraries' path, $OUT, the machine's description and commit, T (CPU
# threads), and the helpers below.
export LD_LIBRARY_PATH=$PWD/lib:$(dirname "$(find /usr/local/cuda*/lib64 /usr/local/cuda*/targets /opt -name 'libcublas.so.1*' 2>/dev/null | head -1)"):${LD_LIBRARY_PATH:-}
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
echo "commit $(cat COMMIT)"
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem --format=csv | tee "$OUT/machine.txt"
T=$(nproc)
# vs LABEL ARGS...: cuda_vs_cpu ARGS under the environment given before the
# call, into $OUT/vs-LABEL.txt (VS_ONE_FILE=1: appended to $OUT/vs.txt
# instead), and its last row on standard output.
vs() {
  local f="$OUT/vs-$1.txt"
  [ "${VS_ONE_FILE:-0}" = 1 ] && f=/tmp/vs-one.txt
  timeout 90 ./bin/cuda_vs_cpu "${@:2}" -t $T >"$f" 2>&1
  local line="vs $1 rc=$? $(grep -v '^#' "$f" | tail -1 | cut -f1-9)"
  echo "$line"
  [ "${VS_ONE_FILE:-0}" = 1 ] && { echo "$line"; cat "$f"; } >>"$OUT/vs.txt"
  return 0
}
# vs_models R...: vs on each GGUF of models/ (qb-gpt2-10m's q4_0, q4_1, q8_0
# and iq4_nl, s256-q4_k) tuned, then with each R forced (QB_CUDA_GEMV_R).
vs_models() {
  local m l R
  for m in models/qb-gpt2-10m-{q4_0,q4_1,q8_0,iq4_nl}.gguf models/s256-q4_k.gguf; do
    l=$(basename $m .gguf)
    vs tuned-$l -m $m
    for R in "$@"; do QB_CUDA_GEMV_R=$R vs r$R-$l -m $m; done
  done
}
# ab LABEL ARGS BINS: cuda_decode ARGS against the builds BINS beside it,
# interleaved (run-device.sh ab), into $OUT/ab-LABEL.tsv.
ab() {
  echo "== ab $1 $(date +%T)"
  AB_NAME=ab-$1 AB_ARGS=$2 AB_BINS=$3 AB_TIMEOUT=${AB_TIMEOUT:-150} ./run-device.sh ab | grep -v '^#'
}
# kernel_tests: the kernel tests (bin/test_cuda, under the environment given
# before the call) into $OUT/test_cuda.log; their counts and failures.
kernel_tests() {
  timeout 200 ./bin/test_cuda >"$OUT/test_cuda.log" 2>&1
  echo "test_cuda rc=$? $(grep -c '^ok' "$OUT/test_cuda.log") ok, $(grep -c '^not ok' "$OUT/test_cuda.log") not ok"
  grep '^not ok' "$OUT/test_cuda.log" | head -20
  return 0
}
# pack: every log and TSV of the call in one tarball named after the phases
# run ("$@"): the device tool returns at most 8 files a call.
pack() {
  local name
  name=$(echo "$*" | tr ' ' -)
  (cd "$OUT" && tar -czf "results-$name.tar.gz" --remove-files $(ls | grep -v '\.tar\.gz$'))
}
