"""PyTorch peers (system=pytorch): the Hugging Face GPT2LMHeadModel run by PyTorch eager on CPU.

Variants, the seed studies' ones:
  f32          the checkpoint as it is (float32), eager.
  bf16         weights and activations in bfloat16 (model.to(torch.bfloat16)); logits are cast to
               float32 for the argmax and the log-softmax.
  int8-dyn     torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, qint8): int8 weights
               (per-tensor), activations quantized per call at run time, fbgemm/x86 kernels.
  int8-static  eager-mode post-training static quantization: every Linear wrapped in
               QuantStub -> Linear -> DeQuantStub, the x86 backend's default qconfig (per-channel
               int8 weights, histogram-calibrated uint8 activations), calibrated on a text,
               prepare + convert. Everything between the linear layers (layer norms, attention,
               GELU, residual adds, the embeddings) stays float32: that is what the eager API
               can quantize in a GPT-2 without rewriting the model.

GPT-2 in transformers uses Conv1D (y = x W + b, W stored [in, out]) for its projections, not
nn.Linear, so quantize_dynamic({nn.Linear}) alone would quantize only lm_head. Both int8 variants
therefore first replace every Conv1D by an nn.Linear with the transposed weight (the same
function), as the seed studies had to ("targeting Conv1D layers"). lm_head (tied to wte) is an
nn.Linear and is quantized too, as an int8 copy; the embedding lookups keep wte in float32.

The int8 variants are prepared once (`peer.py prepare`) and saved as a whole pickled module, so a
timed run loads the int8 model directly and its memory is that of the int8 model, not of the
float32 model it came from.
"""
import os
import time

import torch

from protocol import DataError, UsageError

VARIANTS = ("f32", "bf16", "int8-dyn", "int8-static")
DTYPES = {"f32": "f32", "bf16": "bf16", "int8-dyn": "int8", "int8-static": "int8"}


def set_threads(n):
    torch.set_num_threads(n)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass  # already set in this process


def load_hf(model_dir, dtype=torch.float32):
    from transformers import GPT2LMHeadModel
    from transformers.utils import logging
    logging.disable_progress_bar()
    if not os.path.isfile(os.path.join(model_dir, "config.json")):
        raise DataError(f"{os.path.join(model_dir, 'config.json')}: missing (not a Hugging Face model folder)")
    m = GPT2LMHeadModel.from_pretrained(model_dir, dtype=dtype)
    return m.eval()


def conv1d_to_linear(model):
    """Replace every transformers Conv1D by the nn.Linear computing the same function."""
    from transformers.pytorch_utils import Conv1D
    n = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, Conv1D):
                nx, nf = child.weight.shape  # [in, out]
                lin = torch.nn.Linear(nx, nf, bias=True)
                with torch.no_grad():
                    lin.weight.copy_(child.weight.t())
                    lin.bias.copy_(child.bias)
                setattr(parent, name, lin)
                n += 1
    return n


class QuantWrap(torch.nn.Module):
    """QuantStub -> Linear -> DeQuantStub: the unit eager static quantization converts."""

    def __init__(self, lin):
        super().__init__()
        self.quant = torch.ao.quantization.QuantStub()
        self.lin = lin
        self.dequant = torch.ao.quantization.DeQuantStub()

    def forward(self, x):
        return self.dequant(self.lin(self.quant(x)))


def quantize_int8_dynamic(model):
    conv1d_to_linear(model)
    torch.backends.quantized.engine = "x86"
    return torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)


def quantize_int8_static(model, calib_ids, ctx):
    conv1d_to_linear(model)
    torch.backends.quantized.engine = "x86"
    qconfig = torch.ao.quantization.get_default_qconfig("x86")
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, torch.nn.Linear):
                w = QuantWrap(child)
                w.qconfig = qconfig
                setattr(parent, name, w)
    torch.ao.quantization.prepare(model, inplace=True)
    with torch.inference_mode():
        for b in range(0, max(1, len(calib_ids) - 1), ctx):
            w = calib_ids[b:b + ctx]
            if len(w) >= 2:
                model(torch.tensor([w]), use_cache=False)
    torch.ao.quantization.convert(model, inplace=True)
    return model


def prepare(variant, model_dir, out, calib_ids=None, source=None):
    """Write the int8 model of VARIANT as a pickled module to OUT (through OUT.tmp)."""
    if variant not in ("int8-dyn", "int8-static"):
        raise UsageError(f"pytorch variant {variant} needs no prepare step")
    m = load_hf(model_dir)
    if variant == "int8-dyn":
        m = quantize_int8_dynamic(m)
    else:
        if not calib_ids:
            raise UsageError("int8-static needs --calib TEXT")
        m = quantize_int8_static(m, calib_ids, m.config.n_positions)
    tmp = out + ".tmp"
    torch.save(m, tmp)
    os.replace(tmp, out)


class Peer:
    system = "pytorch"

    def __init__(self, variant, model_dir, artifact=None, threads=1, ppl_ctx=None):
        if variant not in VARIANTS:
            raise UsageError(f"pytorch: unknown variant {variant} (one of {', '.join(VARIANTS)})")
        self.variant = variant
        self.dtype = DTYPES[variant]
        self.isa = torch.backends.cpu.get_cpu_capability().lower()  # e.g. avx2 (ATen's kernels)
        if variant == "f32":
            self.model = load_hf(model_dir)
        elif variant == "bf16":
            self.model = load_hf(model_dir, torch.bfloat16)
        else:
            if not artifact:
                raise UsageError(f"pytorch {variant} needs --artifact FILE (made by peer.py prepare)")
            torch.backends.quantized.engine = "x86"
            try:
                self.model = torch.load(artifact, weights_only=False).eval()
            except (OSError, RuntimeError) as e:
                raise DataError(f"{artifact}: cannot load: {e}") from None
        from transformers import DynamicCache
        self.new_cache = lambda: DynamicCache(config=self.model.config)
        self.n_ctx = self.model.config.n_positions
        self.cache = None

    @torch.inference_mode()
    def prefill(self, ids):
        self.cache = self.new_cache()
        out = self.model(torch.tensor([ids]), past_key_values=self.cache, use_cache=True,
                         logits_to_keep=1)
        self.cache = out.past_key_values
        return out.logits[0, -1].float()

    @torch.inference_mode()
    def step(self, tok):
        out = self.model(torch.tensor([[tok]]), past_key_values=self.cache, use_cache=True)
        self.cache = out.past_key_values
        return out.logits[0, -1].float()

    @torch.inference_mode()
    def window_logits(self, ids):
        return self.model(torch.tensor([ids]), use_cache=False).logits[0].float()
