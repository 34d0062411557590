#!/usr/bin/env python3
"""sass_spills.py CUOBJDUMP OBJECT: TAP lines, one per GEMV function of the
persistent decode step (qb_step_gemv_warp / qb_step_gemv_rows), saying whether
its loop keeps the weights it loads in registers.

A spill inside the loop shows in the SASS as local stores and loads between
the function's first and last global load: the weight words were written to
the stack as they arrived (each load then waited for at once) and read back
later. The ABI's own saves of borrowed registers sit before the first load
and their restores after the last, so they do not count; nor does a spill
in the code after the last load (a group's sums, stores and signals). (Two causes found so far: ptxas placing a whole-program
callee's registers beside its caller's, fixed by compiling decode_step.cu
apart; and a register array indexed by a lane-dependent byte offset, which
puts the array in local memory.)"""
import re
import subprocess
import sys



def functions(sass):
    for part in re.split(r"\n\s*Function : ", sass)[1:]:
        name = part.split("\n", 1)[0].strip()
        ops = [m.group(1).strip() for m in re.finditer(r"/\*[0-9a-f]{4,}\*/\s+([^;]*);", part)]
        yield name, ops


def main():
    cuobjdump, obj = sys.argv[1], sys.argv[2]
    sass = subprocess.run([cuobjdump, "-sass", obj], check=True, capture_output=True, text=True).stdout
    found = 0
    for name, ops in functions(sass):
        if "qb_step_gemv_warp" not in name and "qb_step_gemv_rows" not in name:
            continue
        plain = subprocess.run(["c++filt", name], capture_output=True, text=True).stdout.strip() or name
        types = {"2": "Q4_0", "3": "Q4_1", "20": "IQ4_NL"}  # qb_type's values in the mangled TQ4<>
        plain = re.sub(r"\(qb_type\)(\d+)", lambda m: types.get(m.group(1), m.group(1)), plain)
        plain = re.sub(r"\(.*", "", plain).replace("void ", "")
        loads = [i for i, op in enumerate(ops) if re.search(r"\bLDG\b", op)]
        if not loads:
            continue
        first, last = loads[0], loads[-1]
        stl = sum(1 for op in ops[first:last] if re.search(r"\bSTL\b", op))
        ldl = sum(1 for op in ops[first:last] if re.search(r"\bLDL\b", op))
        found += 1
        status = "ok" if stl == 0 and ldl == 0 else "not ok"
        print(f"{status} - {plain}: no local stores or loads between its first and last weight load "
              f"({stl} and {ldl})")
    if found == 0:
        print("not ok - no qb_step_gemv function found in " + obj)


if __name__ == "__main__":
    main()
