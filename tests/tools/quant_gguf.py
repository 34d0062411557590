#!/usr/bin/env python3
"""Our ggml block quantizers and dequantizers against the gguf package's
(gguf-py, maintained with llama.cpp), on fresh random rows. Prints TAP.

quantize:   our bytes == gguf.quants.quantize(rows, type) byte for byte, for
            every type gguf-py can quantize (F16, BF16, Q8_0, Q4_0, Q4_1);
dequantize: our floats == gguf.quants.dequantize(bytes, type) bit for bit for
            every type, on our quantizer's bytes and on random block bytes
            (every nibble pattern and sign, scales finite).
The types gguf-py has no quantizer for (Q4_K, Q6_K, IQ4_NL) are compared with
ggml's own C quantizers by `make check-interop`.

usage: quant_gguf.py HELPER   (HELPER = build/tests/helpers/quant-rows)
"""
import os
import subprocess
import sys
import tempfile

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import quants

HELPER = sys.argv[1]
N = 512  # values per row: two Q4_K/Q6_K super-blocks, 16 blocks of 32
TYPES = {"f32": T.F32, "f16": T.F16, "bf16": T.BF16, "q8_0": T.Q8_0, "q4_0": T.Q4_0,
         "q4_1": T.Q4_1, "q4_k": T.Q4_K, "q6_k": T.Q6_K, "iq4_nl": T.IQ4_NL}
GGUF_QUANTIZES = {"f16", "bf16", "q8_0", "q4_0", "q4_1"}
# Byte offsets of the f16 scale fields inside one block, per type.
HALF_FIELDS = {"q8_0": [0], "q4_0": [0], "q4_1": [0, 2], "q4_k": [0, 2], "q6_k": [208], "iq4_nl": [0]}

n_test = 0
failed = 0


def ok(cond, name):
    global n_test, failed
    n_test += 1
    if not cond:
        failed += 1
    print(("ok" if cond else "not ok") + f" {n_test} - {name}", flush=True)


def diag(msg):
    print(f"# {msg}", flush=True)


def make_rows(rng):
    """Rows as the weights of a real model look, plus the hard cases."""
    rows = []
    for s in (0.02, 0.1, 1.0, 30.0):  # Gaussian at several scales
        rows.append(rng.normal(0, s, N))
    rows.append(rng.standard_t(3, N) * 0.05)  # heavy tails
    r = rng.normal(0, 0.02, N)  # a few large outliers
    r[rng.choice(N, 6, replace=False)] *= rng.uniform(20, 200, 6)
    rows.append(r)
    rows.append(rng.normal(0, 1e-6, N))  # tiny: scales are f16 subnormals
    rows.append(rng.uniform(-1, 1, N))
    rows.append(np.abs(rng.normal(0, 0.1, N)))  # one-signed: mins matter
    rows.append(-np.abs(rng.normal(0, 0.1, N)) - 0.3)
    rows.append(np.full(N, rng.uniform(-2, 2)))  # all equal
    r = rng.normal(0, 0.05, N)
    r[32:64] = rng.normal(0, 0.05) * np.ones(32)  # one constant block inside a row
    rows.append(r)
    r = rng.normal(0, 0.05, N)
    r[256:288] = 0.0  # a zero block (an extra case, not the main data)
    rows.append(r)
    r = rng.normal(0, 0.05, N)
    r[rng.integers(0, N, 40)] = 0.0  # scattered exact zeros
    rows.append(r)
    for _ in range(6):
        rows.append(rng.normal(0, rng.uniform(0.005, 0.5), N))
    return np.stack(rows).astype(np.float32)


def run_helper(mode, tname, data, tmp):
    src, dst = os.path.join(tmp, "in.bin"), os.path.join(tmp, "out.bin")
    data.tofile(src)
    subprocess.run([HELPER, mode, tname, str(N), src, dst], check=True)
    return np.fromfile(dst, dtype=np.uint8 if mode == "quantize" else np.float32)


def same_floats(a, b):
    """Bit-identical float32 arrays (NaN patterns included)."""
    a = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)
    b = np.ascontiguousarray(b, dtype=np.float32).view(np.uint32)
    return a.shape == b.shape and np.array_equal(a, b)


def random_blocks(rng, tname, n_rows):
    """Random block bytes with finite random f16 scales."""
    block, size = quants.GGML_QUANT_SIZES[TYPES[tname]]
    n_blocks = n_rows * N // block
    raw = rng.integers(0, 256, (n_blocks, size), dtype=np.uint8)
    for off in HALF_FIELDS[tname]:
        h = (rng.normal(0, 0.01, n_blocks) * rng.choice([1, 100], n_blocks)).astype(np.float16)
        raw[:, off:off + 2] = h.view(np.uint8).reshape(n_blocks, 2)
    return raw.reshape(-1)


def main():
    seed = int(os.environ.get("QB_TEST_SEED", "0")) or int.from_bytes(os.urandom(4), "little")
    print(f"# seed {seed} (set QB_TEST_SEED to replay)")
    rng = np.random.default_rng(seed)
    rows = make_rows(rng)
    with tempfile.TemporaryDirectory() as tmp:
        for tname, qt in TYPES.items():
            ours = run_helper("quantize", tname, rows, tmp)
            ok(ours.size == rows.shape[0] * quants.quant_shape_to_byte_shape((N,), qt)[0],
               f"{tname}: {rows.shape[0]} rows of {N} give the ggml row size")
            if tname in GGUF_QUANTIZES:
                ref = np.asarray(quants.quantize(rows, qt)).reshape(-1).view(np.uint8)
                same = ref.size == ours.size and np.array_equal(ref, ours)
                if not same and ref.size == ours.size:
                    i = int(np.argmax(ref != ours))
                    diag(f"{tname}: first differing byte {i} (row {i // (ours.size // rows.shape[0])}): "
                         f"ours {ours[i]:#04x} gguf {ref[i]:#04x}")
                ok(same, f"{tname}: quantized bytes identical to gguf.quants.quantize")
            elif tname != "f32":
                diag(f"{tname}: gguf-py {quants.__name__} has no quantizer for {qt.name}; "
                     f"bytes are checked against ggml's C quantizer in make check-interop")
            if tname == "f32":
                ok(np.array_equal(ours.view(np.float32), rows.reshape(-1)), "f32: bytes are the floats")
                continue
            # Dequantize our own bytes and random bytes with both implementations.
            for what, blob in (("our quantized bytes", ours), ("random block bytes", None)):
                if blob is None:
                    if tname in ("f16", "bf16"):
                        vals = rng.normal(0, 1, rows.size).astype(np.float32)
                        blob = np.asarray(quants.quantize(vals, qt)).reshape(-1).view(np.uint8)
                    else:
                        blob = random_blocks(rng, tname, rows.shape[0])
                mine = run_helper("dequantize", tname, blob, tmp)
                n_rows = mine.size // N
                ref = quants.dequantize(blob.reshape(n_rows, -1), qt).reshape(-1)
                same = same_floats(mine, ref)
                if not same and mine.size == ref.size:
                    d = np.flatnonzero(mine.view(np.uint32) != np.asarray(ref, np.float32).view(np.uint32))
                    diag(f"{tname}: {d.size} values differ, first at {d[0]}: ours {mine[d[0]]!r} gguf {ref[d[0]]!r}")
                ok(same, f"{tname}: dequantized {what} identical to gguf.quants.dequantize")
    print(f"1..{n_test}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
