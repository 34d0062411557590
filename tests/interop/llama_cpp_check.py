#!/usr/bin/env python3
"""Interoperability with llama.cpp itself (llama-cpp-python, which builds
llama.cpp and ggml from source). Prints TAP.

1. Quantizers: for Q8_0, Q4_0, Q4_1, Q4_K, Q6_K and IQ4_NL our bytes equal
   ggml's own (ggml_quantize_chunk from the package's libggml-base, without
   an importance matrix: what llama-quantize writes) on fresh random rows.
2. Models: GGUF files written by our quantize (qb-gpt2-10m in several types,
   and a seeded random GPT-2 with 256-wide rows so the k-quants apply) load
   in llama.cpp; its tokenization of a prompt, its last-position logits and
   its greedy continuation are compared with our engine's (model-logits).
   Tolerances: logits max |diff| / max |logit| (llama.cpp keeps an F16 KV
   cache and multiplies quantized weights with Q8 activations, so its error
   differs from ours by about that); greedy: llama.cpp's argmax at each
   position of our greedy continuation (teacher-forced, so one near-tie does
   not derail the rest) must agree almost everywhere.

usage: llama_cpp_check.py QB_ROOT MIRROR
"""
import ctypes
import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np

ROOT, MIRROR = sys.argv[1], sys.argv[2]
BIN = os.path.join(ROOT, "bin")
HELPERS = os.path.join(ROOT, "build", "tests", "helpers")
n_test = 0
failed = 0


def ok(cond, name):
    global n_test, failed
    n_test += 1
    failed += not cond
    print(("ok" if cond else "not ok") + f" {n_test} - {name}", flush=True)


def diag(msg):
    for line in str(msg).splitlines():
        print(f"# {line}", flush=True)


# ---- 1. quantizer bytes against ggml's ------------------------------------------

GGML_IDS = {"q4_0": 2, "q4_1": 3, "q8_0": 8, "q4_k": 12, "q6_k": 14, "iq4_nl": 20}


def ggml_base():
    import llama_cpp
    libdir = os.path.join(os.path.dirname(llama_cpp.__file__), "lib")
    for name in sorted(os.listdir(libdir)):
        if name.startswith("libggml-base") and ".so" in name:
            lib = ctypes.CDLL(os.path.join(libdir, name))
            f = lib.ggml_quantize_chunk
            f.restype = ctypes.c_size_t
            f.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64,
                          ctypes.c_int64, ctypes.c_void_p]
            lib.ggml_row_size.restype = ctypes.c_size_t
            lib.ggml_row_size.argtypes = [ctypes.c_int, ctypes.c_int64]
            return lib
    raise RuntimeError(f"no libggml-base in {libdir}")


def test_quantizers(rng, tmp):
    lib = ggml_base()
    n = 1024
    rows = [rng.normal(0, s, n) for s in (0.01, 0.05, 0.3, 2.0)]
    r = rng.normal(0, 0.02, n)
    r[rng.choice(n, 8, replace=False)] *= 80
    rows += [r, rng.standard_t(3, n) * 0.04, rng.uniform(-1, 1, n), np.abs(rng.normal(0, 0.1, n)),
             rng.normal(0, 1e-5, n)]
    rows += [rng.normal(0, rng.uniform(0.005, 0.5), n) for _ in range(23)]
    x = np.ascontiguousarray(np.stack(rows).astype(np.float32))
    src = os.path.join(tmp, "rows.f32")
    x.tofile(src)
    for t, tid in GGML_IDS.items():
        row = lib.ggml_row_size(tid, n)
        ref = np.zeros(row * x.shape[0], np.uint8)
        lib.ggml_quantize_chunk(tid, x.ctypes.data, ref.ctypes.data, 0, x.shape[0], n, None)
        dst = os.path.join(tmp, "q.bin")
        subprocess.run([os.path.join(HELPERS, "quant-rows"), "quantize", t, str(n), src, dst], check=True)
        ours = np.fromfile(dst, np.uint8)
        same = ours.size == ref.size and np.array_equal(ours, ref)
        if not same and ours.size == ref.size:
            i = int(np.argmax(ours != ref))
            diag(f"{t}: {int((ours != ref).sum())} bytes differ, first at {i} (row {i // row})")
        ok(same, f"{t}: our quantizer's bytes equal ggml_quantize_chunk's ({x.shape[0]} rows of {n})")


