#!/usr/bin/env bash
# cuda-spills.t: the persistent decode step's GEMV functions keep the weights
# they load in registers (tests/cuda/sass_spills.py reads the linked SASS with
# cuobjdump, from the test venv). A spill there makes every weight load wait
# for its data at once, so the step streams at a fraction of the bandwidth;
# neither the emulator tests nor a GPU's correctness checks would notice.
# Skipped where nvcc did not build the CUDA library.
set -uo pipefail
root=${QB_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
py=${QB_PYTHON:-python3}
obj=$root/build/obj/kernels/cuda/dlink.o
if [ ! -f "$obj" ]; then echo "1..0 # SKIP no CUDA build (nvcc not found)"; exit 0; fi
cuobjdump=$(command -v cuobjdump || "$py" -c 'import nvidia, os, glob; print((glob.glob(os.path.join(list(nvidia.__path__)[0], "*/bin/cuobjdump")) or [""])[0])' 2>/dev/null)
if [ -z "$cuobjdump" ]; then echo "1..0 # SKIP no cuobjdump (PATH or the venv's nvidia-cuda-cuobjdump)"; exit 0; fi
out=$("$py" "$root/tests/cuda/sass_spills.py" "$cuobjdump" "$obj") || { echo "not ok 1 - sass_spills.py ran"; echo 1..1; exit 1; }
printf '%s\n' "$out" | awk '{ sub(/^ok -/, "ok " NR " -"); sub(/^not ok -/, "not ok " NR " -"); print } END { print "1.." NR }'
