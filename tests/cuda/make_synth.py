"""Writes a synthetic GPT-2 checkpoint of one of the hub shapes (seeded random
weights, F32, Hugging Face layout) for speed runs on the GPU machine, where
transformers is installed and our fetch --synthetic's libraries are not.
Speed does not depend on the values.

  python3 make_synth.py SHAPE OUT_DIR TOKENIZER_DIR
"""
import os
import shutil
import sys

import torch
from transformers import GPT2Config, GPT2LMHeadModel

SHAPES = {  # n_layer, n_embd, n_head
    "gpt2": (12, 768, 12),
    "gpt2-medium": (24, 1024, 16),
    "gpt2-large": (36, 1280, 20),
    "gpt2-xl": (48, 1600, 25),
}
shape, out, tok = sys.argv[1], sys.argv[2], sys.argv[3]
if shape not in SHAPES:
    sys.exit(f"make_synth.py: unknown shape {shape} (one of {', '.join(SHAPES)})")
n_layer, n_embd, n_head = SHAPES[shape]
torch.manual_seed(1234)
model = GPT2LMHeadModel(GPT2Config(n_layer=n_layer, n_embd=n_embd, n_head=n_head, n_positions=1024, vocab_size=50257))
model.save_pretrained(out, safe_serialization=True)
for f in ("vocab.json", "merges.txt"):
    shutil.copy(os.path.join(tok, f), out)
print("wrote", out, flush=True)
