#!/usr/bin/env python3
"""gpt2_oracle: an independent GPT-2 BPE for tests/tools/tokenizer.t.

Hugging Face `tokenizers` (Rust) built from the same vocab.json/merges.txt the
way GPT-2 is defined: BPE model, ByteLevel pre-tokenizer (GPT-2 regex, no
prefix space), ByteLevel decoder, "<|endoftext|>" a special token matched in
the text.

  gpt2_oracle.py VOCAB MERGES FILE          ids of FILE, one per line
  gpt2_oracle.py --bench [-r N] VOCAB MERGES FILE   one TSV row, as `tokenize --bench`

Invalid UTF-8 (which `tokenizers` cannot take: it encodes str) follows the rule
of tools/lib/tokenizer.h: the file is split into runs of valid UTF-8 and runs
of bytes that are not part of any valid sequence (Python's strict decoder
decides, via surrogateescape); each valid run is encoded as a text of its own,
each invalid run is one pre-token given straight to the BPE model.
"""
import os
import re
import sys
import time

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("RAYON_NUM_THREADS", "1")
from tokenizers import Tokenizer, decoders, models, pre_tokenizers  # noqa: E402


def bytes_to_unicode():
    """GPT-2's byte -> character table (openai/gpt-2 src/encoder.py)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def build(vocab, merges):
    tok = Tokenizer(models.BPE.from_file(vocab, merges))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(["<|endoftext|>"])
    return tok


def encode(tok, data):
    """ids of raw bytes, invalid UTF-8 runs handled as tokenizer.h says."""
    if not data:
        return []
    try:
        return tok.encode(data.decode("utf-8")).ids
    except UnicodeDecodeError:
        pass
    b2u = bytes_to_unicode()
    ids = []
    text = data.decode("utf-8", "surrogateescape")
    for i, piece in enumerate(re.split("([\udc80-\udcff]+)", text)):
        if not piece:
            continue
        if i % 2 == 0:
            ids += tok.encode(piece).ids
        else:
            raw = piece.encode("utf-8", "surrogateescape")
            ids += [t.id for t in tok.model.tokenize("".join(b2u[b] for b in raw))]
    return ids


def main(argv):
    bench, repeat = False, 5
    while argv and argv[0].startswith("-"):
        opt = argv.pop(0)
        if opt == "--bench":
            bench = True
        elif opt == "-r":
            repeat = int(argv.pop(0))
        else:
            sys.exit(f"gpt2_oracle: unknown option {opt}")
    if len(argv) != 3:
        sys.exit("usage: gpt2_oracle.py [--bench [-r N]] VOCAB MERGES FILE")
    t0 = time.perf_counter()
    tok = build(argv[0], argv[1])
    load = time.perf_counter() - t0
    with open(argv[2], "rb") as f:
        data = f.read()
    if bench:
        text = data.decode("utf-8")
        best, n, times = float("inf"), 0, []
        for _ in range(repeat):
            t0 = time.perf_counter()
            n = len(tok.encode(text).ids)
            times.append(time.perf_counter() - t0)
        best = min(times)
        print("bytes\ttokens\tbest_s\ttokens_per_s\tmb_per_s\tfirst_s\tload_s")
        print(f"{len(data)}\t{n}\t{best:.6f}\t{n / best:.0f}\t{len(data) / best / 1e6:.2f}\t{times[0]:.6f}\t{load:.6f}")
        return
    sys.stdout.write("".join(f"{i}\n" for i in encode(tok, data)))


if __name__ == "__main__":
    main(sys.argv[1:])
