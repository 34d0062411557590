#!/usr/bin/env python3
"""gpu_bench.py: Hugging Face transformers on the GPU, the seed studies' GPU peers, timed by
qbench's protocol (protocol.py) and written as our TSV rows (data/results/h100/).

Models are GPT2LMHeadModels of the gpt2 ... gpt2-xl shapes with seeded random weights (speed
does not depend on the values; no network on the GPU machine). Variants:
  f32, f16, bf16   eager PyTorch, weights and activations in that type (SDPA attention)
  f16-compile      f16 with a static KV cache and torch.compile(mode="reduce-overhead") of the
                   forward (CUDA graphs); skipped, with the reason on stderr, where it fails
  int8-bnb, nf4-bnb  bitsandbytes LLM.int8() and 4-bit NF4 (f16 compute) through transformers'
                   BitsAndBytesConfig; only where bitsandbytes imports
Greedy, EOS ignored, a fixed number of new tokens, the same token counts and prompt as our CUDA
runs. Per model x variant: one process builds the model, runs one discarded warm-up generation,
then REPEATS timed generations for every token count (rows with warmup=1 are the warm-ups).
gpu_peak_mb is torch.cuda.max_memory_allocated over that model x variant (the driver's figure is
higher by the CUDA context and the allocator's cache).

  python3 pipeline/peers/gpu_bench.py -o data/results/h100/peers-transformers.tsv
  python3 pipeline/peers/gpu_bench.py --device cpu --tiny          # a quick check anywhere
"""
import argparse
import os
import platform
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import protocol  # noqa: E402

# (n_embd, n_layer, n_head) of the GPT-2 family; vocabulary 50257, context 1024.
SHAPES = {"gpt2": (768, 12, 12), "gpt2-medium": (1024, 24, 16), "gpt2-large": (1280, 36, 20),
          "gpt2-xl": (1600, 48, 25), "tiny": (64, 2, 2)}
VARIANTS = ("f32", "f16", "bf16", "f16-compile", "int8-bnb", "nf4-bnb")
PROMPT = "Once upon a time, there was a magical forest"
# GPT-2 BPE of PROMPT (no BOS), as the GPT-2 tokenizer (vocab.json + merges.txt) gives it; used
# where no tokenizer files are at hand (checked against them when --tokenizer is given).
PROMPT_IDS = [7454, 2402, 257, 640, 11, 612, 373, 257, 10883, 8222]
COLUMNS = protocol.GEN_COLUMNS + ["repeat", "warmup", "gpu_peak_mb", "gpu", "torch", "transformers"]


class Skip(Exception):
    """This variant cannot run here (the reason goes to stderr, no rows)."""


def build(name, variant, device, seed=1234):
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel
    E, L, H = SHAPES[name]
    cfg = GPT2Config(n_embd=E, n_layer=L, n_head=H, vocab_size=50257, n_positions=1024,
                     attn_pdrop=0.0, embd_pdrop=0.0, resid_pdrop=0.0)
    torch.manual_seed(seed)
    dtype = {"f32": torch.float32, "bf16": torch.bfloat16}.get(variant, torch.float16)
    if variant in ("int8-bnb", "nf4-bnb"):
        if device != "cuda":
            raise Skip("bitsandbytes needs CUDA")
        try:
            import bitsandbytes  # noqa: F401
        except ImportError as e:
            raise Skip(f"bitsandbytes not importable: {e}")
        import tempfile
        from transformers import BitsAndBytesConfig
        q = (BitsAndBytesConfig(load_in_8bit=True) if variant == "int8-bnb" else
             BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                bnb_4bit_compute_dtype=torch.float16))
        # Quantization happens at load: save the random model once, load it quantized.
        with tempfile.TemporaryDirectory() as d:
            with torch.device("cuda"):
                GPT2LMHeadModel(cfg).to(torch.float16).save_pretrained(d)
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
            m = GPT2LMHeadModel.from_pretrained(d, quantization_config=q, device_map="cuda")
        return m.eval(), cfg
    with torch.device(device):
        m = GPT2LMHeadModel(cfg)
    return m.to(dtype).eval(), cfg


