#!/usr/bin/env python3
"""dev_gguf.py HF_DIR OUT.gguf TYPE: a GGUF file of a GPT-2 checkpoint written with the `gguf`
package (GGUFWriter and its reference quantizers), for testing the llama.cpp peer where our own
`quantize` is not built. The pipeline's llama.cpp cells use quantize's files, never these.

TYPE is f32, f16, q8_0, q4_0 or q4_1: the type of the 2-D weights (token embedding, qkv, attention
output, MLP up and down); biases, norms and the position table stay F32. llama.cpp's tensor names
and gpt2.* metadata; the tied lm_head is left out (llama.cpp then uses token_embd).
"""
import json
import os
import sys

import numpy as np


def main(argv):
    if len(argv) != 3 or argv[0] in ("-h", "--help"):
        sys.stderr.write(__doc__)
        return 0 if argv and argv[0] in ("-h", "--help") else 1
    src, out, typ = argv
    import gguf
    from safetensors.numpy import load_file
    qtypes = {"f32": None, "f16": None, "q8_0": gguf.GGMLQuantizationType.Q8_0,
              "q4_0": gguf.GGMLQuantizationType.Q4_0, "q4_1": gguf.GGMLQuantizationType.Q4_1}
    ftypes = {"f32": 0, "f16": 1, "q4_0": 2, "q4_1": 3, "q8_0": 7}
    if typ not in qtypes:
        sys.stderr.write(f"dev_gguf.py: unknown type {typ}\n")
        return 1
    with open(os.path.join(src, "config.json")) as f:
        cfg = json.load(f)
    st = {}
    for name in sorted(os.listdir(src)):
        if name.endswith(".safetensors"):
            st.update(load_file(os.path.join(src, name)))
    st = {k.removeprefix("transformer."): v.astype(np.float32) for k, v in st.items()}
    with open(os.path.join(src, "vocab.json"), encoding="utf-8") as f:
        vocab = json.load(f)
    with open(os.path.join(src, "merges.txt"), encoding="utf-8") as f:
        merges = [ln.rstrip("\n") for ln in f if ln.strip() and not ln.startswith("#version")]

    E, L = cfg["n_embd"], cfg["n_layer"]
    w = gguf.GGUFWriter(out + ".tmp", "gpt2")
    w.add_name(os.path.basename(os.path.normpath(src)))
    w.add_context_length(cfg.get("n_positions") or cfg["n_ctx"])
    w.add_embedding_length(E)
    w.add_feed_forward_length(cfg.get("n_inner") or 4 * E)
    w.add_block_count(L)
    w.add_head_count(cfg["n_head"])
    w.add_layer_norm_eps(cfg["layer_norm_epsilon"])
    w.add_file_type(ftypes[typ])
    tokens = [None] * len(vocab)
    for tok, i in vocab.items():
        tokens[i] = tok
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("gpt-2")
    w.add_token_list(tokens)
    eos = cfg.get("eos_token_id", 50256)
    w.add_token_types([gguf.TokenType.CONTROL if i == eos else gguf.TokenType.NORMAL
                       for i in range(len(tokens))])
    w.add_token_merges(merges)
    w.add_bos_token_id(cfg.get("bos_token_id", 50256))
    w.add_eos_token_id(eos)

    def weight(name, arr):  # arr is [out, in] row-major, ggml ne = [in, out]
        if typ == "f32":
            w.add_tensor(name, arr)
        elif typ == "f16":
            w.add_tensor(name, arr.astype(np.float16))
        else:
            w.add_tensor(name, gguf.quants.quantize(arr, qtypes[typ]), raw_dtype=qtypes[typ])

    weight("token_embd.weight", st["wte.weight"])
    w.add_tensor("position_embd.weight", st["wpe.weight"])
    for i in range(L):
        p = f"h.{i}."
        for ours, theirs in (("attn_norm", "ln_1"), ("ffn_norm", "ln_2")):
            w.add_tensor(f"blk.{i}.{ours}.weight", st[p + theirs + ".weight"])
            w.add_tensor(f"blk.{i}.{ours}.bias", st[p + theirs + ".bias"])
        for ours, theirs in (("attn_qkv", "attn.c_attn"), ("attn_output", "attn.c_proj"),
                             ("ffn_up", "mlp.c_fc"), ("ffn_down", "mlp.c_proj")):
            weight(f"blk.{i}.{ours}.weight", np.ascontiguousarray(st[p + theirs + ".weight"].T))
            w.add_tensor(f"blk.{i}.{ours}.bias", st[p + theirs + ".bias"])
    w.add_tensor("output_norm.weight", st["ln_f.weight"])
    w.add_tensor("output_norm.bias", st["ln_f.bias"])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    os.replace(out + ".tmp", out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