# ---- 2. models -----------------------------------------------------------------------

def write_safetensors(path, tensors):
    header, off, blobs = {}, 0, []
    for name, a in tensors.items():
        a = np.ascontiguousarray(a, np.float32)
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
        off += a.nbytes
        blobs.append(a.tobytes())
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for b in blobs:
            f.write(b)


def random_gpt2(d, rng, n_embd=256, n_layer=2, n_head=4, n_ctx=128):
    """A seeded random GPT-2 in Hugging Face layout with rows of 256 (k-quants apply)."""
    os.makedirs(d, exist_ok=True)
    tok = os.path.join(MIRROR, "tokenizers", "gpt2")
    for f in ("vocab.json", "merges.txt"):
        with open(os.path.join(tok, f), "rb") as a, open(os.path.join(d, f), "wb") as b:
            b.write(a.read())
    V, E = 50257, n_embd
    cfg = {"model_type": "gpt2", "vocab_size": V, "n_positions": n_ctx, "n_embd": E, "n_head": n_head,
           "n_layer": n_layer, "n_inner": None, "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5}
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f)
    g = lambda *s: rng.normal(0, 0.08, s)
    t = {"wte.weight": g(V, E), "wpe.weight": g(n_ctx, E) * 0.3}
    for l in range(n_layer):
        p = f"h.{l}."
        t[p + "ln_1.weight"] = 1 + g(E)
        t[p + "ln_1.bias"] = g(E)
        t[p + "attn.c_attn.weight"] = g(E, 3 * E)
        t[p + "attn.c_attn.bias"] = g(3 * E)
        t[p + "attn.c_proj.weight"] = g(E, E)
        t[p + "attn.c_proj.bias"] = g(E)
        t[p + "ln_2.weight"] = 1 + g(E)
        t[p + "ln_2.bias"] = g(E)
        t[p + "mlp.c_fc.weight"] = g(E, 4 * E)
        t[p + "mlp.c_fc.bias"] = g(4 * E)
        t[p + "mlp.c_proj.weight"] = g(4 * E, E) * 0.5
        t[p + "mlp.c_proj.bias"] = g(E)
    t["ln_f.weight"] = 1 + g(E)
    t["ln_f.bias"] = g(E)
    write_safetensors(os.path.join(d, "model.safetensors"), t)


def ours(gguf, prompt, n, act):
    p = subprocess.run([os.path.join(HELPERS, "model-logits"), gguf, prompt, str(n), act], capture_output=True,
                       text=True, check=True)
    lines = p.stdout.splitlines()
    ids = [int(v) for v in lines[0].split()[1:]]
    greedy = [int(v) for v in lines[1].split()[1:]]
    return ids, greedy, np.array([float(v) for v in lines[2:]])


def theirs(gguf, prompt, continuation):
    """llama.cpp's tokens for prompt, its logits at the prompt's last position,
    and its argmax at every position of prompt + continuation[:-1] (teacher
    forcing: both runtimes see the same tokens whatever they would pick)."""
    from llama_cpp import Llama
    llm = Llama(model_path=gguf, n_ctx=128, n_batch=128, n_threads=2, logits_all=True, verbose=False)
    ids = llm.tokenize(prompt.encode(), add_bos=False, special=False)
    llm.reset()
    llm.eval(list(ids) + continuation[:-1])
    P = len(ids)
    first = np.array(llm.scores[P - 1], dtype=np.float64)
    picks = [int(np.argmax(llm.scores[P - 1 + k])) for k in range(len(continuation))]
    del llm
    return list(ids), picks, first