class EagerPeer:
    system = "transformers"

    def __init__(self, model, variant, dtype, device):
        import torch
        from transformers import DynamicCache
        self.torch, self.DynamicCache = torch, DynamicCache
        self.model, self.variant, self.dtype, self.device = model, variant, dtype, device

    def prefill(self, ids):
        t = self.torch
        with t.inference_mode():
            self.cache = self.DynamicCache(config=self.model.config)
            out = self.model(t.tensor([ids], device=self.device), past_key_values=self.cache,
                             use_cache=True, logits_to_keep=1)
            self.cache = out.past_key_values
            return out.logits[0, -1]

    def step(self, tok):
        t = self.torch
        with t.inference_mode():
            out = self.model(t.tensor([[tok]], device=self.device), past_key_values=self.cache,
                             use_cache=True)
            self.cache = out.past_key_values
            return out.logits[0, -1]


class CompiledPeer:
    """Static KV cache of the full context and a compiled forward, as transformers documents for
    torch.compile; the first calls of every new shape compile (that is what the warm-up is for)."""
    system = "transformers"

    def __init__(self, model, variant, dtype, device, max_len):
        import torch
        from transformers import StaticCache
        self.torch, self.model, self.device = torch, model, device
        self.variant, self.dtype = variant, dtype
        self.cache = StaticCache(config=model.config, max_cache_len=max_len)
        self.fwd = torch.compile(model.forward, mode="reduce-overhead", fullgraph=True)
        self.pos = 0

    def _run(self, ids, fwd):
        t = self.torch
        with t.no_grad():  # not inference_mode: the cache is updated in place by the graphs
            n = len(ids)
            cp = t.arange(self.pos, self.pos + n, device=self.device)
            out = fwd(input_ids=t.tensor([ids], device=self.device), past_key_values=self.cache,
                      cache_position=cp, position_ids=cp[None], use_cache=True)
            self.pos += n
            return out.logits[0, -1].clone()

    def prefill(self, ids):
        self.cache.reset()
        self.pos = 0
        return self._run(ids, self.model.forward)  # the prompt pass is not compiled (one shape)

    def step(self, tok):
        return self._run([tok], self.fwd)


def gpu_name(device):
    if device != "cuda":
        return platform.processor() or "cpu"
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20).stdout.strip()
        return out.splitlines()[0].replace("\t", " ") if out else "cuda"
    except (OSError, subprocess.SubprocessError):
        return "cuda"


