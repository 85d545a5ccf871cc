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
the same data, settings and seeds, at two frequency floors and with both change
measures (cosine distance; Hamilton et al.'s local neighbourhood distance).

    .venv/bin/python bench/bench_synthetic_change.py [--seeds 1 2 3] [--pairs 20] [--rate 0.5]
"""
from __future__ import annotations

import argparse
import random
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np

from common import corpus_sentences, save_result, trained_methods, write_lines


def inject(sentences, pairs: dict[str, str], rate: float, rng: random.Random):
    """Replace donor tokens by their target with probability ``rate``."""
    out = []
    for s in sentences:
        out.append([pairs[w] if w in pairs and rng.random() < rate else w for w in s])
    return out


MEASURES = ("cosine_distance", "local_neighbourhood_distance")


def rankings(a, b, floor: int) -> dict[str, list[str]]:
    """Every word with at least ``floor`` occurrences in both slices, most changed first, per measure."""
    from pipeline.change import change_table

    table = change_table({"a": a, "b": b}, pairs=[("a", "b")], min_freq=floor, k=25)
    return {m: table.sort(m, descending=True)["word"].to_list() for m in MEASURES}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default="web")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--pairs", type=int, default=20)
    ap.add_argument("--rate", type=float, default=0.5)
    ap.add_argument("--floors", type=int, nargs="+", default=[20, 50])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=5)
    args = ap.parse_args()
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
    relevant = set(targets)
    print(f"{len(a_sents)} + {len(b_sents)} sentences; "
          f"{args.pairs} injected targets (rate {args.rate}): {sorted(zip(targets, donors))[:8]} ...", flush=True)

    work = Path(tempfile.mkdtemp(prefix="bench-synth-"))
    files = {"a": write_lines(a_sents, work / "a.txt"), "b": write_lines(b_sents, work / "b.txt")}
    rows = {"cade": [], "procrustes": []}
    for seed, method, vecs, secs in trained_methods(files, args.seeds, args.threads, args.epochs, work):
        for floor in args.floors:
            for measure, ranked in rankings(vecs["a"], vecs["b"], floor).items():
                ap_ = average_precision(ranked, relevant)
                hits = len(relevant & set(ranked[:args.pairs]))
                rows[method].append({"seed": seed, "floor": floor, "measure": measure, "ap": ap_,
                                     "n_ranked": len(ranked), "hits_in_top_n": hits, "seconds": round(secs, 1)})
                print(f"seed {seed} {method:10s} floor {floor:3d} {measure:29s} AP={ap_:.3f} "
                      f"({len(ranked)} ranked, {hits} targets in top {args.pairs})", flush=True)
    summary = {}
    print(f"\n| floor | measure | CADE AP | Procrustes AP |  (mean ± std over {len(args.seeds)} seeds)\n|---|---|---|---|")
    for floor in args.floors:
        for measure in MEASURES:
            cells = []
            for m, rs in rows.items():
                vals = [r["ap"] for r in rs if r["floor"] == floor and r["measure"] == measure]
                summary[f"{m}_ap_mean-floor{floor}-{measure}"] = float(np.mean(vals))
                summary[f"{m}_ap_std-floor{floor}-{measure}"] = float(np.std(vals))
                cells.append(f"{np.mean(vals):.3f} ± {np.std(vals):.3f}")
            print(f"| {floor} | {measure} | {cells[0]} | {cells[1]} |")
    path = save_result("synthetic_change", {"args": vars(args), "pairs": pairs, "summary": summary, "runs": rows})
    print("wrote", path)


if __name__ == "__main__":
    main()
