#!/usr/bin/env python3
"""Summarise a decode step's trace: where one step's time goes, by op name.
Two kinds of trace: the persistent step's (QB_CUDA_STEP_TRACE, written by
kernels/cuda/decode_step.cu) and the replayed graph's (QB_CUDA_TRACE,
kernels/cuda/trace.cu, whose rows also have the blocks' wait stamps).

Usage: trace_summary.py TRACE.tsv [...]

One table per traced step (model, type; for the persistent step GEMV mode and
R), each row an op name (qkv, attn, proj, fc, mproj, lm_head, ...) summed over
the layers, in microseconds per op:
  wall     from the previous op's last end to this op's last end: what the op
           adds to the step, its barrier or kernel boundary included
  release  from the previous op's last end to this op's first start (persistent
           step: the barrier's own latency) or, in the graph, to its first
           block's return from the wait for the previous kernel (the kernel
           boundary's latency; untraced kernels between, embed and argmax,
           count here)
  lead     graph only: how long before that return the first block began
           (weights loaded ahead of the wait)
  waves    graph only: first to last block's start (0 when all were resident
           at once)
  body     first start (graph: first return from the wait) to the median
           block's end
  product  graph traces with product stamps (prod_med_us) only: the part of
           the body up to the median block's product done (a GEMV's warp 0
           sums before their reduction, an attention's scores and values
           before the warps' merge); finish is the rest of the body (the
           reduction, epilogue and stores)
  tail     the median block's end to the last block's end (imbalance, stragglers)
  GB/s     the op's weight bytes over its wall time
"""
import csv
import sys
from collections import OrderedDict


def steps(path):
    """Yields the trace's step objects: lists of rows, one per op, in op order."""
    cur = []
    with open(path, newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            if cur and int(row["op"]) == 0:
                yield cur
                cur = []
            cur.append(row)
    if cur:
        yield cur


def summarise(ops):
    by = OrderedDict()
    prev_end = 0.0
    for r in ops:
        s_min, e_med, e_max = float(r["start_min_us"]), float(r["end_med_us"]), float(r["end_max_us"])
        go = float(r["wait_min_us"]) if "wait_min_us" in r else s_min  # where the op's own work begins
        d = by.setdefault(r["name"], {"n": 0, "wall": 0.0, "release": 0.0, "lead": 0.0, "waves": 0.0, "body": 0.0,
                                      "product": 0.0, "finish": 0.0, "tail": 0.0, "bytes": 0})
        d["n"] += 1
        d["wall"] += e_max - prev_end
        d["release"] += go - prev_end
        d["lead"] += go - s_min
        d["waves"] += float(r["start_max_us"]) - s_min
        d["body"] += e_med - go
        p_med = float(r.get("prod_med_us") or 0)
        if p_med > 0:  # (0: the launch stamped no product)
            d["product"] += p_med - go
            d["finish"] += e_med - p_med
        d["tail"] += e_max - e_med
        d["bytes"] += int(r["bytes"])
        prev_end = e_max
    return by, prev_end


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    for path in argv[1:]:
        for ops in steps(path):
            h = ops[0]
            typ = next((r["type"] for r in ops if r["type"] != "-"), "-")
            graph = "wait_min_us" in h
            by, total = summarise(ops)
            if graph:
                qkv = next((r for r in ops if r["name"] == "qkv"), h)
                print(f"# {path}: graph, n_layer {sum(r['name'] == 'attn' for r in ops)} n_embd {qkv['n_in']} {typ}: "
                      f"step {total:.1f} us, {len(ops)} traced launches")
            else:
                print(f"# {path}: n_layer {h['n_layer']} n_embd {h['n_embd']} {typ}, {h['blocks']} blocks, "
                      f"GEMV {h['gemv']} R {h['R']}: step {total:.1f} us, {len(ops)} ops")
            extra = ["lead", "waves"] if graph else []
            split = ["product", "finish"] if graph and "prod_med_us" in h else []
            print("\t".join(["name", "n", "wall_us", "per_op_us", "release_us"] + [e + "_us" for e in extra] +
                            ["body_us"] + [e + "_us" for e in split] + ["tail_us", "GB/s", "share"]))
            for name, d in by.items():
                gbps = d["bytes"] / (d["wall"] * 1e3) if d["bytes"] and d["wall"] > 0 else 0
                per = [d[k] / d["n"] for k in ["release"] + extra + ["body"] + split + ["tail"]]
                print(f"{name}\t{d['n']}\t{d['wall']:.1f}\t{d['wall'] / d['n']:.2f}\t" +
                      "\t".join(f"{v:.2f}" for v in per) + f"\t{gbps:.0f}\t{d['wall'] / total:.3f}")


if __name__ == "__main__":
    main(sys.argv)
