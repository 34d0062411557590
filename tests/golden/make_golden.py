#!/usr/bin/env python3
"""make_golden: reference outputs of Hugging Face transformers for the golden tests.

Needs torch + transformers (CPU is enough). They are NOT in tests/requirements.txt
(torch is large): install them into a separate virtual environment, e.g.

    python3 -m venv /tmp/oracle-venv
    /tmp/oracle-venv/bin/pip install torch transformers safetensors numpy
    /tmp/oracle-venv/bin/python tests/golden/make_golden.py --out tests/golden/fixtures

For each model (the committed tiny random GPT-2, and qb-gpt2-10m from the mirror
when present) it writes OUT/NAME.json with:
  prompt, ids              the prompt and its token ids
  argmax, lse, logits      last-position logits: argmax, logsumexp of the whole
                           row, and the first 64 values (float32 forward pass)
  greedy, greedy_text      40 tokens by argmax (KV cache, no EOS stop) and their text
  ppl                      the Hugging Face fixed-length protocol on the longest
                           prefix of wiki.test.raw of at most 16 KiB that is whole
                           UTF-8 (text_bytes): window ctx, stride, the targets of
                           each window its last (end - previous end) tokens, never
                           a window's first token; nll = sum of the targets'
                           negative log-likelihoods (float64 from float32 logits),
                           scored_tokens, ppl = exp(nll / scored_tokens)

--make-tiny DIR creates the tiny model (seeded random weights, saved in float16
to keep the committed files small, with the real GPT-2 vocab.json/merges.txt
copied from the mirror). The fixtures are computed in float32 from those float16
weights, which is what qbench computes too.

--full prints, for the closing note, the PPL of qb-gpt2-10m on the whole texts:
wiki.test.raw at ctx 512 stride 512 and 256, qb-corpus valid.txt at stride 512.
"""
import argparse
import json
import math
import os
import shutil
import sys

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import GPT2Config, GPT2LMHeadModel

PROMPT = "Once upon a time, there was a magical forest"
N_GREEDY = 40
N_LOGITS = 64


