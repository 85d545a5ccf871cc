"""Synthetic semantic change: inject known changes into one slice of a real
corpus and measure how well each method ranks the injected words first.

The World English Bible's sentences are shuffled (seeded) and split into two
halves, so the two slices share one meaning of every word. In the second half,
for each of N (target, donor) pairs, a fraction of the donor's occurrences is
replaced by the target (the pseudo-word method: the target starts appearing in
another word's contexts). Every word at or above a frequency floor in both
slices is ranked by the cosine distance of its two slice vectors; the average
precision (AP) of the injected targets is reported for CADE and for the
classic baseline (independent CBOW per slice + orthogonal Procrustes), with
the same data, settings and seeds.

    .venv/bin/python bench/bench_synthetic_change.py [--seeds 1 2 3] [--pairs 20] [--rate 0.5]
"""
from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

from common import corpus_sentences, save_result, train_baseline, train_cade, unit, write_lines


def inject(sentences, pairs: dict[str, str], rate: float, rng: random.Random):
    """Replace donor tokens by their target with probability ``rate``."""
    out = []
    for s in sentences:
        out.append([pairs[w] if w in pairs and rng.random() < rate else w for w in s])
    return out


def ranking(a, b, floor_words) -> list[str]:
    words = [w for w in floor_words if w in a.key_to_index and w in b.key_to_index]
    va = unit(np.stack([a[w] for w in words]))
    vb = unit(np.stack([b[w] for w in words]))
    dist = 1.0 - np.sum(va * vb, axis=1)
    return [words[i] for i in np.argsort(-dist)]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default="web")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--pairs", type=int, default=20)
    ap.add_argument("--rate", type=float, default=0.5)
    ap.add_argument("--floor", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=5)
    args = ap.parse_args()
    from pipeline.cade import CadeSettings
    from pipeline.change import average_precision

    rng = random.Random(0)
    sents = corpus_sentences(args.corpus)
    rng.shuffle(sents)
    half = len(sents) // 2
    a_sents, b_sents = sents[:half], sents[half:]
    ca, cb = Counter(w for s in a_sents for w in s), Counter(w for s in b_sents for w in s)
    band = lambda lo, hi: sorted(w for w in ca if lo <= ca[w] <= hi and lo <= cb[w] <= hi and w.isalpha() and len(w) > 2)
    targets = rng.sample(band(40, 200), args.pairs)
    donors = rng.sample([w for w in band(300, 3000) if w not in targets], args.pairs)
    pairs = dict(zip(donors, targets))  # donor -> target
    b_sents = inject(b_sents, pairs, args.rate, rng)
    cb = Counter(w for s in b_sents for w in s)
    floor_words = sorted(w for w in ca if ca[w] >= args.floor and cb.get(w, 0) >= args.floor)
    relevant = set(targets)
    print(f"{len(a_sents)} + {len(b_sents)} sentences; {len(floor_words)} words ranked; "
          f"{args.pairs} injected targets (rate {args.rate}): {sorted(zip(targets, donors))[:8]} ...", flush=True)

    work = Path(tempfile.mkdtemp(prefix="bench-synth-"))
    files = {"a": write_lines(a_sents, work / "a.txt"), "b": write_lines(b_sents, work / "b.txt")}
    rows = {"cade": [], "procrustes": []}
    for seed in args.seeds:
        settings = CadeSettings(seed=seed, threads=args.threads, compass_epochs=args.epochs, slice_epochs=args.epochs)
        t0 = time.time()
        cade = train_cade(files, settings, work)
        t_cade = time.time() - t0
        t0 = time.time()
        base = train_baseline(files, settings)
        t_base = time.time() - t0
        for method, vecs, secs in (("cade", cade, t_cade), ("procrustes", base, t_base)):
            ranked = ranking(vecs["a"], vecs["b"], floor_words)
            ap_ = average_precision(ranked, relevant)
            top = ranked[:args.pairs]
            rows[method].append({"seed": seed, "ap": ap_, "hits_in_top_n": len(relevant & set(top)),
                                 "seconds": round(secs, 1)})
            print(f"seed {seed} {method:10s} AP={ap_:.3f} targets in top {args.pairs}: "
                  f"{len(relevant & set(top))} ({secs:.0f}s)", flush=True)
    summary = {f"{m}_ap_mean": float(np.mean([r["ap"] for r in rs])) for m, rs in rows.items()}
    summary.update({f"{m}_ap_std": float(np.std([r["ap"] for r in rs])) for m, rs in rows.items()})
    print(f"\n| method | AP (mean ± std over {len(args.seeds)} seeds) |\n|---|---|")
    for m in rows:
        print(f"| {m} | {summary[m + '_ap_mean']:.3f} ± {summary[m + '_ap_std']:.3f} |")
    path = save_result("synthetic_change", {"args": vars(args), "pairs": pairs, "n_ranked": len(floor_words),
                                            "summary": summary, "runs": rows})
    print("wrote", path)


if __name__ == "__main__":
    main()
