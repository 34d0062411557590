#!/usr/bin/env python3
"""golden_check: qbench's engine against Hugging Face transformers' outputs (TAP).

Compares, for each fixture NAME.json in the fixtures directory (written by
make_golden.py), what bin/generate, bin/ppl and build/tests/helpers/engine-probe
compute with what transformers computed:
  - the prompt's token ids: identical
  - the last position's logits: first 64 values to 1e-4 relative (norm of the
    difference over norm of the reference), logsumexp of the whole row to 1e-4
    relative, argmax identical
  - 40 greedy tokens: identical (1 and 2 threads, and with the prompt fed in
    chunks, which exercises the KV cache across prefill calls)
  - generate's text (-n 40 --ignore-eos): identical to transformers' decoded text
  - ppl on the fixture's text prefix, ctx/stride as recorded: scored tokens
    identical, PPL to 1e-5 relative
For the tiny model it also checks loader variants made by st_tool.py (F32 with
misaligned tensors, unprefixed names and mask buffers; 3 shards with an explicit
lm_head; BF16). qb-gpt2-10m is skipped, visibly, when the mirror lacks it.

usage: golden_check.py --fixtures DIR   (QB_ROOT, QB_MIRROR from the environment)
"""
import argparse
import json
import math
import os
import subprocess
import sys
import tempfile

ROOT = os.environ.get("QB_ROOT", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
MIRROR = os.environ.get("QB_MIRROR") or os.path.join(ROOT, "..", "shared", "mirror")
PROBE = os.path.join(ROOT, "build", "tests", "helpers", "engine-probe")
GENERATE = os.path.join(ROOT, "bin", "generate")
PPL = os.path.join(ROOT, "bin", "ppl")
ST_TOOL = os.path.join(ROOT, "tests", "golden", "st_tool.py")

n_test = 0
failed = 0


def ok(cond, name, diag=None):
    global n_test, failed
    n_test += 1
    print(f"{'ok' if cond else 'not ok'} {n_test} - {name}")
    if not cond:
        failed += 1
        if diag:
            for line in str(diag).splitlines():
                print(f"# {line}")
    sys.stdout.flush()
    return cond


def skip(name, why):
    global n_test
    n_test += 1
    print(f"ok {n_test} - {name} # SKIP {why}")


def run(cmd, stdin=None):
    p = subprocess.run(cmd, input=stdin, capture_output=True)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: exit {p.returncode}: {p.stderr.decode(errors='replace').strip()}")
    return p.stdout, p.stderr


def probe(model, prompt, *extra):
    out, _ = run([PROBE, "-m", model, "-p", prompt, *extra])
    res = {}
    for line in out.decode().splitlines():
        key, _, rest = line.partition(" ")
        res[key] = rest.split()
    return res


def rel_err(a, b):
    if any(math.isnan(x) for x in a):
        return math.inf
    num = math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b)))
    den = math.sqrt(sum(y * y for y in b))
    return num / den if den else num


def tsv_row(text):
    lines = [l for l in text.decode().splitlines() if l and not l.startswith("#")]
    return dict(zip(lines[0].split("\t"), lines[1].split("\t")))


def check_logits(tag, fx, got, tol):
    ids = [int(x) for x in got["ids"]]
    ok(ids == fx["ids"], f"{tag}: prompt token ids", f"got {ids}\nwant {fx['ids']}")
    logits = [float(x) for x in got["logits"]]
    e = rel_err(logits, fx["logits"])
    ok(len(logits) == len(fx["logits"]) and e <= tol, f"{tag}: first 64 logits within {tol:g} relative ({e:.2e})")
    lse = float(got["lse"][0])
    e = abs(lse - fx["lse"]) / abs(fx["lse"])
    ok(e <= tol, f"{tag}: logsumexp of the last row within {tol:g} relative ({e:.2e})")
    ok(int(got["argmax"][0]) == fx["argmax"], f"{tag}: argmax {fx['argmax']}", f"got {got['argmax']}")