def mirror_dir():
    m = os.environ.get("QB_MIRROR")
    if m:
        return m
    root = os.environ.get("QB_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))
    return os.path.join(root, "..", "shared", "mirror")


def make_tiny(out, mirror):
    cfg = GPT2Config(
        vocab_size=50257,
        n_positions=64,
        n_embd=24,  # 4 heads of 6: odd head size on purpose (kernel tails)
        n_layer=2,
        n_head=4,
        n_inner=None,
        activation_function="gelu_new",
        layer_norm_epsilon=1e-5,
        initializer_range=0.2,  # wide enough that greedy argmax is not a near-tie
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        tie_word_embeddings=True,
    )
    torch.manual_seed(20240501)
    model = GPT2LMHeadModel(cfg).eval()
    with torch.no_grad():  # non-trivial norms and biases too
        for name, p in model.named_parameters():
            if "ln_" in name and name.endswith("weight"):
                p.copy_(1 + 0.3 * torch.randn_like(p))
            elif name.endswith("bias"):
                p.copy_(0.1 * torch.randn_like(p))
    model = model.half()
    os.makedirs(out, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    for junk in ("generation_config.json",):
        if os.path.exists(os.path.join(out, junk)):
            os.remove(os.path.join(out, junk))
    tok = os.path.join(mirror, "tokenizers", "gpt2")
    for f in ("vocab.json", "merges.txt"):
        shutil.copy(os.path.join(tok, f), os.path.join(out, f))


def load(model_dir):
    # GPT-2's tokenizer as Hugging Face defines it (the same construction as
    # tests/helpers/gpt2_oracle.py): byte-level BPE, no prefix space, and
    # <|endoftext|> matched as a special token.
    tok = Tokenizer(models.BPE.from_file(os.path.join(model_dir, "vocab.json"), os.path.join(model_dir, "merges.txt")))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(["<|endoftext|>"])
    model = GPT2LMHeadModel.from_pretrained(model_dir, dtype=torch.float32).eval()
    return tok, model


def whole_utf8_prefix(data, limit):
    n = min(limit, len(data))
    while n > 0:
        try:
            data[:n].decode("utf-8")
            return n
        except UnicodeDecodeError:
            n -= 1
    return 0


@torch.no_grad()
def perplexity(model, ids, ctx, stride):
    """The Hugging Face fixed-length protocol; returns (sum of NLL, scored tokens)."""
    ids = torch.tensor(ids, dtype=torch.long)
    n = len(ids)
    nll, count, prev_end = 0.0, 0, 0
    for begin in range(0, n, stride):
        end = min(begin + ctx, n)
        trg = end - prev_end  # tokens not scored by the previous window
        window = ids[begin:end].unsqueeze(0)
        logp = torch.log_softmax(model(window).logits[0].double(), dim=-1)
        lo = max(begin + 1, end - trg)  # token j is predicted by position j - 1
        rows = logp[lo - 1 - begin : end - 1 - begin]
        nll -= rows.gather(1, ids[lo:end].unsqueeze(1)).sum().item()
        count += end - lo
        prev_end = end
        if end == n:
            break
    return nll, count


@torch.no_grad()
def golden(model_dir, name, wiki, ctx, stride):
    tok, model = load(model_dir)
    ids = tok.encode(PROMPT).ids
    out = model(torch.tensor([ids]), use_cache=True)
    last = out.logits[0, -1].float()
    rec = {
        "model": name,
        "prompt": PROMPT,
        "ids": ids,
        "argmax": int(torch.argmax(last)),
        "lse": float(torch.logsumexp(last.double(), 0)),
        "logits": [float(v) for v in last[:N_LOGITS]],
    }
    greedy, past, nxt = [], out.past_key_values, int(torch.argmax(last))
    for _ in range(N_GREEDY):
        greedy.append(nxt)
        step = model(torch.tensor([[nxt]]), past_key_values=past, use_cache=True)
        past, nxt = step.past_key_values, int(torch.argmax(step.logits[0, -1]))
    rec["greedy"] = greedy
    rec["greedy_text"] = tok.decode(greedy)
    data = open(wiki, "rb").read()
    nbytes = whole_utf8_prefix(data, 16384)
    text_ids = tok.encode(data[:nbytes].decode("utf-8")).ids
    nll, count = perplexity(model, text_ids, ctx, stride)
    rec["ppl"] = {
        "text": "wiki.test.raw",
        "text_bytes": nbytes,
        "tokens": len(text_ids),
        "ctx": ctx,
        "stride": stride,
        "nll": nll,
        "scored_tokens": count,
        "ppl": math.exp(nll / count),
    }
    rec["versions"] = {"torch": torch.__version__, "transformers": __import__("transformers").__version__}
    return rec


def full(mirror, threads):
    torch.set_num_threads(threads)
    d = os.path.join(mirror, "models", "qb-gpt2-10m")
    tok, model = load(d)
    runs = [
        ("wikitext-2-raw-v1/wiki.test.raw", 512, 512),
        ("wikitext-2-raw-v1/wiki.test.raw", 512, 256),
        ("qb-corpus/valid.txt", 512, 512),
    ]
    print("text\tctx\tstride\ttokens\tscored_tokens\tnll\tppl")
    for text, ctx, stride in runs:
        data = open(os.path.join(mirror, "datasets", text), "rb").read().decode("utf-8")
        ids = tok.encode(data).ids
        nll, count = perplexity(model, ids, ctx, stride)
        print(f"{text}\t{ctx}\t{stride}\t{len(ids)}\t{count}\t{nll / count:.9f}\t{math.exp(nll / count):.6f}", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", help="directory for the NAME.json fixtures")
    ap.add_argument("--tiny", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "tiny-gpt2"))
    ap.add_argument("--make-tiny", metavar="DIR", help="create the tiny random model in DIR")
    ap.add_argument("--full", action="store_true", help="full-size PPL of qb-gpt2-10m (closing note)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    mirror = mirror_dir()
    torch.set_num_threads(args.threads)
    if args.make_tiny:
        make_tiny(args.make_tiny, mirror)
    if args.full:
        full(mirror, args.threads)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        wiki = os.path.join(mirror, "datasets", "wikitext-2-raw-v1", "wiki.test.raw")
        if not os.path.exists(wiki):
            sys.exit(f"make_golden: {wiki} not found (set QB_MIRROR)")
        todo = [(args.tiny, "tiny-gpt2", 64, 32)]
        ten = os.path.join(mirror, "models", "qb-gpt2-10m")
        if os.path.isdir(ten):
            todo.append((ten, "qb-gpt2-10m", 256, 128))
        else:
            print(f"make_golden: {ten} not found, qb-gpt2-10m skipped", file=sys.stderr)
        for model_dir, name, ctx, stride in todo:
            rec = golden(model_dir, name, wiki, ctx, stride)
            with open(os.path.join(args.out, name + ".json"), "w") as f:
                json.dump(rec, f, indent=1)
                f.write("\n")
            print(f"make_golden: {name}: ppl {rec['ppl']['ppl']:.6f} argmax {rec['argmax']}", file=sys.stderr)


if __name__ == "__main__":
    main()
