"""The measurement protocol shared by every peer system (DESIGN.md, "Measurement protocol").

A peer system is a class with:
  system, variant, dtype       names written into the row
  prefill(ids) -> logits       the prompt pass from an empty cache; logits of the last position
  step(token) -> logits        one decode step on the cache; logits of that position
  window_logits(ids) -> T x V  logits of every position of one window, no cache (perplexity)
Logits may be numpy arrays or torch tensors; argmax and log-softmax are done here, the same way
for every system.

Generation (greedy, EOS ignored, a fixed number of new tokens):
  t0      just before the prompt pass
  t_1     when the first new token has been chosen (argmax of the prompt pass)
  t_n     when the n-th new token has been chosen
  ttft_s = t_1 - t0, decode_tok_s = (n - 1) / (t_n - t_1), total_s = t_n - t0.
Loading (weights, session, graph) is timed apart, before t0, as load_s.

Perplexity: the Hugging Face fixed-length protocol. Windows of ctx tokens start every stride
tokens (begin = 0, stride, 2 stride, ...; end = min(begin + ctx, N)); a window scores its last
end - prev_end positions, except that the first position of a window has no prediction and is
never scored; the loop stops at the window that reaches the end of the text. Every token but the
first is scored exactly once: scored_tokens = N - 1. nll is the mean negative log-likelihood in
nats per scored token, ppl = exp(nll). Log-softmax is taken in float64 on the scored rows.
"""
import argparse
import math
import os
import sys
import time

# The columns of generate(1) and ppl(1) that a peer can fill (isa: the CPU kernels the peer
# chose, where it says; empty where it does not), after system and variant.
GEN_COLUMNS = ["system", "variant", "model", "dtype", "device", "isa", "threads", "prompt_tokens",
               "new_tokens", "stop", "load_s", "ttft_s", "prefill_tok_s", "decode_tok_s", "total_s"]
PPL_COLUMNS = ["system", "variant", "model", "dtype", "device", "isa", "threads", "ctx", "stride",
               "tokens", "scored_tokens", "nll", "ppl", "load_s", "seconds", "tok_s"]


class UsageError(Exception):
    """Bad usage: exit 1."""


class DataError(Exception):
    """A file that cannot be read or understood: exit 2 (the message names the file)."""


class Parser(argparse.ArgumentParser):
    """argparse with the project's exit codes: bad usage is one line on stderr and exit 1."""

    def error(self, message):
        sys.stderr.write(f"{self.prog}: {message}\n")
        sys.exit(1)


def fmt(x):
    """A number as the rows print it: integers as they are, floats with 9 significant digits
    (perplexities are compared to 1e-4 relative and more)."""
    if x is None:
        return ""
    if isinstance(x, int):
        return str(x)
    if isinstance(x, float):
        if math.isnan(x) or math.isinf(x):
            return ""
        return f"{x:.9g}"
    return str(x)


def write_row(columns, values, path=None):
    """Header and one row, tab-separated: to PATH through PATH.tmp and a rename, to standard output
    (None or "-"), or to an open stream."""
    text = "\t".join(columns) + "\n" + "\t".join(fmt(values[c]) for c in columns) + "\n"
    if path is None or path == "-" or hasattr(path, "write"):
        out = sys.stdout if path is None or path == "-" else path
        out.write(text)
        out.flush()
        return
    tmp = path + ".tmp"
    try:
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except OSError as e:
        raise DataError(f"{path}: cannot write: {e.strerror}") from None


def read_text(path):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise DataError(f"{path}: cannot read: {e.strerror}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: invalid UTF-8 at byte offset {e.start}") from None


def load_tokenizer(model_dir, tokenizer_dir=None):
    """GPT-2 BPE from vocab.json + merges.txt (the model's own folder, or --tokenizer DIR)."""
    from transformers import GPT2TokenizerFast
    d = tokenizer_dir or model_dir
    for f in ("vocab.json", "merges.txt"):
        if not os.path.isfile(os.path.join(d, f)):
            raise DataError(f"{os.path.join(d, f)}: missing (GPT-2 tokenizer files; see --tokenizer)")
    return GPT2TokenizerFast(vocab=os.path.join(d, "vocab.json"),
                             merges=os.path.join(d, "merges.txt"))


def argmax(logits):
    return int(logits.argmax())


def generate(peer, prompt_ids, new_tokens):
    """Greedy generation with EOS ignored; returns (tokens, t0, t_1, t_n)."""
    out = []
    t0 = time.perf_counter()
    tok = argmax(peer.prefill(prompt_ids))
    t1 = time.perf_counter()
    out.append(tok)
    tn = t1
    for _ in range(new_tokens - 1):
        tok = argmax(peer.step(tok))
        out.append(tok)
        tn = time.perf_counter()
    return out, t0, t1, tn


def gen_row(peer, model_name, threads, prompt_tokens, new_tokens, load_s, t0, t1, tn):
    decode = (new_tokens - 1) / (tn - t1) if new_tokens > 1 and tn > t1 else float("nan")
    return {"system": peer.system, "variant": peer.variant, "model": model_name,
            "dtype": peer.dtype, "device": "cpu", "isa": getattr(peer, "isa", ""),
            "threads": threads, "prompt_tokens": prompt_tokens, "new_tokens": new_tokens,
            "stop": "n", "load_s": load_s, "ttft_s": t1 - t0,
            "prefill_tok_s": prompt_tokens / (t1 - t0), "decode_tok_s": decode,
            "total_s": tn - t0}


def windows(n_tokens, ctx, stride):
    """(begin, end, n_scored) of each window of the fixed-length protocol."""
    out = []
    prev_end = 0
    for begin in range(0, n_tokens, stride):
        end = min(begin + ctx, n_tokens)
        trg = end - prev_end
        out.append((begin, end, min(trg, end - begin - 1)))
        prev_end = end
        if end == n_tokens:
            break
    return out


def window_nll(logits, ids, n_scored):
    """Sum of -log p(ids[j+1] | ids[..j]) over the last n_scored predictions of one window."""
    import torch
    x = torch.as_tensor(logits)
    T = x.shape[0]
    rows = x[T - 1 - n_scored:T - 1].to(torch.float64)
    targets = torch.as_tensor(ids[T - n_scored:T], dtype=torch.long)
    lse = torch.logsumexp(rows, dim=1)
    picked = rows.gather(1, targets[:, None])[:, 0]
    return float((lse - picked).sum())


def perplexity(peer, ids, ctx, stride, progress=True):
    """Returns (scored_tokens, mean nll, seconds, tokens run through the model) over ids with the
    fixed-length protocol."""
    total = 0.0
    scored = 0
    run = 0
    wins = windows(len(ids), ctx, stride)
    tty = progress and sys.stderr.isatty()
    t0 = time.perf_counter()
    for k, (b, e, n) in enumerate(wins):
        if n <= 0:
            continue
        w = ids[b:e]
        total += window_nll(peer.window_logits(w), w, n)
        scored += n
        run += len(w)
        if tty:
            sys.stderr.write(f"\rppl: window {k + 1}/{len(wins)}")
    if tty:
        sys.stderr.write("\n")
    return scored, total / scored, time.perf_counter() - t0, run
