#!/usr/bin/env python3
"""Our GGUF reader and writer (tools/lib/gguf) against the gguf package's
GGUFWriter and GGUFReader. Prints TAP.

1. gguf.GGUFWriter writes a file with key/values of every value type (arrays
   of numbers, of bools and of strings with non-ASCII text included) and
   tensors of every weight type qbench knows, 1 to 4 dimensions, random
   contents; once with the default alignment, once with general.alignment 64.
2. Our reader's dump of it (gguf-rw dump) equals the same dump computed with
   gguf.GGUFReader: keys, types, value bytes, tensor types, dims, absolute
   offsets, sha256 of the data.
3. Our writer rewrites it (gguf-rw copy): GGUFReader reads our file back to
   the same dump, and the bytes equal GGUFWriter's.

usage: gguf_py.py HELPER   (HELPER = build/tests/helpers/gguf-rw)
"""
import hashlib
import os
import subprocess
import sys
import tempfile

import numpy as np
import gguf
from gguf import GGMLQuantizationType as Q
from gguf import GGUFValueType as V

HELPER = sys.argv[1]
n_test = 0
failed = 0

TYPE_NAMES = {V.UINT8: "u8", V.INT8: "i8", V.UINT16: "u16", V.INT16: "i16", V.UINT32: "u32", V.INT32: "i32",
              V.FLOAT32: "f32", V.BOOL: "bool", V.STRING: "str", V.ARRAY: "array", V.UINT64: "u64",
              V.INT64: "i64", V.FLOAT64: "f64"}


def ok(cond, name):
    global n_test, failed
    n_test += 1
    failed += not cond
    print(("ok" if cond else "not ok") + f" {n_test} - {name}", flush=True)


def diag(msg):
    for line in str(msg).splitlines():
        print(f"# {line}", flush=True)


