"""llama.cpp peers (system=llama.cpp): our own GGUF files run by llama.cpp through llama-cpp-python.

The variant is the GGUF file's variant name in our matrix (f32, f16, q8_0, q4_0, q4_k, ...): the
same file qbench's generate runs, so the comparison is of the engines alone. llama.cpp is built
from the llama-cpp-python source distribution on this machine (GGML_NATIVE: -march=native).
Token ids come from the Hugging Face tokenizer, as for every peer, so every system sees exactly
the same input; llama.cpp's own tokenizer is not used.
"""
import ctypes
import os

import numpy as np

from protocol import DataError, UsageError

_threads = [1]


def set_threads(n):
    _threads[0] = n


def prepare(variant, model_dir, out, calib_ids=None, source=None):
    raise UsageError("llama.cpp runs our GGUF files as they are: nothing to prepare")


class Peer:
    system = "llama.cpp"

    def __init__(self, variant, model_dir, artifact=None, threads=1, ppl_ctx=None):
        import json
        import llama_cpp
        if not artifact:
            raise UsageError(f"llama.cpp {variant} needs --artifact FILE.gguf")
        if not os.path.isfile(artifact):
            raise DataError(f"{artifact}: no such file")
        self.variant = self.dtype = variant
        with open(os.path.join(model_dir, "config.json")) as f:
            cfg = json.load(f)
        self.n_ctx = int(cfg.get("n_positions") or cfg["n_ctx"])
        # Perplexity needs every position's logits (logits_all) in a context of the window's size.
        logits_all = ppl_ctx is not None
        n = ppl_ctx or self.n_ctx
        try:
            self.llm = llama_cpp.Llama(model_path=artifact, n_ctx=n, n_batch=n, n_ubatch=n,
                                       n_threads=threads, n_threads_batch=threads,
                                       logits_all=logits_all, verbose=False)
        except (ValueError, RuntimeError) as e:
            raise DataError(f"{artifact}: llama.cpp cannot load it: {e}") from None
        self.n_vocab = self.llm.n_vocab()

    def _last_logits(self):
        ptr = self.llm._ctx.get_logits_ith(-1)
        return np.ctypeslib.as_array(ctypes.cast(ptr, ctypes.POINTER(ctypes.c_float)),
                                     shape=(self.n_vocab,))

    def prefill(self, ids):
        self.llm.reset()
        self.llm.eval(ids)
        return self._last_logits()

    def step(self, tok):
        self.llm.eval([tok])
        return self._last_logits()

    def window_logits(self, ids):
        self.llm.reset()
        self.llm.eval(ids)
        return self.llm.scores[:len(ids)]
