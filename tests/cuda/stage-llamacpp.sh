#!/usr/bin/env bash
# Stages the GPU llama.cpp peer run (tests/cuda/llamacpp-cuda.sh) in DEST
# (default /work/main/.dev/llamacpp) for the device tool's `carry`:
#   bin/ lib/          quantize and generate with their shared libraries, taken
#                      from a stage.sh folder (SRC, default .dev/cuda)
#   tok/               GPT-2's vocab.json and merges.txt (QB_MIRROR)
#   llama-src.tar.gz   llama.cpp as vendored in the llama-cpp-python sdist pinned
#                      in pipeline/peers/requirements.txt (downloaded from PyPI
#                      when SDIST is not given), without its model files, docs,
#                      tests, examples and the backends other than CPU and CUDA,
#                      so the whole folder stays far below the 64 MiB carry limit.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
src=${SRC:-$root/.dev/cuda}
dest=${DEST:-$root/.dev/llamacpp}
mirror=${QB_MIRROR:-/work/shared/mirror}
ver=$(sed -n 's/^llama-cpp-python==//p' "$root/pipeline/peers/requirements.txt")
for b in quantize generate; do
  [ -x "$src/bin/$b" ] || { echo "stage-llamacpp: $src/bin/$b missing (run tests/cuda/stage.sh first)" >&2; exit 1; }
done
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
sdist=${SDIST:-}
if [ -z "$sdist" ]; then
  python3 -m pip download --quiet --no-deps --no-binary :all: -d "$tmp" "llama-cpp-python==$ver"
  sdist=$(ls "$tmp"/llama_cpp_python-*.tar.gz)
fi
tar xzf "$sdist" -C "$tmp"
vend=$(ls -d "$tmp"/llama_cpp_python-*/vendor)
rm -rf "$dest"; mkdir -p "$dest/bin" "$dest/lib" "$dest/tok"
cp "$src"/bin/{quantize,generate} "$dest/bin/"
for b in "$dest"/bin/*; do # the libraries these two need, from the stage folder
  ldd "$b" | awk '/=> \//{print $3}' | while read -r l; do if [ -f "$src/lib/${l##*/}" ]; then cp "$src/lib/${l##*/}" "$dest/lib/"; fi; done
done
cp "$src/COMMIT" "$dest/"
echo "$ver" >"$dest/LLAMA_VERSION"
cp "$mirror"/tokenizers/gpt2/{vocab.json,merges.txt} "$dest/tok/" 2>/dev/null ||
  cp "$mirror"/models/qb-gpt2-10m/{vocab.json,merges.txt} "$dest/tok/"
skip=(models docs tests examples benches .github tools/server/public)
for b in cann et hexagon metal opencl openvino sycl virtgpu vulkan webgpu zdnn zendnn; do skip+=("ggml/src/ggml-$b"); done
tar czf "$dest/llama-src.tar.gz" -C "$vend" "${skip[@]/#/--exclude=llama.cpp/}" --exclude='*.gguf' llama.cpp
cp "$root"/tests/cuda/{llamacpp-cuda.sh,make_synth.py} "$dest/"
du -sh "$dest"