def check_model(name, model, fx, tmp):
    prompt = fx["prompt"]
    n = len(fx["greedy"])
    got = probe(model, prompt, "-t", "1", "--greedy", str(n))
    check_logits(name, fx, got, 1e-4)
    greedy = [int(x) for x in got["greedy"]]
    ok(greedy == fx["greedy"], f"{name}: {n} greedy tokens identical (1 thread)", f"got {greedy}\nwant {fx['greedy']}")
    got2 = probe(model, prompt, "-t", "2", "--greedy", str(n), "--prefill-chunk", "3")
    greedy2 = [int(x) for x in got2["greedy"]]
    ok(greedy2 == fx["greedy"], f"{name}: greedy identical with 2 threads and the prompt fed 3 tokens at a time",
       f"got {greedy2}")

    metrics = os.path.join(tmp, name + ".metrics.tsv")
    out, _ = run([GENERATE, "-m", model, "-p", prompt, "-n", str(n), "--ignore-eos", "-t", "2", "--metrics", metrics])
    ok(out.decode("utf-8", "replace") == fx["greedy_text"], f"{name}: generate prints transformers' text",
       f"got  {out!r}\nwant {fx['greedy_text']!r}")
    row = tsv_row(open(metrics, "rb").read())
    ok(row.get("prompt_tokens") == str(len(fx["ids"])) and row.get("new_tokens") == str(n),
       f"{name}: generate's metrics count {len(fx['ids'])} prompt and {n} new tokens", row)

    p = fx["ppl"]
    text = os.path.join(tmp, name + ".text")
    wiki = os.path.join(MIRROR, "datasets", "wikitext-2-raw-v1", "wiki.test.raw")
    if not os.path.exists(wiki):
        skip(f"{name}: ppl", f"{wiki} absent")
        return
    with open(wiki, "rb") as f, open(text, "wb") as g:
        g.write(f.read(p["text_bytes"]))
    out, _ = run([PPL, "-m", model, "-f", text, "--ctx", str(p["ctx"]), "--stride", str(p["stride"]), "-t", "2", "-q"])
    row = tsv_row(out)
    ok(int(row["scored_tokens"]) == p["scored_tokens"], f"{name}: ppl scores {p['scored_tokens']} tokens", row)
    e = abs(float(row["ppl"]) - p["ppl"]) / p["ppl"]
    ok(e <= 1e-5, f"{name}: PPL {row['ppl']} vs transformers {p['ppl']:.6f} within 1e-5 relative ({e:.2e})")


def check_variants(fx, tiny, tmp):
    py = sys.executable
    variants = [
        ("f32 misaligned unprefixed + buffers", ["--dtype", "F32", "--misalign", "--strip-prefix", "--buffers"], 1e-4),
        ("3 shards + explicit lm_head", ["--shards", "3", "--lm-head"], 1e-4),
        ("bf16", ["--dtype", "BF16"], 2e-2),  # weights rounded to 8 bits of mantissa
    ]
    for i, (label, args, tol) in enumerate(variants):
        d = os.path.join(tmp, f"variant{i}")
        run([py, ST_TOOL, "convert", tiny, d, *args])
        got = probe(d, fx["prompt"], "-t", "2")
        check_logits(f"tiny-gpt2 {label}", fx, got, tol)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fixtures", default=os.path.join(ROOT, "tests", "golden", "fixtures"))
    args = ap.parse_args()
    tiny = os.path.join(ROOT, "tests", "golden", "tiny-gpt2")
    ten = os.path.join(MIRROR, "models", "qb-gpt2-10m")
    with tempfile.TemporaryDirectory() as tmp:
        fx = json.load(open(os.path.join(args.fixtures, "tiny-gpt2.json")))
        check_model("tiny-gpt2", tiny, fx, tmp)
        check_variants(fx, tiny, tmp)
        fx_path = os.path.join(args.fixtures, "qb-gpt2-10m.json")
        if os.path.isdir(ten) and os.path.exists(fx_path):
            check_model("qb-gpt2-10m", ten, json.load(open(fx_path)), tmp)
        else:
            skip("qb-gpt2-10m golden tests", f"{ten} or {fx_path} absent (set QB_MIRROR)")
    print(f"1..{n_test}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
