#!/usr/bin/env bash
# GGUF files and quantizers against llama.cpp (tests/interop/llama_cpp_check.py
# prints the TAP). Run by `make check-interop`; a minute or two.
set -u
ROOT=${QB_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
PY=${QB_PYTHON:-$ROOT/.venv/bin/python}
MIRROR=${QB_MIRROR:-$ROOT/../shared/mirror}
exec "$PY" "$ROOT/tests/interop/llama_cpp_check.py" "$ROOT" "$MIRROR"
