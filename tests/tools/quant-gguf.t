#!/usr/bin/env bash
# Our ggml block quantizers/dequantizers against the gguf Python package on
# fresh random rows (tests/tools/quant_gguf.py prints the TAP). A few seconds.
set -u
ROOT=${QB_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
PY=${QB_PYTHON:-$ROOT/.venv/bin/python}
exec "$PY" "$ROOT/tests/tools/quant_gguf.py" "$ROOT/build/tests/helpers/quant-rows"
