#!/usr/bin/env bash
# golden.t: the engine (loader, tokenizer, forward pass, generate, ppl) against
# Hugging Face transformers' outputs committed in tests/golden/fixtures/ (made by
# tests/golden/make_golden.py). The comparisons are in golden_check.py; `make
# check-oracle` runs the same checks against fixtures regenerated live.
set -euo pipefail
root=${QB_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
export QB_ROOT=$root QB_MIRROR=${QB_MIRROR:-$root/../shared/mirror}
exec "${QB_PYTHON:-python3}" "$root/tests/golden/golden_check.py" "$@"
