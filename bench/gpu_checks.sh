#!/usr/bin/env bash
# Every GPU check of the open issues in one device call (about 9 minutes at most; nothing else to prepare there):
#   1. bench/gpu_transfer.py (issue 16, and the transfer stage's earlier GPU claims): WECHSEL on the 50k x 50k
#      set on the GPU, RoBERTa-base MLM and a Qwen2.5-0.5B-sized decoder CLM in bf16: tokens/s, peak memory;
#   2. bench/gpu_static.py (issue 15): teacher pass, aggregate, isolation and X2Static of MiniLM and of
#      BERT-base-, XLM-R-base- and Qwen2.5-0.5B-sized teachers, fp32 against bf16.
# Each script saves its JSON after every part, so a part cut off by its time limit keeps the earlier ones.
#
#   here:        bash scripts/device_kit.sh                    (once: .device/, git-ignored)
#   the device:  run(command="bash bench/gpu_checks.sh", carry=[".device"], timeout_s=590)
#   dry run:     bash bench/gpu_checks.sh --cpu                (here, tiny sizes, the same steps)
set -uo pipefail
cd "$(dirname "$0")/.."
CPU=0; [ "${1:-}" = "--cpu" ] && CPU=1
OUT=${OUT:-bench/results}
mkdir -p "$OUT"
export CHRONOLINGUA_BENCH_RESULTS=$OUT PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
if [ ! -d .device/whl ]; then echo "no .device/: run scripts/device_kit.sh here and carry .device" >&2; exit 2; fi
if ! "$PY" -c "import luigi" 2>/dev/null; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
        .device/whl/*.whl || exit 2
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
"$PY" - <<'EOF' 2>&1 | tee "$OUT/environment.txt"
import platform, torch, transformers, tokenizers, luigi
print("python", platform.python_version(), "torch", torch.__version__, "transformers", transformers.__version__,
      "tokenizers", tokenizers.__version__, "luigi", luigi.__version__,
      "cuda", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none")
EOF

step() {  # name, seconds, command...
    local name=$1 limit=$2; shift 2
    local t0=$SECONDS
    timeout "$limit" "$@" > "$OUT/$name.log" 2>&1
    local rc=$?
    echo "$name: rc $rc in $((SECONDS - t0)) s (limit $limit s)"
    tail -n 40 "$OUT/$name.log"
}

if [ "$CPU" = 1 ]; then
    step gpu_transfer 600 "$PY" bench/gpu_transfer.py --device cpu --n 2000 --steps 2 --warmup 1 --batch 2 --seq 64 \
        --decoder-tiny --decoder-batch 2 --decoder-seq 64
    step gpu_static 600 "$PY" bench/gpu_static.py --tiny --sentences-file .device/sentences.txt.gz \
        --minilm .device/minilm
else
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
    step gpu_transfer 200 "$PY" bench/gpu_transfer.py
    step gpu_static 330 "$PY" bench/gpu_static.py --sentences-file .device/sentences.txt.gz --minilm .device/minilm
fi
ls -la "$OUT"
