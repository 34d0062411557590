#!/usr/bin/env python3
"""Summarise the persistent decode step's trace (QB_CUDA_STEP_TRACE, written by
kernels/cuda/decode_step.cu): where one step's time goes, by op name.

Usage: trace_summary.py TRACE.tsv [...]

One table per traced step object (model, type, GEMV mode, R), each row an op
name (qkv, attn, proj, fc, mproj, lm_head, ...) summed over the layers:
  wall     from the previous op's last end to this op's last end: what the op
           adds to the step, its barrier included
  release  from the previous op's last end to this op's first start: the
           barrier's own latency (negative where no barrier separates them)
  body     first start to the median block's end
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
        d = by.setdefault(r["name"], {"n": 0, "wall": 0.0, "release": 0.0, "body": 0.0, "tail": 0.0, "bytes": 0})
        d["n"] += 1
        d["wall"] += e_max - prev_end
        d["release"] += s_min - prev_end
        d["body"] += e_med - s_min
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
            by, total = summarise(ops)
            print(f"# {path}: n_layer {h['n_layer']} n_embd {h['n_embd']} {typ}, {h['blocks']} blocks, "
                  f"GEMV {h['gemv']} R {h['R']}: step {total:.1f} us, {len(ops)} ops")
            print("name\tn\twall_us\tper_op_us\trelease_us\tbody_us\ttail_us\tGB/s\tshare")
            for name, d in by.items():
                gbps = d["bytes"] / (d["wall"] * 1e3) if d["bytes"] and d["wall"] > 0 else 0
                print(f"{name}\t{d['n']}\t{d['wall']:.1f}\t{d['wall'] / d['n']:.2f}\t{d['release'] / d['n']:.2f}\t"
                      f"{d['body'] / d['n']:.2f}\t{d['tail'] / d['n']:.2f}\t{gbps:.0f}\t{d['wall'] / total:.3f}")


if __name__ == "__main__":
    main(sys.argv)
