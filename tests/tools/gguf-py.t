#!/usr/bin/env bash
# GGUF reader/writer against the gguf Python package's GGUFWriter/GGUFReader
# (tests/tools/gguf_py.py prints the TAP). A few seconds.
set -u
ROOT=${QB_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
PY=${QB_PYTHON:-$ROOT/.venv/bin/python}
exec "$PY" "$ROOT/tests/tools/gguf_py.py" "$ROOT/build/tests/helpers/gguf-rw"
