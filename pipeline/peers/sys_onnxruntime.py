"""ONNX Runtime peers (system=onnxruntime): GPT2LMHeadModel exported to ONNX, run by ONNX Runtime.

Variants:
  f32       the exported float32 graph.
  int8-all  onnxruntime.quantization.quantize_dynamic on that graph with its defaults and
            weight_type=QInt8: every MatMul weight and the embedding tables (Gather) become int8
            (per-tensor scales), activations are quantized per call (DynamicQuantizeLinear +
            MatMulInteger): "all weights INT8", as in the seed study. Layer norms, softmax and GELU
            stay float32.

The export (prepare) wraps the model so the graph's inputs are input_ids [1, T] and the key and
value cache of every layer as plain tensors (past_key_i, past_value_i: [1, heads, P, head_dim]),
its outputs the logits [1, T, vocab] and the grown cache (present_*: P + T positions), with T and
P dynamic: the prompt pass runs with P = 0, each decode step with T = 1, the same graph, as
Hugging Face Optimum's "text-generation-with-past" export does. The exporter is torch.onnx.export
(torch.export based, dynamo=True).
"""
import os

import numpy as np

from protocol import DataError, UsageError

VARIANTS = ("f32", "int8-all")
DTYPES = {"f32": "f32", "int8-all": "int8"}
_threads = [1]


def set_threads(n):
    _threads[0] = n
    import torch
    torch.set_num_threads(n)



def _flat_module(model):
    import torch
    from transformers import DynamicCache
    n_layer = model.config.n_layer

    class Flat(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, *past):
            cache = DynamicCache(config=self.m.config)
            for i in range(n_layer):
                cache.update(past[2 * i], past[2 * i + 1], i)
            out = self.m(input_ids=input_ids, past_key_values=cache, use_cache=True)
            flat = []
            for i in range(n_layer):
                flat += [out.past_key_values.layers[i].keys, out.past_key_values.layers[i].values]
            return (out.logits, *flat)

    return Flat(model)


def export_f32(model_dir, out):
    import torch
    from sys_pytorch import load_hf
    m = load_hf(model_dir)
    cfg = m.config
    H, D, L = cfg.n_head, cfg.n_embd // cfg.n_head, cfg.n_layer
    flat = _flat_module(m).eval()
    T, P = 3, 4
    ids = torch.zeros((1, T), dtype=torch.long)
    past = [torch.zeros((1, H, P, D)) for _ in range(2 * L)]
    names_past = [f"past_{kv}_{i}" for i in range(L) for kv in ("key", "value")]
    names_pres = [f"present_{kv}_{i}" for i in range(L) for kv in ("key", "value")]
    t_dim = torch.export.Dim("T", min=1, max=cfg.n_positions)
    p_dim = torch.export.Dim("P", min=0, max=cfg.n_positions)
    dyn = ({1: t_dim}, tuple({2: p_dim} for _ in range(2 * L)))
    tmp = out + ".tmp.onnx"
    with torch.no_grad():
        torch.onnx.export(flat, (ids, *past), tmp, dynamo=True, dynamic_shapes=dyn,
                          input_names=["input_ids", *names_past],
                          output_names=["logits", *names_pres], external_data=False, verbose=False,
                          optimize=True)
    os.replace(tmp, out)


def prepare(variant, model_dir, out, calib_ids=None, source=None):
    if variant == "f32":
        export_f32(model_dir, out)
    elif variant == "int8-all":
        if not source:
            raise UsageError("onnxruntime int8-all needs --from F32.onnx (made by prepare --variant f32)")
        from onnxruntime.quantization import QuantType, quantize_dynamic
        tmp = out + ".tmp.onnx"
        quantize_dynamic(source, tmp, weight_type=QuantType.QInt8)
        os.replace(tmp, out)
    else:
        raise UsageError(f"onnxruntime: unknown variant {variant} (one of {', '.join(VARIANTS)})")


class Peer:
    system = "onnxruntime"

    def __init__(self, variant, model_dir, artifact=None, threads=1, ppl_ctx=None):
        import json
        import onnxruntime as ort
        if variant not in VARIANTS:
            raise UsageError(f"onnxruntime: unknown variant {variant} (one of {', '.join(VARIANTS)})")
        if not artifact:
            raise UsageError(f"onnxruntime {variant} needs --artifact FILE.onnx (made by peer.py prepare)")
        self.variant, self.dtype = variant, DTYPES[variant]
        with open(os.path.join(model_dir, "config.json")) as f:
            cfg = json.load(f)
        self.n_ctx = int(cfg.get("n_positions") or cfg["n_ctx"])
        self.L, self.H = cfg["n_layer"], cfg["n_head"]
        self.D = cfg["n_embd"] // self.H
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self.sess = ort.InferenceSession(artifact, so, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own exception types
            raise DataError(f"{artifact}: cannot load: {e}") from None
        self.past_names = [i.name for i in self.sess.get_inputs()][1:]
        self.out_names = [o.name for o in self.sess.get_outputs()]
        self.past = None

    def _run(self, ids, past):
        feeds = {"input_ids": np.asarray([ids], dtype=np.int64)}
        feeds.update(zip(self.past_names, past))
        outs = self.sess.run(self.out_names, feeds)
        return outs[0], outs[1:]

    def _empty(self):
        z = np.zeros((1, self.H, 0, self.D), dtype=np.float32)
        return [z] * (2 * self.L)

    def prefill(self, ids):
        logits, self.past = self._run(ids, self._empty())
        return logits[0, -1]

    def step(self, tok):
        logits, self.past = self._run([tok], self.past)
        return logits[0, -1]

    def window_logits(self, ids):
        return self._run(ids, self._empty())[0][0]
