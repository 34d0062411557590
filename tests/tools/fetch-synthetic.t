#!/usr/bin/env bash
# fetch --synthetic: GPT-2 checkpoints of seeded random weights. Checks the
# layout (names, shapes, dtypes, offsets) and the initialisation statistics
# with an independent reader in Python, the first numbers against a Python
# re-implementation of the generator (SplitMix64 + Box-Muller with libm),
# determinism (same seed, same sha256, whatever the thread count; a golden
# digest that must hold on every machine), the loud labels, the tokenizer copy
# from a mirror, loading by the engine (bin/generate), and the command line.
# About 10 s.
set -u
ROOT=${QB_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
PY=${QB_PYTHON:-python3}
F=$ROOT/bin/fetch
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
unset QB_MIRROR
n=0
ok() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi; }
skip() { n=$((n + 1)); echo "ok $n # SKIP $1"; }
diag() { echo "# $*"; }
sha() { sha256sum "$1" | cut -d' ' -f1; }
TINY=(--synthetic gpt2 --n-layer 3 --n-embd 48 --n-head 4 --n-ctx 64 --no-tokenizer)

"$F" "${TINY[@]}" --seed 7 -o "$T/a" >"$T/a.out" 2>"$T/a.err"; rc=$?
[ $rc = 0 ] && [ -f "$T/a/model.safetensors" ] && [ -f "$T/a/config.json" ] && [ ! -e "$T/a/model.safetensors.tmp" ]
ok $? "tiny synthetic checkpoint written (exit $rc)"
grep -q 'WARNING: writing SYNTHETIC random weights' "$T/a.err"; ok $? "stderr says loudly that the weights are synthetic"
"$F" "${TINY[@]}" --seed 7 --threads 1 -o "$T/b" >/dev/null 2>&1
"$F" "${TINY[@]}" --seed 7 --threads 3 -o "$T/c" >/dev/null 2>&1
A=$(sha "$T/a/model.safetensors")
[ "$A" = "$(sha "$T/b/model.safetensors")" ] && [ "$A" = "$(sha "$T/c/model.safetensors")" ] &&
  [ "$(sha "$T/a/config.json")" = "$(sha "$T/b/config.json")" ]
ok $? "same seed: same sha256 with 1, 3 and all threads ($A)"
# The digest of this exact checkpoint, computed once: any machine, compiler or
# thread count must reproduce it (the generator uses no libm).
GOLDEN=f150f5b587dbfbcd56cdc8a15efa0df351512251c9087ddf966007282ddb7135
[ "$A" = "$GOLDEN" ]; ok $? "golden sha256 of the seed-7 tiny checkpoint (got $A)"
"$F" "${TINY[@]}" --seed 8 -o "$T/d" >/dev/null 2>&1
[ "$A" != "$(sha "$T/d/model.safetensors")" ]; ok $? "another seed: another checkpoint"
grep -q "^$A  model.safetensors$" "$T/a/SHA256SUMS" && grep -q "	model.safetensors	.*	synthetic	seed=7$" "$T/a.out"
ok $? "digest recorded in SHA256SUMS and reported on stdout"
"$F" --verify "$T/a" >"$T/v.out" 2>&1; rc=$?
[ $rc = 0 ] && [ "$(grep -c '	ok$' "$T/v.out")" = 2 ]; ok $? "fetch --verify DIR checks a synthetic checkpoint"

