#!/usr/bin/env bash
# Builds the CUDA test/bench binaries (and the tools) for the GPU machine and
# stages them, with the shared libraries they need that its image may lack,
# in DEST (default /work/main/.dev/cuda), for the device tool's `carry`.
# Built without -march=native (the device's CPU differs), in a scratch copy
# of this worktree so its own build/ is left alone.
# For `run-device.sh ab` (every bin/cuda_decode_* beside bin/cuda_decode):
#   AB_KNOBS="NAME:VAR=v,VAR=v ..."  a wrapper bin/cuda_decode_NAME per item that
#                                    runs this build with those QB_CUDA_* settings
#   AB_OLD=REV                       bench/cuda_decode built at commit REV, staged
#                                    as bin/cuda_decode_old (the baseline)
# PACK=FILE (and PACK_EXCLUDE): the staged folder packed for carry, see the end.
# TRACE_PRODUCT=1: bench/cuda_decode also built with -DQB_TRACE_PRODUCT=1 (its
# graph trace stamps each block's product: device.cuh), staged as
# bin/cuda_decode_prod, for `GTRACE_BIN=cuda_decode_prod run-device.sh gtrace`.
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
dest=${DEST:-/work/main/.dev/cuda}
scratch=${WORK:-/tmp/qb-cuda-stage} # src/, and old/ and prod/ for the extra builds below
# Host code portable to the device's CPU (no -march=native), for every build here.
host_cflags='-O2 -mavx2 -mfma -mf16c'
# The tracked and new files of the worktree (no build outputs).
work=$scratch/src
rm -rf "$work"; mkdir -p "$work"
(cd "$src" && git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t "$work")
# STAGE_TARGETS replaces the list: what travels is at most 64 MiB, and everything
# below plus the model is about 71 MB (the persistent step's call needs only
# "build/tests/test_cuda build/bench/cuda_decode build/bench/cuda_vs_cpu", 55 MB).
read -ra targets <<<"${STAGE_TARGETS:-build/tests/test_cuda build/bench/cuda_ceilings build/bench/cuda_chain build/bench/cuda_mlp build/bench/cuda_decode build/bench/cuda_vs_cpu bin/generate bin/ppl bin/quantize}"
targets+=(${EXTRA_TARGETS:-})
CFLAGS=$host_cflags make -C "$work" -j2 "${targets[@]}" >"$work/make.log" 2>&1 || { tail -30 "$work/make.log"; exit 1; }
rm -rf "$dest"; mkdir -p "$dest/bin" "$dest/lib"
for t in "${targets[@]}"; do cp "$work/$t" "$dest/bin/"; strip "$dest/bin/${t##*/}"; done
# Shared libraries outside glibc/libstdc++ (the device image has those).
for b in "$dest"/bin/*; do
  ldd "$b" | awk '/=> \//{print $3}' | grep -Ev '/(libc|libm|libdl|libpthread|librt|libstdc\+\+|libgcc_s|ld-linux)[.-]' || true
done | sort -u | while read -r l; do cp -L "$l" "$dest/lib/"; done
cp "$src"/tests/cuda/run-device.sh "$src"/tests/cuda/calls.sh "$src"/tests/cuda/*.py "$src"/pipeline/peers/gpu_bench.py "$src"/pipeline/peers/protocol.py "$dest/"
(cd "$src" && git rev-parse --short HEAD) >"$dest/COMMIT"
for item in ${AB_KNOBS:-}; do
  printf '#!/bin/sh\n%s exec "$(dirname "$0")/cuda_decode" "$@"\n' "$(echo "${item#*:}" | tr , ' ')" >"$dest/bin/cuda_decode_${item%%:*}"
  chmod +x "$dest/bin/cuda_decode_${item%%:*}"
done
if [ -n "${AB_OLD:-}" ]; then
  old=$scratch/old
  rm -rf "$old"; mkdir -p "$old"
  (cd "$src" && git archive "$AB_OLD") | tar -x -C "$old"
  CFLAGS=$host_cflags make -C "$old" -j2 build/bench/cuda_decode >"$old/make.log" 2>&1 || { tail -30 "$old/make.log"; exit 1; }
  cp "$old/build/bench/cuda_decode" "$dest/bin/cuda_decode_old"; strip "$dest/bin/cuda_decode_old"
  (cd "$src" && git rev-parse --short "$AB_OLD") >"$dest/COMMIT_OLD"
fi
if [ -n "${TRACE_PRODUCT:-}" ]; then
  prod=$scratch/prod
  rm -rf "$prod"; cp -r "$work" "$prod"; rm -rf "$prod/build"
  CFLAGS=$host_cflags make -C "$prod" -j2 NVCC_EXTRA=-DQB_TRACE_PRODUCT=1 build/bench/cuda_decode \
    >"$prod/make.log" 2>&1 || { tail -30 "$prod/make.log"; exit 1; }
  cp "$prod/build/bench/cuda_decode" "$dest/bin/cuda_decode_prod"; strip "$dest/bin/cuda_decode_prod"
fi
# The real model and the text of the correctness run.
mkdir -p "$dest/models" "$dest/data"
cp -r "${QB_MIRROR:-/work/shared/mirror}/models/qb-gpt2-10m" "$dest/models/"
# Its q4_0 GGUF for run-device.sh check, by this worktree's quantize where it is built.
[ -x "$src/bin/quantize" ] && "$src/bin/quantize" "$dest/models/qb-gpt2-10m" "$dest/models/qb-gpt2-10m-q4_0.gguf" \
  --type q4_0 --embed q4_0 -q --report /dev/null >/dev/null
[ -n "${STAGE_TARGETS:-}" ] || cp "${QB_MIRROR:-/work/shared/mirror}/datasets/wikitext-2-raw-v1/wiki.test.raw" "$dest/data/"
[ -n "${EXTRA_FILES:-}" ] && cp -r $EXTRA_FILES "$dest/"
du -sh "$dest"; ls "$dest/bin" "$dest/lib"
# PACK=FILE: DEST also packed into one xz tarball for the device tool's carry (its top folder is
# DEST's name; a 192 MiB dictionary, since the builds share most of their bytes: ~10 MB for the
# three-binary set); PACK_EXCLUDE: tar patterns left out of it (e.g. model.safetensors where the
# call reads only the GGUF).
if [ -n "${PACK:-}" ]; then
  excludes=()
  for x in ${PACK_EXCLUDE:-}; do excludes+=(--exclude="$x"); done
  tar -C "$(dirname "$dest")" "${excludes[@]}" -cf - "$(basename "$dest")" |
    xz --lzma2=preset=6,dict=192MiB -T2 >"$PACK.tmp"
  mv "$PACK.tmp" "$PACK"
  ls -la "$PACK"
fi