def provenance(cmd):
    """The project's provenance lines (pipeline/provenance.sh: machine, commit, command)."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    try:
        commit = subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, timeout=20).stdout.strip() or "unknown"
        out = subprocess.run(["bash", os.path.join(root, "pipeline", "provenance.sh"), commit, cmd],
                             capture_output=True, text=True, timeout=60)
        if out.returncode == 0 and out.stdout.startswith("#"):
            return out.stdout
    except (OSError, subprocess.SubprocessError):
        pass
    return f"# machine: {platform.node()}\n# commit: unknown\n# command: {cmd}\n"


def run(args):
    import torch
    import transformers
    if args.device == "cuda" and not torch.cuda.is_available():
        raise protocol.UsageError("--device cuda: no CUDA device answers")
    ids = PROMPT_IDS
    if args.tokenizer:
        ids = protocol.load_tokenizer(args.tokenizer).encode(PROMPT)
        if ids != PROMPT_IDS:
            raise protocol.DataError(f"{args.tokenizer}: the prompt tokenizes to {ids}, not {PROMPT_IDS}")
    if args.prompt_len:  # a prompt of exactly N tokens (the prompt's tokens, repeated), e.g. the
        ids = (ids * (args.prompt_len // len(ids) + 1))[:args.prompt_len]  # 16 of cuda_decode
    if args.device == "cpu":
        torch.set_num_threads(args.threads)
    rows = []
    gpu = gpu_name(args.device)
    for name in args.models:
        for variant in args.variants:
            try:
                if args.device == "cuda":
                    torch.cuda.empty_cache()
                    torch.cuda.reset_peak_memory_stats()
                t = time.perf_counter()
                model, cfg = build(name, variant, args.device)
                dtype = {"int8-bnb": "int8", "nf4-bnb": "nf4", "f16-compile": "f16"}.get(variant, variant)
                if variant == "f16-compile":
                    peer = CompiledPeer(model, variant, dtype, args.device,
                                        len(ids) + max(args.new_tokens))
                else:
                    peer = EagerPeer(model, variant, dtype, args.device)
                if args.device == "cuda":
                    torch.cuda.synchronize()
                load_s = time.perf_counter() - t
                plan = [(args.new_tokens[0], 0)] + [(n, r) for n in args.new_tokens
                                                    for r in range(1, args.repeats + 1)]
                done = []
                for n, r in plan:
                    out, t0, t1, tn = protocol.generate(peer, ids, n)
                    row = protocol.gen_row(peer, name, 1, len(ids), n, load_s, t0, t1, tn)
                    peak = (torch.cuda.max_memory_allocated() / 2**20 if args.device == "cuda"
                            else float("nan"))
                    row.update(device=args.device, isa="", repeat=r, warmup=int(r == 0), gpu_peak_mb=peak,
                               gpu=gpu, torch=torch.__version__, transformers=transformers.__version__)
                    if args.device == "cpu":
                        row["threads"] = args.threads
                    done.append(row)
                    sys.stderr.write(f"{name} {variant} n={n} r={r}: {row['decode_tok_s']:.1f} tok/s, "
                                     f"ttft {row['ttft_s'] * 1e3:.2f} ms\n")
                rows += done  # a variant that fails half-way leaves no rows
                del peer, model
            except Skip as e:
                sys.stderr.write(f"gpu_bench: {name} {variant}: skipped: {e}\n")
            except Exception as e:  # a peer that fails is reported, the others still run
                if variant in ("f32", "f16", "bf16") or not args.keep_going:
                    raise
                sys.stderr.write(f"gpu_bench: {name} {variant}: failed, skipped: {type(e).__name__}: {e}\n")
    return rows


def main(argv):
    p = protocol.Parser(prog="gpu_bench.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    p.add_argument("--models", default="gpt2,gpt2-medium,gpt2-large,gpt2-xl")
    p.add_argument("--variants", default="f32,f16,bf16,f16-compile,int8-bnb,nf4-bnb")
    p.add_argument("--new-tokens", default="100,128,200,256")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--prompt-len", type=int, default=0,
                   help="use N prompt tokens (the prompt's ids repeated) instead of the prompt's 10")
    p.add_argument("--threads", type=int, default=1, help="CPU threads (--device cpu)")
    p.add_argument("--tokenizer", metavar="DIR", help="check PROMPT_IDS against vocab.json + merges.txt")
    p.add_argument("--tiny", action="store_true", help="a 2-layer model, 8 and 16 tokens, 1 repeat")
    p.add_argument("--strict", dest="keep_going", action="store_false",
                   help="fail when torch.compile or bitsandbytes fails instead of skipping that variant")
    p.add_argument("-o", "--output", metavar="FILE")
    a = p.parse_args(argv)
    if a.tiny:
        a.models, a.new_tokens, a.repeats = "tiny", "8,16", 1
    a.models = a.models.split(",")
    a.variants = a.variants.split(",")
    for m in a.models:
        if m not in SHAPES:
            p.error(f"unknown model {m} (one of {', '.join(SHAPES)})")
    for v in a.variants:
        if v not in VARIANTS:
            p.error(f"unknown variant {v} (one of {', '.join(VARIANTS)})")
    try:
        a.new_tokens = [int(x) for x in a.new_tokens.split(",")]
    except ValueError:
        p.error(f"--new-tokens: not a list of integers: {a.new_tokens}")
    if a.repeats < 1 or min(a.new_tokens) < 1 or a.prompt_len < 0:
        p.error("--repeats and --new-tokens must be at least 1")
    rows = run(a)
    text = provenance("python3 pipeline/peers/gpu_bench.py " + " ".join(argv)) + (
            "\t".join(COLUMNS) + "\n" +
            "".join("\t".join(protocol.fmt(r[c]) for c in COLUMNS) + "\n" for r in rows))
    if a.output:
        with open(a.output + ".tmp", "w") as f:
            f.write(text)
        os.replace(a.output + ".tmp", a.output)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except protocol.UsageError as e:
        sys.stderr.write(f"gpu_bench.py: {e}\n")
        sys.exit(1)
    except protocol.DataError as e:
        sys.stderr.write(f"gpu_bench.py: {e}\n")
        sys.exit(2)