def test_models(rng, tmp):
    m10 = os.path.join(MIRROR, "models", "qb-gpt2-10m")
    rnd = os.path.join(tmp, "rnd256")
    random_gpt2(rnd, rng)
    prompt = "The old man walked slowly to the river, and he"
    n = 16
    # (model, quantize args, our activation mode, logits tolerance, greedy agreement needed)
    # llama.cpp keeps its KV cache in F16 and multiplies quantized weights with
    # Q8 (Q8_K for k-quants) activations, hence tolerances of a few 1e-3 to 1e-2.
    cases = [
        (m10, ["--type", "f32"], "f32", 3e-3, 15),
        (m10, ["--type", "f16", "--embed", "f16"], "f32", 5e-3, 14),
        (m10, ["--type", "bf16", "--embed", "bf16"], "f32", 2e-2, 13),
        (m10, ["--type", "q8_0", "--embed", "q8_0"], "int8", 2e-2, 13),
        (m10, ["--type", "q4_0", "--embed", "q4_0"], "int8", 5e-2, 12),
        (m10, ["--type", "q4_1", "--embed", "q4_1"], "int8", 5e-2, 12),
        (m10, ["--type", "iq4_nl", "--embed", "iq4_nl"], "int8", 5e-2, 12),
        (m10, ["--preset", "int8-dynamic"], "int8", 2e-2, 13),
        (m10, ["--preset", "q4_k_m"], "int8", 5e-2, 12),
        (rnd, ["--type", "f32"], "f32", 3e-3, 15),
        (rnd, ["--type", "q4_k", "--embed", "q4_k"], "int8", 8e-2, 12),
        (rnd, ["--type", "q6_k", "--embed", "q6_k"], "int8", 5e-2, 13),
        (rnd, ["--preset", "q4_k_m"], "int8", 8e-2, 12),
    ]
    for model, args, act, tol, n_match in cases:
        name = f"{os.path.basename(model)} {' '.join(args)}"
        out = os.path.join(tmp, "m.gguf")
        p = subprocess.run([os.path.join(BIN, "quantize"), model, out, "-q"] + args, capture_output=True, text=True)
        if p.returncode:
            ok(False, f"{name}: quantize failed: {p.stderr.strip()}")
            continue
        o_ids, o_greedy, o_logits = ours(out, prompt, n, act)
        try:
            t_ids, t_picks, t_logits = theirs(out, prompt, o_greedy)
        except Exception as e:  # llama.cpp refused the file
            ok(False, f"{name}: llama.cpp loads and runs the file ({e})")
            continue
        ok(t_ids == o_ids, f"{name}: llama.cpp loads it and tokenizes the prompt as we do ({len(o_ids)} tokens)")
        diff = float(np.max(np.abs(t_logits - o_logits)))
        rel = diff / float(np.max(np.abs(t_logits)))
        # The same argmax, unless the two tops nearly tie: on the random model the largest logits
        # can lie closer together than the runtimes' own difference (Q8 activations, F16 cache).
        # A different pick passes only where llama.cpp's logits of the two tokens are closer than
        # that difference, so neither runtime's choice is wrong beyond its error.
        o_top, t_top = int(np.argmax(o_logits)), int(np.argmax(t_logits))
        gap = float(t_logits[t_top] - t_logits[o_top])
        top = "same argmax" if o_top == t_top else f"argmax {o_top} vs {t_top}, {gap:.3g} apart in llama.cpp's " \
                                                   f"logits <= their largest difference {diff:.3g}"
        ok(rel <= tol and gap <= diff, f"{name}: last-position logits, max |diff| / max |logit| = {rel:.2e} <= "
                                       f"{tol:g} (ours act {act}), {top}")
        agree = sum(int(a == b) for a, b in zip(t_picks, o_greedy))
        if agree < n:
            diag(f"ours greedy  {o_greedy}\nllama argmax {t_picks}")
        ok(agree >= n_match, f"{name}: llama.cpp's argmax along our greedy continuation agrees at {agree} of {n} "
                             f"positions (need {n_match})")


def main():
    seed = int(os.environ.get("QB_TEST_SEED", "0")) or int.from_bytes(os.urandom(4), "little")
    print(f"# seed {seed} (set QB_TEST_SEED to replay)")
    rng = np.random.default_rng(seed)
    import llama_cpp
    diag(f"llama-cpp-python {llama_cpp.__version__}")
    with tempfile.TemporaryDirectory() as tmp:
        test_quantizers(rng, tmp)
        test_models(np.random.default_rng(seed + 1), tmp)
    print(f"1..{n_test}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
