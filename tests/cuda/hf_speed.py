"""Hugging Face transformers eager decode speed on the GPU, the baseline our
CUDA backend's ratio is taken against: random-weight GPT-2 models of the
synthetic shapes (gpt2 .. gpt2-xl), FP32 and FP16, the same prompt length and
token count as tests/bench/cuda_decode (16 prompt tokens, 256 new, greedy).

  python3 hf_speed.py [--models gpt2,...] [--dtypes fp32,fp16] [-p 16] [-n 256] [-r 3]

Per (model, dtype): ttft_s (prompt pass to the first token), decode_tok_s
((n-1) / (time of last token - time of first token)), peak VRAM; medians of
the repeats after one warm-up. Greedy steps are driven by hand with the KV
cache (use_cache=True, attn_implementation="eager"), synchronising after each
token like a streaming generator: what a user of model(...) gets.
"""
import argparse
import statistics
import sys
import time

import torch
import transformers
from transformers import GPT2Config, GPT2LMHeadModel

SHAPES = {
    "gpt2": (12, 768, 12),
    "gpt2-medium": (24, 1024, 16),
    "gpt2-large": (36, 1280, 20),
    "gpt2-xl": (48, 1600, 25),
}


def run(model, prompt, n):
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    with torch.inference_mode():
        out = model(input_ids=prompt, use_cache=True)
        past = out.past_key_values
        tok = out.logits[:, -1, :].argmax(-1, keepdim=True)
        torch.cuda.synchronize()
        t1 = time.perf_counter()
        for _ in range(n - 1):
            out = model(input_ids=tok, past_key_values=past, use_cache=True)
            past = out.past_key_values
            tok = out.logits[:, -1, :].argmax(-1, keepdim=True)
            tok.item()  # the token reaches the host, as a streaming generator needs
        t2 = time.perf_counter()
    return t1 - t0, (n - 1) / (t2 - t1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="gpt2,gpt2-medium,gpt2-large,gpt2-xl")
    ap.add_argument("--dtypes", default="fp32,fp16")
    ap.add_argument("-p", type=int, default=16)
    ap.add_argument("-n", type=int, default=256)
    ap.add_argument("-r", type=int, default=3)
    a = ap.parse_args()
    dev = torch.device("cuda")
    print(f"# torch {torch.__version__}, transformers {transformers.__version__}, {torch.cuda.get_device_name(0)}")
    print("model\tdtype\tttft_s\tdecode_tok_s\tpeak_vram_mb")
    for name in a.models.split(","):
        L, E, H = SHAPES[name]
        for dt in a.dtypes.split(","):
            torch.manual_seed(0)
            cfg = GPT2Config(n_layer=L, n_embd=E, n_head=H, n_positions=1024, vocab_size=50257)
            cfg._attn_implementation = "eager"
            dtype = torch.float16 if dt == "fp16" else torch.float32
            with torch.device(dev):  # random init on the GPU: seconds, not minutes, for gpt2-xl
                model = GPT2LMHeadModel(cfg).to(dtype=dtype).eval()
            torch.cuda.reset_peak_memory_stats()
            prompt = torch.randint(0, 50257, (1, a.p), device=dev)
            run(model, prompt, 8)  # warm-up
            res = [run(model, prompt, a.n) for _ in range(a.r)]
            ttft = statistics.median(r[0] for r in res)
            tps = statistics.median(r[1] for r in res)
            peak = torch.cuda.max_memory_allocated() / 2**20
            print(f"{name}\t{dt}\t{ttft:.5f}\t{tps:.1f}\t{peak:.0f}", flush=True)
            del model
            torch.cuda.empty_cache()


if __name__ == "__main__":
    sys.exit(main())
