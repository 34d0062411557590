#!/usr/bin/env python3
"""peer.py: run a peer system (PyTorch, ONNX Runtime, llama.cpp) under qbench's protocol.

  peer.py prepare  --system S --variant V -m MODEL_DIR -o ARTIFACT [--calib TEXT]
  peer.py generate --system S --variant V -m MODEL_DIR [--artifact FILE] -n N [-t T] [--metrics FILE]
  peer.py ppl      --system S --variant V -m MODEL_DIR [--artifact FILE] -f TEXT [--ctx C] [--stride S]

As generate(1): the prompt comes from --prompt or standard input, the continuation goes to
standard output, one TSV row (protocol.GEN_COLUMNS: generate's columns after system and variant)
to --metrics FILE or standard error. As ppl(1): one TSV row (protocol.PPL_COLUMNS) to -o FILE or
standard output; the stride is ctx unless --stride or --stride-half. The protocol (timings,
perplexity windows) is in protocol.py.
Exit status: 0 ok, 1 bad usage, 2 a file that cannot be read or used.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# No network, no progress bars, no deprecation chatter (torch.ao.quantization warns on every use).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
import warnings  # noqa: E402
warnings.filterwarnings("ignore")

import protocol  # noqa: E402
from protocol import DataError, UsageError  # noqa: E402

SYSTEMS = ("pytorch", "onnxruntime", "llama.cpp")


def system_module(name):
    if name == "pytorch":
        import sys_pytorch as m
    elif name == "onnxruntime":
        import sys_onnxruntime as m
    elif name == "llama.cpp":
        import sys_llamacpp as m
    else:
        raise UsageError(f"unknown system {name} (one of {', '.join(SYSTEMS)})")
    return m


def positive(s):
    try:
        v = int(s)
    except ValueError:
        raise protocol.argparse.ArgumentTypeError(f"not an integer: {s}") from None
    if v < 1:
        raise protocol.argparse.ArgumentTypeError(f"must be at least 1: {s}")
    return v


def parser():
    p = protocol.Parser(prog="peer.py", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True, parser_class=protocol.Parser)

    def common(sp):
        sp.add_argument("--system", required=True, choices=SYSTEMS)
        sp.add_argument("--variant", required=True)
        sp.add_argument("-m", "--model", required=True, metavar="DIR",
                        help="Hugging Face checkpoint folder (config, tokenizer, weights)")
        sp.add_argument("--tokenizer", metavar="DIR", help="vocab.json + merges.txt if not in -m")
        sp.add_argument("--model-name", help="the model column (default: the folder's name)")
        sp.add_argument("-t", "--threads", type=positive, default=1)

    sp = sub.add_parser("prepare", help="make the artifact a variant runs from")
    common(sp)
    sp.add_argument("-o", "--output", required=True, metavar="FILE")
    sp.add_argument("--calib", metavar="TEXT", help="calibration text (static INT8)")
    sp.add_argument("--from", dest="source", metavar="FILE",
                    help="an earlier artifact to start from (onnxruntime int8-all: the f32 ONNX)")

    sg = sub.add_parser("generate", help="greedy generation, timed")
    common(sg)
    sg.add_argument("--artifact", metavar="FILE")
    sg.add_argument("-n", "--new-tokens", type=positive, default=100)
    sg.add_argument("--prompt", help="the prompt (default: standard input)")
    sg.add_argument("--metrics", metavar="FILE")

    sq = sub.add_parser("ppl", help="perplexity, Hugging Face fixed-length protocol")
    common(sq)
    sq.add_argument("--artifact", metavar="FILE")
    sq.add_argument("-f", "--file", required=True, metavar="TEXT")
    sq.add_argument("--ctx", type=positive, help="window length (default: the model's context)")
    sq.add_argument("--stride", type=positive, help="window step (default: the window, as ppl(1))")
    sq.add_argument("--stride-half", action="store_true", help="stride = ctx / 2")
    sq.add_argument("-o", "--output", metavar="FILE")
    return p


def model_ctx(model_dir):
    import json
    path = os.path.join(model_dir, "config.json")
    try:
        with open(path) as f:
            cfg = json.load(f)
        return int(cfg.get("n_positions") or cfg["n_ctx"])
    except (OSError, ValueError, KeyError) as e:
        raise DataError(f"{path}: cannot read the context length: {e}") from None


def main(argv):
    a = parser().parse_args(argv)
    mod = system_module(a.system)
    mod.set_threads(a.threads)
    name = a.model_name or os.path.basename(os.path.normpath(a.model))

    if a.cmd == "prepare":
        calib = None
        if a.calib:
            tok = protocol.load_tokenizer(a.model, a.tokenizer)
            calib = tok.encode(protocol.read_text(a.calib))
        mod.prepare(a.variant, a.model, a.output, calib_ids=calib, source=a.source)
        return 0

    tok = protocol.load_tokenizer(a.model, a.tokenizer)
    if a.cmd == "generate":
        text = a.prompt if a.prompt is not None else sys.stdin.read()
        ids = tok.encode(text)
        if not ids:
            raise UsageError("empty prompt")
        t = time.perf_counter()
        peer = mod.Peer(a.variant, a.model, a.artifact, threads=a.threads)
        load_s = time.perf_counter() - t
        if len(ids) + a.new_tokens - 1 > peer.n_ctx:  # the last token is never fed back
            raise UsageError(f"prompt ({len(ids)}) + new tokens ({a.new_tokens}) - 1 exceed the context ({peer.n_ctx})")
        out, t0, t1, tn = protocol.generate(peer, ids, a.new_tokens)
        row = protocol.gen_row(peer, name, a.threads, len(ids), a.new_tokens, load_s, t0, t1, tn)
        gen = tok.decode(out)
        sys.stdout.write(gen + ("\n" if sys.stdout.isatty() else ""))
        sys.stdout.flush()
        protocol.write_row(protocol.GEN_COLUMNS, row, a.metrics or sys.stderr)
        return 0

    # ppl
    ids = tok.encode(protocol.read_text(a.file))
    ctx = a.ctx or model_ctx(a.model)
    if a.stride and a.stride_half:
        raise UsageError("--stride and --stride-half exclude each other")
    stride = a.stride or (max(1, ctx // 2) if a.stride_half else ctx)
    if stride > ctx:
        raise UsageError(f"--stride {stride} exceeds --ctx {ctx}")
    if len(ids) < 2:
        raise DataError(f"{a.file}: fewer than two tokens")
    if ctx > model_ctx(a.model):
        raise UsageError(f"--ctx {ctx} exceeds the model's context ({model_ctx(a.model)})")
    t = time.perf_counter()
    peer = mod.Peer(a.variant, a.model, a.artifact, threads=a.threads, ppl_ctx=ctx)
    load_s = time.perf_counter() - t
    scored, nll, secs, run = protocol.perplexity(peer, ids, ctx, stride)
    import math
    row = {"system": peer.system, "variant": peer.variant, "model": name, "dtype": peer.dtype,
           "device": "cpu", "isa": getattr(peer, "isa", ""), "threads": a.threads, "ctx": ctx,
           "stride": stride, "tokens": len(ids), "scored_tokens": scored, "nll": nll,
           "ppl": math.exp(nll), "load_s": load_s, "seconds": secs, "tok_s": run / secs}
    protocol.write_row(protocol.PPL_COLUMNS, row, a.output)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except UsageError as e:
        sys.stderr.write(f"peer.py: {e}\n")
        sys.exit(1)
    except DataError as e:
        sys.stderr.write(f"peer.py: {e}\n")
        sys.exit(2)
