#!/usr/bin/env bash
# check-oracle.sh (make check-oracle): regenerates the golden fixtures live with
# torch + transformers into a temp dir and runs the golden checks against them,
# for anyone who changes the engine or wants to re-derive the committed fixtures.
# The oracle's Python (QB_ORACLE_PYTHON, default .venv-oracle/bin/python) is
# created with pinned torch + transformers when missing; torch is large, which
# is why it is not part of `make check`'s .venv.
set -euo pipefail
root=${QB_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$root"
export QB_ROOT=$root QB_MIRROR=${QB_MIRROR:-$root/../shared/mirror}
oracle=${QB_ORACLE_PYTHON:-$root/.venv-oracle/bin/python}
if [ ! -x "$oracle" ]; then
  echo "check-oracle: creating $root/.venv-oracle (torch, transformers: a large download)" >&2
  python3 -m venv "$root/.venv-oracle"
  "$root/.venv-oracle/bin/pip" install --quiet --disable-pip-version-check \
    torch==2.15.0 transformers==5.23.0 tokenizers numpy
  oracle=$root/.venv-oracle/bin/python
fi
make --no-print-directory bin/generate bin/ppl build/tests/helpers/engine-probe >/dev/null
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$oracle" tests/golden/make_golden.py --out "$tmp"
# The live fixtures against the committed ones: a change here means transformers
# (or the tiny model, or the mirror) changed, not qbench.
"${QB_PYTHON:-$root/.venv/bin/python}" - "$tmp" tests/golden/fixtures <<'PY'
import json, os, sys
live, committed = sys.argv[1], sys.argv[2]
for f in sorted(os.listdir(live)):
    a, b = json.load(open(os.path.join(live, f))), json.load(open(os.path.join(committed, f)))
    same = all(a[k] == b[k] for k in ("ids", "argmax", "greedy")) and a["ppl"]["scored_tokens"] == b["ppl"]["scored_tokens"]
    d = abs(a["ppl"]["ppl"] - b["ppl"]["ppl"]) / b["ppl"]["ppl"]
    print(f"# {f}: live vs committed fixture: ids/argmax/greedy {'identical' if same else 'DIFFER'}, PPL differs by {d:.1e} relative")
PY
exec "${QB_PYTHON:-$root/.venv/bin/python}" tests/golden/golden_check.py --fixtures "$tmp"
