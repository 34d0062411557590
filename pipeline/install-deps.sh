#!/usr/bin/env bash
# Installs the Debian packages qbench needs to build, test and run the study,
# only those missing. Run by make (target deps) on first use; needs root or
# sudo when something is missing.
set -euo pipefail
pkgs=(
  build-essential pkg-config perl          # cc, g++ (tests/sim), make, prove (TAP harness)
  libcurl4-openssl-dev libssl-dev          # fetch: transfers; sha256 (libcrypto)
  libarchive-dev                           # fetch: zip/tar extraction
  libpcre2-dev                             # tokenizer: GPT-2 pre-tokenizer regex
  libjansson-dev                           # JSON: config.json, vocab.json, safetensors headers
  python3 python3-venv                     # test oracles' virtual environment
  gnuplot-nox                              # figures
  latexmk texlive-latex-base texlive-latex-recommended texlive-latex-extra texlive-fonts-recommended
  lmodern                                  # the paper's fonts (lmodern.sty; only Recommended by the texlive packages)
  poppler-utils                            # pdftoppm: look at the paper's pages
  time                                     # /usr/bin/time -v: the reference for sample-res's peak RSS (make bench)
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# python3 from another distribution (pyenv) is as good as Debian's.
if command -v python3 >/dev/null && python3 -c 'import venv, ensurepip' 2>/dev/null; then
  kept=(); for p in "${missing[@]}"; do case $p in python3|python3-venv) ;; *) kept+=("$p");; esac; done
  missing=("${kept[@]}")
fi
[ ${#missing[@]} -eq 0 ] && { echo "deps: all Debian packages present"; exit 0; }
echo "deps: installing ${missing[*]}"
sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