# An independent reader: layout and statistics.
cat >"$T/check.py" <<'EOF'
import json, math, struct, sys, array
d, L, E, C, dt = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
V = 50257
raw = open(d + "/model.safetensors", "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
h = json.loads(raw[8:8 + n])
meta = h.pop("__metadata__")
want = {"wte.weight": [V, E], "wpe.weight": [C, E], "ln_f.weight": [E], "ln_f.bias": [E]}
for l in range(L):
    p = f"h.{l}."
    want.update({p + "ln_1.weight": [E], p + "ln_1.bias": [E], p + "attn.c_attn.weight": [E, 3 * E],
                 p + "attn.c_attn.bias": [3 * E], p + "attn.c_proj.weight": [E, E], p + "attn.c_proj.bias": [E],
                 p + "ln_2.weight": [E], p + "ln_2.bias": [E], p + "mlp.c_fc.weight": [E, 4 * E],
                 p + "mlp.c_fc.bias": [4 * E], p + "mlp.c_proj.weight": [4 * E, E], p + "mlp.c_proj.bias": [E]})
errors = []
if set(h) != set(want): errors.append(f"names differ: {sorted(set(h) ^ set(want))[:5]}")
size = 4 if dt == "F32" else 2
spans = sorted((v["data_offsets"][0], v["data_offsets"][1], k) for k, v in h.items())
pos = 0
for a, b, k in spans:
    if a != pos: errors.append(f"{k}: gap or overlap at {a}")
    pos = b
    if h[k]["dtype"] != dt: errors.append(f"{k}: dtype {h[k]['dtype']}")
    if k in want and h[k]["shape"] != want[k]: errors.append(f"{k}: shape {h[k]['shape']}")
    if k in want and b - a != size * math.prod(want[k]): errors.append(f"{k}: {b - a} bytes")
if 8 + n + pos != len(raw): errors.append(f"file is {len(raw)} bytes, header says {8 + n + pos}")
if n % 8: errors.append("header not padded to 8")
if meta.get("qbench_synthetic") != "true": errors.append(f"metadata {meta}")
def values(k):
    a, b = h[k]["data_offsets"]
    if dt == "F32":
        arr = array.array("f")
        arr.frombytes(raw[8 + n + a: 8 + n + b])
        return arr
    return struct.unpack(f"<{(b - a) // 2}e", raw[8 + n + a: 8 + n + b])
def std(x):
    m = sum(x) / len(x)
    return math.sqrt(sum((v - m) ** 2 for v in x) / len(x)), m
for k in h:
    x = values(k)
    if any(not math.isfinite(v) for v in x): errors.append(f"{k}: not finite")
    if k.endswith("ln_1.weight") or k.endswith("ln_2.weight") or k == "ln_f.weight":
        if set(x) != {1.0}: errors.append(f"{k}: LayerNorm weight not all 1")
    elif k.endswith(".bias"):
        if set(x) != {0.0}: errors.append(f"{k}: bias not all 0")
    else:
        s, m = std(x[:200000])
        target = 0.02 / math.sqrt(2 * L) if "c_proj" in k else 0.02
        if abs(s / target - 1) > 0.05 or abs(m) > 5 * target / math.sqrt(min(len(x), 200000)):
            errors.append(f"{k}: std {s:.5f} mean {m:.6f}, expected std {target:.5f}")
cfg = json.load(open(d + "/config.json"))
if cfg.get("qbench_synthetic") is not True or "SYNTHETIC" not in cfg.get("qbench_note", ""):
    errors.append("config.json does not say synthetic")
for k, v in {"n_layer": L, "n_embd": E, "n_positions": C, "vocab_size": V, "layer_norm_epsilon": 1e-5,
             "model_type": "gpt2", "tie_word_embeddings": True}.items():
    if cfg.get(k) != v: errors.append(f"config {k} = {cfg.get(k)}")
print("\n".join(errors) if errors else "layout ok")
sys.exit(1 if errors else 0)
EOF
"$PY" "$T/check.py" "$T/a" 3 48 64 F32 >"$T/check.out" 2>&1
rc=$?
ok $rc "layout (names, shapes, dtypes, contiguous offsets, size) and initialisation (std 0.02, c_proj 0.02/sqrt(2L), LN 1/0, biases 0) by an independent reader"
[ $rc = 0 ] || sed 's/^/# /' "$T/check.out"

# The first numbers of wte.weight against a Python re-implementation with libm.
"$PY" - "$T/a/model.safetensors" 7 <<'EOF' >"$T/gen.out" 2>&1
import json, math, struct, sys, array
path, seed = sys.argv[1], int(sys.argv[2])
M = (1 << 64) - 1
G = 0x9E3779B97F4A7C15
def mix(z):
    z &= M
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M
    return z ^ (z >> 31)
stream = 0  # wte.weight is the first tensor
key = mix(mix(seed) ^ ((stream * G + 0x632BE59BD9B4E019) & M))
out = []
for p in range(500):
    u1 = ((mix(key + (2 * p + 1) * G) >> 11) + 1) * 2.0 ** -53
    u2 = (mix(key + (2 * p + 2) * G) >> 11) * 2.0 ** -53
    r = math.sqrt(-2 * math.log(u1))
    out += [r * math.cos(2 * math.pi * u2) * 0.02, r * math.sin(2 * math.pi * u2) * 0.02]
raw = open(path, "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
a = json.loads(raw[8:8 + n])["wte.weight"]["data_offsets"][0]
got = array.array("f"); got.frombytes(raw[8 + n + a: 8 + n + a + 4000])
bad = [(i, got[i], out[i]) for i in range(1000) if abs(got[i] - out[i]) > 1e-7 * max(abs(out[i]), 1e-3)]
print(f"{len(bad)} of 1000 differ", bad[:3])
sys.exit(1 if bad else 0)
EOF
ok $? "first 1000 weights equal an independent Python generator with libm ($(cat "$T/gen.out"))"

"$F" "${TINY[@]}" --seed 7 --dtype f16 -o "$T/h" >/dev/null 2>&1
"$PY" "$T/check.py" "$T/h" 3 48 64 F16 >"$T/check16.out" 2>&1 && "$PY" -c "import json,sys; sys.exit(json.load(open('$T/h/config.json'))['torch_dtype'] != 'float16')" &&
  [ "$(stat -c %s "$T/h/model.safetensors")" -lt "$(stat -c %s "$T/a/model.safetensors")" ]
ok $? "--dtype f16: every tensor F16 with the same layout and statistics; config torch_dtype float16 ($(head -1 "$T/check16.out"))"

# The tokenizer from a mirror.
MIRROR=${QB_MIRROR_TEST:-}
for m in "$ROOT/../shared/mirror" /work/shared/mirror; do [ -z "$MIRROR" ] && [ -f "$m/tokenizers/gpt2/vocab.json" ] && MIRROR=$m; done
if [ -n "$MIRROR" ]; then
  "$F" --synthetic gpt2 --n-layer 1 --n-embd 16 --n-head 2 --n-ctx 8 --mirror "$MIRROR" --mirror-only \
    --data "$T/data" -o "$T/tok" >"$T/t.out" 2>"$T/t.err"; rc=$?
  [ $rc = 0 ] && [ "$(sha "$T/tok/vocab.json")" = 196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783 ] &&
    [ "$(sha "$T/tok/merges.txt")" = 1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5 ] &&
    [ "$(wc -l <"$T/tok/SHA256SUMS")" = 4 ]
  ok $? "tokenizer files copied from the mirror and verified against gpt2's pins"
  # The engine's loader (bin/generate) takes the checkpoint as it is, F32 and F16.
  "$F" -q --synthetic gpt2 --n-layer 2 --n-embd 64 --n-head 4 --n-ctx 32 --dtype f16 --mirror "$MIRROR" --mirror-only \
    --data "$T/data" -o "$T/tok16" >/dev/null 2>&1
  for d in tok tok16; do
    if [ -x "$ROOT/bin/generate" ]; then
      "$ROOT/bin/generate" -m "$T/$d" -p "Hello" -n 4 -t 1 -q --metrics "$T/$d.tsv" 2>"$T/g.err"; rc=$?
      [ $rc = 0 ] && [ "$(awk -F'\t' 'NR == 2 {print $7}' "$T/$d.tsv")" = 4 ]
      ok $? "the model loader (bin/generate) loads the $d checkpoint and generates 4 tokens (exit $rc $(tail -1 "$T/g.err"))"
    else
      skip "bin/generate not built"
    fi
  done
else
  skip "no mirror with tokenizers/gpt2 (set QB_MIRROR_TEST)"
  skip "no mirror: no loader check"
  skip "no mirror: no loader check"
fi
"$F" --synthetic gpt2 --n-layer 1 --n-embd 16 --n-head 2 --n-ctx 8 --mirror-only --data "$T/data" -o "$T/notok" >/dev/null 2>"$T/e"; rc=$?
[ $rc = 3 ] && [ ! -e "$T/notok/config.json" ]; ok $? "no tokenizer anywhere: exit 3 and no config.json ($(tail -1 "$T/e"))"
cp -r "$T/a" "$T/old"
"$F" --synthetic gpt2 --n-layer 1 --n-embd 16 --n-head 2 --n-ctx 8 --mirror-only --data "$T/data" -o "$T/old" >/dev/null 2>&1; rc=$?
[ $rc = 3 ] && [ ! -e "$T/old/config.json" ] && [ ! -e "$T/old/SHA256SUMS" ]
ok $? "a failed rewrite of an existing checkpoint removes its old config.json (no stale 'complete' mark)"

# Command line.
"$F" --synthetic gpt3 2>"$T/e" >/dev/null; rc=$?
[ $rc = 1 ] && grep -q "unknown shape 'gpt3'" "$T/e"; ok $? "unknown shape: exit 1"
"$F" --synthetic gpt2 --dtype bf8 2>/dev/null >/dev/null; [ $? = 1 ]; ok $? "bad --dtype: exit 1"
"$F" --synthetic gpt2 --n-embd 50 --n-head 4 2>/dev/null >/dev/null; [ $? = 1 ]; ok $? "--n-embd not a multiple of --n-head: exit 1"
"$F" --synthetic gpt2 gpt2 2>/dev/null >/dev/null; [ $? = 1 ]; ok $? "--synthetic with a NAME argument: exit 1"
echo "1..$n"
