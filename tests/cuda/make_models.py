"""Writes the checkpoints the GPU-vs-CPU correctness run needs (run on the GPU
machine, where transformers is installed): qb-gpt2-10m converted to F16 and
BF16, and a synthetic GPT-2 124M (the gpt2 shapes, seeded random weights) in
F32, F16 and BF16, each a Hugging Face directory with the GPT-2 tokenizer files.

  python3 make_models.py QB_GPT2_10M_DIR OUT_DIR [NAME...]

With NAMEs (qb-gpt2-10m-f16, qb-gpt2-10m-bf16, gpt2-f32, gpt2-f16, gpt2-bf16)
only those are written; the synthetic ones then need only the tokenizer files
of QB_GPT2_10M_DIR, not its weights (tests/cuda/chunk-run.sh).
"""
import os
import shutil
import sys

import torch
from transformers import GPT2Config, GPT2LMHeadModel

src, out, names = sys.argv[1], sys.argv[2], sys.argv[3:]
tok_files = ["vocab.json", "merges.txt"]


def save(model, name):
    if names and name not in names:
        return
    d = os.path.join(out, name)
    model.save_pretrained(d, safe_serialization=True)
    for f in tok_files:
        shutil.copy(os.path.join(src, f), d)
    print("wrote", d, flush=True)


for name, dtype in [("qb-gpt2-10m-f16", torch.float16), ("qb-gpt2-10m-bf16", torch.bfloat16)]:
    if not names or name in names:
        save(GPT2LMHeadModel.from_pretrained(src, dtype=torch.float32).to(dtype), name)
# (Module.to converts in place: the same conversions whatever is written, so
# that each file's weights are the same as when all are.)
torch.manual_seed(1234)
syn = GPT2LMHeadModel(GPT2Config(n_layer=12, n_embd=768, n_head=12, n_positions=1024, vocab_size=50257))
save(syn, "gpt2-f32")
save(syn.to(torch.float16), "gpt2-f16")
syn = syn.float()
save(syn.to(torch.bfloat16), "gpt2-bf16")
