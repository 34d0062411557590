#!/usr/bin/env python3
"""st_tool: make variants of a Hugging Face GPT-2 directory for the engine tests.

A safetensors reader/writer in plain Python + numpy (an independent implementation
of the format), so the tests need neither torch nor the safetensors package.

  st_tool.py convert SRC DST [--dtype F32|F16|BF16] [--shards N] [--strip-prefix]
             [--lm-head] [--misalign] [--buffers] [--force-eot]
      DST gets SRC's config.json, vocab.json and merges.txt and its tensors:
      --dtype        converted (BF16: round to nearest even)
      --shards N     split over N files + model.safetensors.index.json
      --strip-prefix names without GPT2LMHeadModel's "transformer." prefix
      --lm-head      an explicit lm_head.weight (a copy of wte)
      --misalign     a 1-element F16 tensor first, so every later tensor is
                     misaligned by 2 bytes (the loader must copy, not crash)
      --buffers      attn.bias / attn.masked_bias buffers, as old checkpoints have
      --force-eot    ln_f gain 0 and bias v, wte[50256] = 50 v / |v|^2: every
                     position predicts <|endoftext|> (tests the EOT stop)
  st_tool.py corrupt SRC_FILE DST_FILE CASE
      a damaged copy of one safetensors file; CASE is one of CASES below.
"""
import json
import os
import shutil
import struct
import sys

import numpy as np

DTYPES = {"F32": np.float32, "F16": np.float16}


def read(path):
    data = open(path, "rb").read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    base = 8 + n
    out = {}
    for name, d in header.items():
        if name == "__metadata__":
            continue
        b, e = d["data_offsets"]
        raw = data[base + b : base + e]
        if d["dtype"] == "BF16":
            u = np.frombuffer(raw, dtype=np.uint16).astype(np.uint32) << 16
            arr = u.view(np.float32)
        else:
            arr = np.frombuffer(raw, dtype=DTYPES[d["dtype"]]).astype(np.float32)
        out[name] = arr.reshape(d["shape"])
    return out


def to_bytes(arr, dtype):
    a = np.ascontiguousarray(arr, dtype=np.float32)
    if dtype == "F32":
        return a.tobytes()
    if dtype == "F16":
        return a.astype(np.float16).tobytes()
    u = a.view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16  # round to nearest even
    return u.astype(np.uint16).tobytes()