def write_sample(path, rng, alignment):
    w = gguf.GGUFWriter(path, "gpt2")
    if alignment:
        w.add_custom_alignment(alignment)
    w.add_uint8("test.u8", int(rng.integers(0, 256)))
    w.add_int8("test.i8", int(rng.integers(-128, 128)))
    w.add_uint16("test.u16", int(rng.integers(0, 65536)))
    w.add_int16("test.i16", int(rng.integers(-32768, 32768)))
    w.add_uint32("test.u32", int(rng.integers(0, 2**32)))
    w.add_int32("test.i32", int(rng.integers(-2**31, 2**31)))
    w.add_float32("test.f32", float(rng.normal()))
    w.add_bool("test.bool", bool(rng.integers(0, 2)))
    w.add_string("test.str", "héllo wörld ✓ " + str(rng.integers(0, 10**9)))
    w.add_uint64("test.u64", int(rng.integers(0, 2**63)) * 2 + 1)
    w.add_int64("test.i64", -int(rng.integers(0, 2**62)))
    w.add_float64("test.f64", float(rng.normal()) * 1e200)
    w.add_key_value("test.arr_i32", [int(v) for v in rng.integers(-1000, 1000, 37)], V.ARRAY, sub_type=V.INT32)
    w.add_key_value("test.arr_f32", [float(v) for v in rng.normal(size=11)], V.ARRAY, sub_type=V.FLOAT32)
    w.add_key_value("test.arr_u8", [int(v) for v in rng.integers(0, 256, 5)], V.ARRAY, sub_type=V.UINT8)
    w.add_key_value("test.arr_bool", [bool(v) for v in rng.integers(0, 2, 9)], V.ARRAY, sub_type=V.BOOL)
    w.add_key_value("test.arr_f64", [float(v) for v in rng.normal(size=3)], V.ARRAY, sub_type=V.FLOAT64)
    words = ["Ġthe", "", "日本語", "é", "<|endoftext|>", "tab\tnew\nline"] + [f"w{i}" for i in rng.integers(0, 99999, 200)]
    w.add_key_value("tokenizer.ggml.tokens", words, V.ARRAY, sub_type=V.STRING)
    w.add_uint32("gpt2.context_length", 512)
    tensors = [("a.f32", Q.F32, [7, 3]), ("b.f16", Q.F16, [64, 5]), ("c.bf16", Q.BF16, [33]),
               ("d.q8_0", Q.Q8_0, [64, 3]), ("e.q4_0", Q.Q4_0, [96, 2, 2]), ("f.q4_1", Q.Q4_1, [32, 3]),
               ("g.q4_k", Q.Q4_K, [256, 2]), ("h.q6_k", Q.Q6_K, [512, 1, 2, 3]), ("i.iq4_nl", Q.IQ4_NL, [32, 7]),
               ("blk.0.attn_qkv.weight", Q.F32, [5])]
    for name, qt, ne in tensors:
        block, size = gguf.GGML_QUANT_SIZES[qt]
        shape = list(reversed(ne))  # numpy order: ne[0] last
        if qt == Q.F32:
            w.add_tensor(name, rng.normal(size=shape).astype(np.float32))
        elif qt == Q.F16:
            w.add_tensor(name, rng.normal(size=shape).astype(np.float16))
        else:
            byte_shape = shape[:-1] + [shape[-1] // block * size]
            w.add_tensor(name, rng.integers(0, 256, byte_shape, dtype=np.uint8), raw_dtype=qt)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def py_dump(path):
    r = gguf.GGUFReader(path)
    out = [f"version\t{int(r.fields['GGUF.version'].parts[0][0])}", f"alignment\t{r.alignment}",
           f"data_offset\t{r.data_offset}"]
    for key, f in r.fields.items():
        if key.startswith("GGUF."):
            continue
        t = V(int(f.parts[2][0]))
        if t == V.ARRAY:
            tname = "array[" + TYPE_NAMES[V(int(f.parts[3][0]))] + "]"
        else:
            tname = TYPE_NAMES[t]
        vals = ",".join(bytes(f.parts[i]).hex() for i in f.data)
        out.append(f"kv\t{key}\t{tname}\t{vals}")
    for t in r.tensors:
        dims = ",".join(str(int(d)) for d in t.shape)
        digest = hashlib.sha256(np.ascontiguousarray(t.data).tobytes()).hexdigest()
        out.append(f"tensor\t{t.name}\t{int(t.tensor_type)}\t{dims}\t{t.data_offset}\t{digest}")
    return out


def our_dump(path):
    p = subprocess.run([HELPER, "dump", path], capture_output=True, text=True)
    if p.returncode:
        diag(p.stderr)
    return p.stdout.splitlines()


def first_difference(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return f"line {i}: ours {x[:200]!r}\n        gguf {y[:200]!r}"
    return f"lengths differ: {len(a)} vs {len(b)}"


def main():
    seed = int(os.environ.get("QB_TEST_SEED", "0")) or int.from_bytes(os.urandom(4), "little")
    print(f"# seed {seed} (set QB_TEST_SEED to replay)")
    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory() as tmp:
        for alignment in (None, 64):
            label = f"alignment {alignment or 32}"
            a, b = os.path.join(tmp, "py.gguf"), os.path.join(tmp, "ours.gguf")
            write_sample(a, rng, alignment)
            ref = py_dump(a)
            mine = our_dump(a)
            same = mine == ref
            if not same:
                diag(first_difference(mine, ref))
            ok(same and len(ref) > 30, f"{label}: our reader sees what GGUFReader sees in a GGUFWriter file "
                                       f"({len(ref)} lines: keys, types, values, tensors, offsets, data)")
            p = subprocess.run([HELPER, "copy", a, b], capture_output=True, text=True)
            ok(p.returncode == 0 and os.path.exists(b), f"{label}: our writer rewrites it")
            if p.returncode:
                diag(p.stderr)
                continue
            back = py_dump(b)
            same = back == ref
            if not same:
                diag(first_difference(back, ref))
            ok(same, f"{label}: GGUFReader reads our file back to the same keys, values and tensors")
            with open(a, "rb") as fa, open(b, "rb") as fb:
                ba, bb = fa.read(), fb.read()
            ok(ba == bb, f"{label}: our file is byte-identical to GGUFWriter's ({len(bb)} vs {len(ba)} bytes)")
    print(f"1..{n_test}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