def write(path, tensors, dtypes, order=None):
    """tensors: name -> float32 array; dtypes: name -> dtype string."""
    header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    for name in order or sorted(tensors):
        b = to_bytes(tensors[name], dtypes[name])
        header[name] = {"dtype": dtypes[name], "shape": list(tensors[name].shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def load_dir(src):
    index = os.path.join(src, "model.safetensors.index.json")
    if os.path.exists(os.path.join(src, "model.safetensors")):
        return read(os.path.join(src, "model.safetensors"))
    t = {}
    for shard in sorted(set(json.load(open(index))["weight_map"].values())):
        t.update(read(os.path.join(src, shard)))
    return t


def convert(src, dst, opts):
    os.makedirs(dst, exist_ok=True)
    for f in ("config.json", "vocab.json", "merges.txt"):
        shutil.copy(os.path.join(src, f), os.path.join(dst, f))
    t = load_dir(src)
    prefixed = any(k.startswith("transformer.") for k in t)
    p = "transformer." if prefixed else ""
    if opts.get("strip_prefix"):
        t = {k[len("transformer.") :] if k.startswith("transformer.") else k: v for k, v in t.items()}
        p = ""
    cfg = json.load(open(os.path.join(src, "config.json")))
    if opts.get("force_eot"):
        rng = np.random.default_rng(7)
        v = rng.standard_normal(cfg["n_embd"]).astype(np.float32)
        t[p + "ln_f.weight"] = np.zeros_like(t[p + "ln_f.weight"])
        t[p + "ln_f.bias"] = v
        wte = t[p + "wte.weight"].copy()
        wte[50256] = 50 * v / float(v @ v)
        t[p + "wte.weight"] = wte
    if opts.get("lm_head"):
        t["lm_head.weight"] = t[p + "wte.weight"].copy()
    if opts.get("buffers"):
        n = cfg["n_positions"]
        for layer in range(cfg["n_layer"]):
            t[f"{p}h.{layer}.attn.bias"] = np.tril(np.ones((n, n), np.float32)).reshape(1, 1, n, n)
            t[f"{p}h.{layer}.attn.masked_bias"] = np.array(-1e4, np.float32).reshape(())
    dtype = opts.get("dtype", "F16")
    dtypes = {k: dtype for k in t}
    order = sorted(t)
    if opts.get("misalign"):
        t["aaa.misalign"] = np.zeros((1,), np.float32)
        dtypes["aaa.misalign"] = "F16"
        order = ["aaa.misalign"] + order
    shards = int(opts.get("shards", 1))
    if shards == 1:
        write(os.path.join(dst, "model.safetensors"), t, dtypes, order)
        return
    names = order
    weight_map = {}
    for i in range(shards):
        part = names[i::shards]
        fname = f"model-{i + 1:05d}-of-{shards:05d}.safetensors"
        write(os.path.join(dst, fname), {k: t[k] for k in part}, dtypes, part)
        weight_map.update({k: fname for k in part})
    json.dump(
        {"metadata": {"total_size": 0}, "weight_map": weight_map},
        open(os.path.join(dst, "model.safetensors.index.json"), "w"),
        indent=1,
    )


def raw_header(data):
    (n,) = struct.unpack("<Q", data[:8])
    return n, json.loads(data[8 : 8 + n]), data[8 + n :]


def rebuild(header, body):
    h = json.dumps(header, separators=(",", ":")).encode()
    return struct.pack("<Q", len(h)) + h + body


def first(header):
    return sorted(k for k in header if k != "__metadata__")[0]


def last_by_offset(header):
    return max((k for k in header if k != "__metadata__"), key=lambda k: header[k]["data_offsets"][1])


def c_truncated(data):  # cut in the middle of the data section
    n, _, body = raw_header(data)
    return data[: 8 + n + len(body) // 2]


def c_truncated_header(data):  # cut inside the JSON header
    return data[:100]


def c_short(data):  # fewer than 8 bytes
    return data[:5]


def c_header_too_long(data):  # header length field larger than the file
    return struct.pack("<Q", len(data) * 2) + data[8:]


def c_header_absurd(data):
    return struct.pack("<Q", 1 << 62) + data[8:]


def c_bad_json(data):
    n, h, body = raw_header(data)
    j = json.dumps(h).encode()[:-1] + b",}"
    return struct.pack("<Q", len(j)) + j + body


def c_not_object(data):
    j = b"[1, 2, 3]"
    return struct.pack("<Q", len(j)) + j + raw_header(data)[2]


def c_dtype_i8(data):
    n, h, body = raw_header(data)
    h[first(h)]["dtype"] = "I8"
    return rebuild(h, body)


def c_dtype_unknown(data):
    n, h, body = raw_header(data)
    h[first(h)]["dtype"] = "Q4_WHATEVER"
    return rebuild(h, body)


def c_shape_lies(data):  # shape x dtype size != byte range
    n, h, body = raw_header(data)
    h[first(h)]["shape"][0] += 1
    return rebuild(h, body)


def c_offsets_past_end(data):
    n, h, body = raw_header(data)
    k = last_by_offset(h)
    b, e = h[k]["data_offsets"]
    h[k]["data_offsets"] = [b + 1024, e + 1024]
    return rebuild(h, body)


def c_overlap(data):  # two tensors share bytes
    n, h, body = raw_header(data)
    names = sorted((k for k in h if k != "__metadata__"), key=lambda k: h[k]["data_offsets"][0])
    a, b = names[0], names[1]
    size_b = h[b]["data_offsets"][1] - h[b]["data_offsets"][0]
    start = h[a]["data_offsets"][0]
    h[b]["data_offsets"] = [start, start + size_b]
    return rebuild(h, body)


def c_negative_offset(data):
    n, h, body = raw_header(data)
    h[first(h)]["data_offsets"][0] = -4
    return rebuild(h, body)


def c_duplicate(data):  # the same tensor name twice in the header
    n, h, body = raw_header(data)
    k = first(h)
    j = json.dumps(h, separators=(",", ":"))
    dup = json.dumps({k: h[k]}, separators=(",", ":"))[1:-1]
    j = "{" + dup + "," + j[1:]
    return struct.pack("<Q", len(j.encode())) + j.encode() + body


def c_trailing(data):  # bytes no tensor owns
    return data + b"\0" * 16


CASES = {
    name[2:]: fn for name, fn in sorted(globals().items()) if name.startswith("c_") and callable(fn)
}


def main(argv):
    if len(argv) >= 3 and argv[0] == "convert":
        opts, rest = {}, argv[3:]
        while rest:
            o = rest.pop(0)
            if o in ("--dtype", "--shards"):
                opts[o[2:]] = rest.pop(0)
            elif o in ("--strip-prefix", "--lm-head", "--misalign", "--buffers", "--force-eot"):
                opts[o[2:].replace("-", "_")] = True
            else:
                sys.exit(f"st_tool: unknown option {o}")
        convert(argv[1], argv[2], opts)
    elif len(argv) == 4 and argv[0] == "corrupt":
        if argv[3] not in CASES:
            sys.exit(f"st_tool: unknown case {argv[3]} (one of {' '.join(CASES)})")
        data = open(argv[1], "rb").read()
        open(argv[2], "wb").write(CASES[argv[3]](data))
    elif argv == ["cases"]:
        print("\n".join(CASES))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
